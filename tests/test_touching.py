"""Two digits written touching: the shipped detector, the cut between them, and `read` on real MNIST test digits."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core import inference, touching


def written(digits: list[np.ndarray], overlap: float, height: int = 80, stretch: float = 1.0) -> np.ndarray:
    """MNIST digits written in a row in dark ink on a white page, each starting `overlap` of the height before the
    previous one ends (negative: a gap).  -> (h, w) uint8."""
    crops = []
    for digit in digits:
        ys, xs = np.nonzero(digit > 30)
        crop = digit[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        factor = height / crop.shape[0]
        crops.append(cv2.resize(crop, (max(1, round(crop.shape[1] * factor * stretch)), height), interpolation=cv2.INTER_LINEAR))
    page = np.zeros((height + 80, sum(crop.shape[1] for crop in crops) + 120), np.uint8)
    x = 60
    for crop in crops:
        view = page[40 : 40 + height, x : x + crop.shape[1]]
        np.maximum(view, crop, out=view)
        x += crop.shape[1] - round(overlap * height)
    return 255 - page


def pairs(mnist, count: int, seed: int) -> list[tuple[np.ndarray, np.ndarray, str]]:
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(mnist.x_test), size=(count, 2), replace=False)
    return [(mnist.x_test[a], mnist.x_test[b], f"{mnist.y_test[a]}{mnist.y_test[b]}") for a, b in chosen]


class TestDetector:
    def test_it_tells_one_digit_from_two_on_digits_it_never_saw(self, mnist):
        shapes, answers = touching.examples(mnist.x_test, 400, np.random.default_rng(5))
        said = touching.two_digits(shapes) >= 0.5
        assert 150 <= answers.sum() <= 250  # both kinds are asked about
        assert (said == answers.astype(bool)).mean() >= 0.93

    def test_nothing_to_ask_gives_nothing(self):
        assert touching.two_digits(np.zeros((0, 28, 28), np.float32)).shape == (0,)


class TestCut:
    def test_the_cut_follows_a_slanted_gap_between_two_shapes(self):
        own = np.zeros((40, 60), bool)
        for row in range(40):
            edge = 20 + round(0.4 * row)  # the gap slants right as it goes down: no straight cut parts the two
            own[row, 5:edge] = True
            own[row, edge + 2 : 55] = True
        paths = touching.least_ink_paths(own)
        crossed = [sum(own[row, path[row]] for row in range(40)) for path in paths]
        assert len(paths) >= 2  # several ways to cut are offered, for the recognizer to choose among
        assert min(crossed) == 0  # and one of them crosses no ink at all

    def test_a_shape_too_narrow_to_cut_is_left_whole(self):
        assert touching.least_ink_paths(np.ones((30, 2), bool)) == []  # no column between its two


class TestReadingTouchingDigits:
    def test_two_digits_written_touching_are_read_as_both(self, recognizer, mnist, monkeypatch):
        cases = pairs(mnist, 12, seed=3) + pairs(mnist, 12, seed=6)
        right = sum(recognizer.read(written([a, b], overlap=0.05)).number == want for a, b, want in cases)
        monkeypatch.setattr(inference, "TWO_DIGITS", 2.0)  # the detector never says two
        without = sum(recognizer.read(written([a, b], overlap=0.05)).number == want for a, b, want in cases)
        assert right >= 17  # 19 of 24 at this release
        assert right >= without + 5  # 10 without the detector

    def test_wide_single_digits_stay_one_digit(self, recognizer, mnist):
        wide = [index for index in range(400) if mnist.y_test[index] in (0, 2, 4, 7)][:20]
        readings = [recognizer.read(written([mnist.x_test[index]], overlap=0.0, stretch=1.4)).number for index in wide]
        assert sum(len(number) == 1 for number in readings) >= 19
        assert sum(number == str(mnist.y_test[index]) for number, index in zip(readings, wide, strict=True)) >= 16

    def test_digits_written_apart_are_read_as_before(self, recognizer, mnist):
        cases = pairs(mnist, 8, seed=4)
        assert sum(recognizer.read(written([a, b], overlap=-0.3)).number == want for a, b, want in cases) >= 7


class TestTraining:
    @pytest.mark.filterwarnings("ignore")
    def test_a_detector_trains_and_is_saved_with_its_light_runtime_copy(self, mnist, tmp_path):
        from core import serving

        model, accuracy = touching.train_detector(mnist, seed=1, count=600, frames=2, epochs=1)
        assert 0.5 <= accuracy <= 1.0
        path = touching.save_detector(model, tmp_path / "touching.keras", runtime_dir=tmp_path / "serving")
        copy = tmp_path / "serving" / f"{serving.file_key(path)}.tflite"
        assert path.is_file() and copy.is_file()
        shapes, _ = touching.examples(mnist.x_test, 16, np.random.default_rng(0))
        light = serving.LiteModel(copy.read_bytes())(shapes[..., None])
        assert np.allclose(light, model.predict(shapes[..., None], verbose=0), atol=1e-5)
