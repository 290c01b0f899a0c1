"""Recognizer on real digits: one digit anywhere in a larger image, rows of digits, the model's own outputs, dev sets."""

from __future__ import annotations

import cv2
import keras
import numpy as np
import pytest
from resources import require

from benchmarks.devsets import devsets_dir, load_semeion, load_usps
from benchmarks.measure import naive_inputs
from core import preprocess
from core.augment import FitToBox
from core.inference import Recognizer

SAMPLE = np.arange(200)  # the first 200 MNIST test digits
# The documented class counts of the two dev sets (../shared/devsets/*/README.md).
USPS_TEST_COUNTS = [359, 264, 198, 166, 200, 160, 170, 147, 166, 177]
SEMEION_COUNTS = [161, 162, 159, 159, 161, 159, 161, 158, 155, 158]


def off_centre(digit: np.ndarray, index: int) -> np.ndarray:
    """A 200x300 black image with the digit enlarged to 84 px somewhere away from the centre (white on black)."""
    image = np.zeros((200, 300), np.uint8)
    top, left = 10 + (index % 5) * 20, 15 + (index % 7) * 30
    image[top : top + 84, left : left + 84] = cv2.resize(digit, (84, 84), interpolation=cv2.INTER_CUBIC)
    return image


def as_variant(white_on_black: np.ndarray, variant: str) -> np.ndarray:
    if variant == "grey dark ink on white":
        return 255 - white_on_black
    if variant == "grey white ink on black":
        return white_on_black
    if variant == "BGR dark ink on white":
        return cv2.cvtColor(255 - white_on_black, cv2.COLOR_GRAY2BGR)
    if variant == "RGBA strokes on a transparent layer":
        image = np.zeros((*white_on_black.shape, 4), np.uint8)
        image[..., 3] = white_on_black
        return image
    raise ValueError(variant)


VARIANTS = ["grey dark ink on white", "grey white ink on black", "BGR dark ink on white", "RGBA strokes on a transparent layer"]


def number_row(mnist, indices, size: int = 80, margin: int = 30, gap: int = 24) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Real MNIST digits in a row, dark ink on white, and where each was placed as (x, y, w, h)."""
    width = 2 * margin + len(indices) * size + (len(indices) - 1) * gap
    image = np.zeros((size + 2 * margin, width), np.uint8)
    places = []
    for slot, index in enumerate(indices):
        left = margin + slot * (size + gap)
        image[margin : margin + size, left : left + size] = cv2.resize(mnist.x_test[index], (size, size), interpolation=cv2.INTER_CUBIC)
        places.append((left, margin, size, size))
    return 255 - image, places


@pytest.fixture(scope="module")
def rows(mnist):
    """Thirty rows of 3-5 real test digits at a few sizes: (image, expected number, placements)."""
    rng = np.random.default_rng(0)
    made = []
    for _ in range(30):
        indices = rng.choice(np.arange(1000, 10_000), int(rng.integers(3, 6)), replace=False)
        image, places = number_row(mnist, indices, size=int(rng.integers(40, 120)), margin=int(rng.integers(10, 60)))
        made.append((image, "".join(str(mnist.y_test[index]) for index in indices), places))
    return made


@pytest.fixture(scope="module")
def devsets():
    """The two real non-MNIST handwriting sets: {"usps": (images, labels), "semeion": (images, labels)}."""
    folder = devsets_dir()
    require((folder / "usps" / "zip.test.gz").exists() and (folder / "semeion" / "semeion.data").exists(), f"No dev sets in {folder}.")
    return {"usps": load_usps("test"), "semeion": load_semeion()}


@pytest.fixture(scope="module")
def readings(recognizer, rows):
    return [recognizer.read(image) for image, _, _ in rows]


class TestClassify:
    @pytest.mark.parametrize("variant", VARIANTS)
    def test_reads_real_digits_placed_off_centre_in_a_larger_image(self, recognizer, mnist, variant):
        right = [
            recognizer.classify(as_variant(off_centre(mnist.x_test[index], index), variant)).digit == mnist.y_test[index]
            for index in SAMPLE
        ]

        assert np.mean(right) >= 0.97

    def test_probabilities_sum_to_one(self, recognizer, mnist):
        for index in SAMPLE[:20]:
            prediction = recognizer.classify(off_centre(mnist.x_test[index], index))

            assert prediction.probabilities.shape == (10,)
            assert prediction.probabilities.sum() == pytest.approx(1.0, abs=1e-5)

    def test_confidence_is_the_probability_of_the_answer(self, recognizer, mnist):
        prediction = recognizer.classify(off_centre(mnist.x_test[0], 0))

        assert prediction.confidence == pytest.approx(float(prediction.probabilities[prediction.digit]))
        assert prediction.confidence == pytest.approx(float(prediction.probabilities.max()))

    def test_answer_below_the_minimum_confidence_is_no_digit(self, recognizer, mnist):
        prediction = recognizer.classify(off_centre(mnist.x_test[0], 0), min_confidence=1.01)

        assert prediction.digit is None
        assert prediction.confidence > 0.5 and prediction.model_input.max() > 0

    def test_model_input_is_what_the_network_read(self, recognizer, mnist):
        prediction = recognizer.classify(off_centre(mnist.x_test[3], 3))

        np.testing.assert_allclose(recognizer.probabilities(prediction.model_input[None])[0], prediction.probabilities, atol=1e-6)

    @pytest.mark.parametrize("level", [0, 255], ids=["all black", "all white"])
    def test_blank_image_is_no_digit(self, recognizer, level):
        prediction = recognizer.classify(np.full((200, 300), level, np.uint8))

        assert prediction.digit is None
        assert prediction.confidence == 0.0
        assert not prediction.probabilities.any() and not prediction.model_input.any()


class TestProbabilities:
    def test_raw_probabilities_equal_model_predict(self, recognizer, mnist):
        batch = mnist.x_test[:64].astype(np.float32) / 255

        np.testing.assert_allclose(recognizer.raw_probabilities(batch), recognizer.model.predict(batch[..., None], verbose=0), atol=1e-5)

    def test_one_image_at_a_time_equals_model_predict(self, recognizer, mnist):
        batch = mnist.x_test[:16].astype(np.float32) / 255  # one image takes the XLA-compiled path

        one_by_one = np.concatenate([recognizer.raw_probabilities(image[None]) for image in batch])
        np.testing.assert_allclose(one_by_one, recognizer.model.predict(batch[..., None], verbose=0), atol=1e-5)

    def test_a_model_xla_cannot_compile_is_still_served(self, mnist):
        # FitToBox uses an image transform XLA has no kernel for: such a model keeps the plain graph for one image.
        model = keras.Sequential(
            [keras.Input((28, 28, 1)), FitToBox(), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")]
        )
        image = mnist.x_test[:1].astype(np.float32) / 255

        served = Recognizer(model).raw_probabilities(image)
        np.testing.assert_allclose(served, model.predict(image[..., None], verbose=0), atol=1e-6)

    def test_raw_probabilities_accept_a_channel_axis(self, recognizer, mnist):
        batch = mnist.x_test[:8].astype(np.float32) / 255

        np.testing.assert_array_equal(recognizer.raw_probabilities(batch[..., None]), recognizer.raw_probabilities(batch))

    def test_empty_batch_gives_no_rows(self, recognizer):
        assert recognizer.raw_probabilities(np.zeros((0, 28, 28), np.float32)).shape == (0, 10)

    def test_calibrated_probabilities_apply_the_cards_temperature(self, recognizer, mnist):
        batch = mnist.x_test[:32].astype(np.float32) / 255
        raw = recognizer.raw_probabilities(batch)
        scaled = np.exp(np.log(np.clip(raw, 1e-12, 1.0)) / recognizer.card.temperature)

        calibrated = recognizer.probabilities(batch)

        np.testing.assert_allclose(calibrated, scaled / scaled.sum(axis=1, keepdims=True), atol=1e-5)
        np.testing.assert_allclose(calibrated.sum(axis=1), 1.0, atol=1e-5)

    def test_calibration_never_changes_the_answer(self, recognizer, mnist):
        batch = mnist.x_test[:200].astype(np.float32) / 255

        np.testing.assert_array_equal(recognizer.probabilities(batch).argmax(axis=1), recognizer.raw_probabilities(batch).argmax(axis=1))


class TestRead:
    def test_finds_every_digit_written_in_a_row(self, rows, readings):
        for reading, (_, _, places) in zip(readings, rows, strict=True):
            assert len(reading.digits) + len(reading.rejected) == len(places)

    def test_reads_a_row_of_real_digits_as_a_number(self, rows, readings):
        # A row is right only if every digit is; a few MNIST digits are ambiguous enough to be misread or refused.
        right = [reading.number == expected for reading, (_, expected, _) in zip(readings, rows, strict=True)]

        assert np.mean(right) >= 0.8

    def test_digits_match_the_number(self, readings):
        for reading in readings:
            assert "".join(str(digit.digit) for digit in reading.digits) == reading.number

    def test_boxes_run_left_to_right_and_each_holds_its_digit(self, rows, readings):
        checked = 0
        for reading, (_, _, places) in zip(readings, rows, strict=True):
            if len(reading.digits) != len(places):
                continue
            checked += 1
            lefts = [digit.box.x for digit in reading.digits]
            assert lefts == sorted(lefts)
            for digit, (x, y, width, height) in zip(reading.digits, places, strict=True):
                box = digit.box
                assert x <= box.x + box.w / 2 <= x + width and y <= box.y + box.h / 2 <= y + height
                assert box.x >= x - 3 and box.x + box.w <= x + width + 3
        assert checked >= 24

    def test_every_digit_has_its_calibrated_probabilities(self, readings):
        for reading in readings:
            for digit in reading.digits:
                assert digit.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
                assert digit.confidence == pytest.approx(float(digit.probabilities[digit.digit]))

    def test_a_blank_page_reads_as_no_number(self, recognizer):
        reading = recognizer.read(np.full((480, 640, 3), 255, np.uint8))

        assert reading.number == "" and reading.digits == ()

    def test_two_rows_are_separated_by_a_space(self, recognizer, mnist):
        top, _ = number_row(mnist, [0, 1, 2])
        bottom, _ = number_row(mnist, [3, 4, 5])
        expected = "".join(map(str, mnist.y_test[:3])) + " " + "".join(map(str, mnist.y_test[3:6]))

        assert recognizer.read(np.vstack([top, bottom])).number == expected

    def test_a_tall_one_drawn_on_the_canvas_reads_as_one(self, recognizer):
        canvas = np.full((280, 560, 4), 255, np.uint8)
        cv2.line(canvas, (280, 30), (284, 250), (0, 0, 0, 255), 18)

        assert recognizer.read(canvas).number == "1"


class TestUnsureDigitsInARow:
    """On a page, a shape read less surely is still read when it stands, as tall as they are, in a row of digits
    read surely (a written row holds digits); alone, or of another height, it is refused."""

    @staticmethod
    def scores(confidences: list[float]) -> np.ndarray:
        """Each row's best class at `confidence`, the rest shared evenly by the other nine."""
        probabilities = np.array([[(1.0 - confidence) / 9] * 10 for confidence in confidences], np.float32)
        probabilities[np.arange(len(confidences)), np.arange(len(confidences)) % 10] = confidences
        return probabilities

    def test_only_shapes_of_the_row_s_height_and_fairly_sure_are_read(self):
        from core.inference import IN_ROW_SHARE, MIN_CONFIDENCE, _sure_in_row
        from core.segment import Group

        # Row 1: two sure digits 60 px tall, an unsure one as tall, one unsure but short (a dash), one too unsure.
        # Row 2 (starts at index 5): an unsure digit alone in its row.
        groups = [Group([1], x, 100, x + 40, 100 + height, 500) for x, height in ((0, 60), (50, 60), (100, 58), (150, 20), (200, 60))]
        groups.append(Group([2], 0, 300, 40, 360, 500))
        confidences = [0.99, 0.95, 0.45, 0.5, IN_ROW_SHARE * MIN_CONFIDENCE - 0.05, 0.45]

        sure = _sure_in_row(groups, self.scores(confidences), MIN_CONFIDENCE, [5])

        assert sure.tolist() == [True, True, True, False, False, False]


class TestDevSets:
    def test_usps_test_set_has_the_documented_counts(self, devsets):
        images, labels = devsets["usps"]

        assert images.shape == (2007, 16, 16) and images.dtype == np.uint8
        assert np.bincount(labels, minlength=10).tolist() == USPS_TEST_COUNTS

    def test_semeion_has_the_documented_counts(self, devsets):
        images, labels = devsets["semeion"]

        assert images.shape == (1593, 16, 16) and images.dtype == np.uint8
        assert np.bincount(labels, minlength=10).tolist() == SEMEION_COUNTS

    @pytest.mark.parametrize("name", ["usps", "semeion"])
    def test_scans_are_dark_ink_on_white_paper(self, devsets, name):
        images, _ = devsets[name]
        corners = images[:, [0, 0, -1, -1], [0, -1, 0, -1]]

        assert np.median(corners) == 255 and images.min() == 0

    @pytest.mark.parametrize("name", ["usps", "semeion"])
    def test_ink_is_found_in_every_scan_whichever_its_polarity(self, devsets, name):
        # Bold 0s and 8s stretched to fill the 16x16 square touch every edge, so the outline alone cannot tell
        # paper from ink (14 of Semeion's scans were read inverted before the vote in _paper_is_light).
        images, _ = devsets[name]

        assert [index for index, image in enumerate(images) if not preprocess.ink_map(image).dark_ink] == []
        assert [index for index, image in enumerate(images) if preprocess.ink_map(255 - image).dark_ink] == []

    @pytest.mark.parametrize("name", ["usps", "semeion"])
    def test_classify_reads_real_handwriting_better_than_a_naive_resize(self, recognizer, devsets, name):
        images, labels = devsets[name]
        sample = np.random.default_rng(0).choice(len(labels), 200, replace=False)
        images, labels = images[sample], labels[sample]

        ours = np.mean([recognizer.classify(image, min_confidence=0.0).digit == label for image, label in zip(images, labels, strict=True)])
        naive = np.mean(recognizer.raw_probabilities(naive_inputs(images)).argmax(axis=1) == labels)

        assert ours > naive + 0.05
        assert ours >= 0.75
