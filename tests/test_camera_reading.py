"""Reading webcam frames of pen handwriting on notebook paper (issue 12): grids, pencil, tilt, a thumb, two rows.

Every frame comes from `core.camera.camera_frame`, the honest benchmark's renderer, with real MNIST test digits.
camera_frame draws focus, resolution, tilt and a thumb at random; each test holds still the conditions it is not
about (in focus, full resolution, no thumb) and its seeds are the first SAMPLE seeds, scanning 0, 1, 2, ..., whose
frames show its conditions: chosen by what they show, never by how they read. A sheet with nothing on it is a
frame whose "digit" has no ink: the same paper, perspective, desk, light, sensor and JPEG as a frame with digits.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

from core import paper, segment
from core.camera import CameraFrame, camera_frame
from core.pens import Pen, pen_digit
from core.preprocess import InkMap, _label

SAMPLE = 20  # frames per behaviour
READ_RIGHT = 16  # of SAMPLE frames (80%) must read exactly right; the README's target for camera frames is 95%
NOTHING_WRITTEN = np.zeros((28, 28), np.uint8)  # no ink: the frame shows the sheet alone

# The first SAMPLE seeds, scanning 0, 1, 2, ..., whose frame (with each test's arguments) shows the test's conditions.
SQUARED_SEEDS = (11, 17, 20, 23, 25, 26, 34, 49, 59, 66, 73, 74, 77, 81, 83, 88, 94, 95, 97, 101)
GRID_SEEDS = (1, 11, 16, 19, 21, 29, 30, 53, 56, 64, 72, 78, 81, 85, 87, 88, 98, 103, 107, 122)
PENCIL_SEEDS = (0, 12, 14, 15, 23, 33, 34, 36, 37, 43, 52, 56, 57, 61, 64, 75, 76, 80, 83, 84)
TILTED_SEEDS = (6, 21, 22, 58, 69, 76, 134, 148, 154, 163, 166, 168, 178, 195, 201, 208, 221, 265, 266, 304)
THUMB_ALONE_SEEDS = (28, 30, 52, 59, 77, 91, 103, 107, 110, 149, 150, 161, 162, 177, 179, 189, 208, 209, 210, 227)
THUMB_WITH_DIGITS_SEEDS = (17, 22, 51, 59, 61, 85, 87, 91, 103, 107, 122, 128, 130, 132, 144, 150, 167, 169, 229, 233)
FADED_SEEDS = (5, 10, 11, 15, 17, 19, 22, 28, 30, 31, 40, 41, 49, 53, 54, 64, 70, 78, 85, 86)  # 3 pencil digits, plain
TWO_ROWS_SEEDS = (13, 17, 29, 31, 33, 46, 56, 57, 60, 67, 68, 71, 79, 86, 93, 102, 104, 111, 120, 121)
# Two ballpoint digits (or none) on a small sheet seen whole, a world darker than its paper around it.
WHOLE_SHEET_SEEDS = (3, 4, 14, 15, 19, 20, 22, 24, 35, 39, 47, 54, 58, 61, 63, 65, 66, 86, 89, 90)
WHOLE_BLANK_SEEDS = (6, 9, 14, 19, 21, 22, 24, 28, 34, 38, 43, 47, 48, 51, 52, 61, 63, 70, 73, 78)
BLANK_SEEDS = {
    "ruled": (1, 11, 13, 14, 19, 25, 26, 38, 42, 56, 67, 68, 74, 78, 85, 87, 88, 95, 98, 102),
    "plain": (1, 8, 11, 14, 17, 20, 21, 33, 34, 36, 43, 46, 55, 64, 65, 68, 70, 74, 76, 79),
}


def frame(mnist, seed: int, *, digits: int = 1, blank: bool = False, **conditions) -> CameraFrame:
    """A webcam frame of `digits` MNIST test digits chosen by `seed` (nothing written when `blank`)."""
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(mnist.y_test), size=digits, replace=False)
    images = [NOTHING_WRITTEN] * digits if blank else [mnist.x_test[index] for index in picked]
    return camera_frame(images, [int(mnist.y_test[index]) for index in picked], rng, **conditions)


def frames(mnist, seeds: tuple[int, ...], shows: Callable[[CameraFrame], bool], **arguments) -> list[CameraFrame]:
    """`frame` for each seed, checked to show what the test is about.

    Raises ValueError, not AssertionError, so that an expected failure never hides frames that changed.
    """
    sample = [frame(mnist, seed, **arguments) for seed in seeds]
    if not all(shows(each) for each in sample):
        raise ValueError("camera_frame no longer draws these conditions from these seeds: scan the seeds again.")
    return sample


def clear(frame: CameraFrame) -> bool:
    """In focus and at full resolution: blur and a low-resolution sensor are not what these tests are about."""
    return frame.conditions.blur == "sharp" and not frame.conditions.low_resolution


def steady(frame: CameraFrame) -> bool:
    return clear(frame) and not frame.conditions.thumb


def misreads(recognizer, sample: list[CameraFrame], blank: bool = False) -> list[tuple[str, str]]:
    """(written, read) for each frame not read as written ("" when `blank`)."""
    readings = [("" if blank else each.number, recognizer.read(each.image).number) for each in sample]
    return [(written, read) for written, read in readings if written != read]


def contrast(frame: CameraFrame) -> float:
    """Grey levels between the paper and the darkest ink in the first digit's box (90th minus 2nd percentile)."""
    x, y, width, height = frame.boxes[0]
    patch = cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY)[y : y + height, x : x + width]
    return float(np.percentile(patch, 90) - np.percentile(patch, 2))


def row_lengths(number: str) -> list[int]:
    return [len(row) for row in number.split(" ")]


class TestSquaredPaper:
    def test_a_ballpoint_digit_is_read(self, recognizer, mnist):
        sample = frames(mnist, SQUARED_SEEDS, steady, ink="ballpoint", paper="squared", rows=1)

        wrong = misreads(recognizer, sample)

        assert len(wrong) <= SAMPLE - READ_RIGHT, wrong

    def test_the_grid_alone_reads_as_no_number(self, recognizer, mnist):
        sample = frames(mnist, GRID_SEEDS, steady, blank=True, paper="squared", rows=1)

        wrong = misreads(recognizer, sample, blank=True)

        assert len(wrong) <= SAMPLE - READ_RIGHT, wrong

    def test_the_grid_clipped_to_white_is_still_a_page_with_printed_lines(self, recognizer, mnist):
        """Most of such a frame is one level, as a drawing is; a camera's frame is never grey, so it is still read as
        a photographed page. (Read as a drawing, none of its lines was found and 6 of these 8 frames gave digits.)"""
        sample = frames(mnist, GRID_SEEDS, steady, blank=True, paper="squared", rows=1)
        overexposed = [cv2.convertScaleAbs(each.image, alpha=1.6) for each in sample]  # bright light: white paper clips
        clipped = [image for image in overexposed if np.mean(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) == 255) > 0.5]

        assert len(clipped) >= 5  # precondition: frames that are mostly one level
        assert any(paper.page_ink_map(image).printed.any() for image in clipped)
        assert sum(recognizer.read(image).number == "" for image in clipped) >= len(clipped) / 2


class TestPencil:
    def test_a_faint_pencil_digit_is_read(self, recognizer, mnist):
        sample = frames(mnist, PENCIL_SEEDS, steady, ink="pencil", paper="plain", rows=1)
        assert all(contrast(each) <= 60 for each in sample)  # faint: a ballpoint's stands 45-110 levels from the paper

        wrong = misreads(recognizer, sample)

        assert len(wrong) <= SAMPLE - READ_RIGHT, wrong


class TestTilt:
    def test_a_digit_on_a_sheet_tilted_20_degrees_is_read(self, recognizer, mnist):
        sample = frames(
            mnist, TILTED_SEEDS, lambda each: steady(each) and each.conditions.tilt >= 20, ink="ballpoint", paper="plain", rows=1
        )

        wrong = misreads(recognizer, sample)

        assert len(wrong) <= SAMPLE - READ_RIGHT, wrong


GRID_STEP, GRID_START = 23, 7  # pixels: a squared sheet's lines in a 640x480 frame (5 mm at about 5 pixels a millimetre)


def on_squared_paper(mnist, indices: list[int], along_line: int, rng: np.random.Generator) -> np.ndarray:
    """A 640x480 BGR frame of pencil digits (MNIST test `indices`) 90 pixels tall in a row on squared paper, the one
    at `along_line` written with its ink's densest column on a vertical line of the grid; sensor noise and JPEG."""
    page = np.full((480, 640, 3), (238, 240, 242), np.float32)
    for step in range(GRID_START, 640, GRID_STEP):
        cv2.line(page, (step, 0), (step, 479), (215, 190, 165), 1)
    for step in range(GRID_START, 480, GRID_STEP):
        cv2.line(page, (0, step), (639, step), (215, 190, 165), 1)
    pencil = Pen("pencil", 2.0, (0.7, 0.7, 0.7), 0.1, 0.0, 0.5)
    left = 3 * GRID_STEP
    for place, index in enumerate(indices):
        coverage = pen_digit(mnist.x_test[index], 90, pencil, rng)  # (h, w) in [0, 1]
        if place == along_line:
            line = ((left - GRID_START) // GRID_STEP + 1) * GRID_STEP + GRID_START
            left = line - int(np.argmax(coverage.sum(axis=0)))
        height, width = coverage.shape
        page[200 : 200 + height, left : left + width] *= 1.0 - coverage[:, :, None] * np.float32(1.0 - 0.7)  # the film
        left += width + 20
    noisy = np.clip(page + rng.normal(0.0, 2.5, page.shape), 0, 255).astype(np.uint8)
    return cv2.imdecode(cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, 85])[1], cv2.IMREAD_COLOR)


class TestOnesAlongGridLines:
    def test_a_1_written_along_a_grid_line_is_read(self, recognizer, mnist):
        """Many people write a 1 on a vertical line of squared paper. With the grid subtracted it lies on printed
        lines, as what the subtraction leaves of them does, but it is as tall as the digits beside it, in their row,
        and not far fainter. (Before it was kept, all 8 of these frames read 35.)"""
        ones = np.flatnonzero(mnist.y_test == 1)[:300]
        widths = [np.ptp(np.flatnonzero(mnist.x_test[index].max(axis=0) > 128)) for index in ones]
        upright = ones[np.argsort(widths, kind="stable")[:8]]  # the most upright 1s: their ink follows the line
        threes, fives = np.flatnonzero(mnist.y_test == 3)[:8], np.flatnonzero(mnist.y_test == 5)[:8]
        images = [
            on_squared_paper(mnist, [int(three), int(one), int(five)], 1, np.random.default_rng(int(one)))
            for three, one, five in zip(threes, upright, fives, strict=True)
        ]

        read = [recognizer.read(image).number for image in images]

        assert sum(number == "315" for number in read) >= 6, read


def faded(frame: CameraFrame, which: int, keep: float) -> np.ndarray:
    """The frame with digit `which` written more faintly: its contrast with the paper around it times `keep`."""
    image = frame.image.astype(np.float32)
    x, y, width, height = frame.boxes[which]
    patch = image[y : y + height, x : x + width]
    paper_colour = np.percentile(patch.reshape(-1, 3), 90, axis=0)
    image[y : y + height, x : x + width] = paper_colour - (paper_colour - patch) * keep
    return np.clip(image, 0, 255).astype(np.uint8)


class TestFaintBesideDigits:
    """A digit written more faintly than its neighbours (less pressure on the pencil) is looked for beside them."""

    def test_a_fainter_digit_between_two_is_found(self, recognizer, mnist, monkeypatch):
        sample = frames(mnist, FADED_SEEDS, steady, digits=3, ink="pencil", paper="plain", rows=1)
        images = [faded(each, 1, keep=0.6) for each in sample]
        # The frames where the clear-ink level alone loses the fainter digit: what this behaviour is for.
        lost = [index for index, image in enumerate(images) if len(segment.find_digit_groups(paper.page_ink_map(image))[1]) < 3]
        assert len(lost) >= 4  # precondition

        found = [len(segment.find_page_digits(paper.page_ink_map(images[index]))[2]) for index in lost]
        read = [recognizer.read(image).number.replace(" ", "") for image in images]
        monkeypatch.setattr(segment, "find_page_digits", lambda ink: (ink, *segment.find_digit_groups(ink)))
        read_without = [recognizer.read(image).number.replace(" ", "") for image in images]

        # Found again in 4 of the 9 frames that lose it (4 of 7 while the digits' height was measured on their
        # fragments too, which kept more of a faint digit's fragments in the first pass).
        assert sum(count == 3 for count in found) >= 0.4 * len(lost), found
        # Nothing is found beyond the digits that was not found without looking beside them.
        assert sum(len(number) > 3 for number in read) <= sum(len(number) > 3 for number in read_without), (read, read_without)
        assert sum(number == each.number for number, each in zip(read, sample, strict=True)) > sum(
            number == each.number for number, each in zip(read_without, sample, strict=True)
        )

    def test_only_faint_pieces_beside_the_digits_as_dark_as_them_are_added(self):
        """A clear digit at x 40-60; faint pieces: a stroke beside it, the same stroke far along the row, a speck
        beside it, and a stroke beside it but much lighter than the digit. Only the first is ink."""
        darkness = np.zeros((120, 320), np.float32)
        darkness[40:70, 48:52] = 0.5  # the digit found (a 1)
        darkness[42:68, 75:78] = 0.3  # faint, beside it: 25 px to its right, within 1.5 digit heights
        darkness[42:68, 250:253] = 0.3  # as faint, but far along the row
        darkness[50:52, 65:67] = 0.3  # a speck beside it
        darkness[42:68, 30:33] = 0.1  # beside it, but a fifth of its darkness
        mask = np.where((darkness >= 0.5), 255, 0).astype(np.uint8)
        faint = np.where((darkness > 0) & (mask == 0), 255, 0).astype(np.uint8)
        ink = InkMap(ink=darkness, mask=mask, scale=1.0, dark_ink=True, pieces=_label(mask), lines_removed=True, faint=faint)

        fuller = paper.with_faint_ink_near(ink, [(48, 40, 52, 70)], digit_height=30)

        assert fuller is not None
        added = (fuller.mask > 0) & (mask == 0)
        assert added[42:68, 75:78].all()
        assert not added[:, 200:].any() and not added[50:52, 65:67].any() and not added[:, 25:35].any()
        assert fuller.faint is None  # looked for once
        assert paper.with_faint_ink_near(ink, [], digit_height=30) is None  # no digit found: nothing to stand beside

    def test_a_faint_flat_stroke_beside_the_digits_is_added_like_a_tall_one(self):
        """A 5's top bar, written lightly and cut from its body: 2 pixels tall but 14 long, beside a clear digit."""
        darkness = np.zeros((120, 320), np.float32)
        darkness[40:70, 48:52] = 0.5  # the digit found
        darkness[36:38, 58:72] = 0.3  # the bar, 6 pixels to its right
        mask = np.where((darkness >= 0.5), 255, 0).astype(np.uint8)
        faint = np.where((darkness > 0) & (mask == 0), 255, 0).astype(np.uint8)
        ink = InkMap(ink=darkness, mask=mask, scale=1.0, dark_ink=True, pieces=_label(mask), lines_removed=True, faint=faint)

        fuller = paper.with_faint_ink_near(ink, [(48, 40, 52, 70)], digit_height=30)

        assert fuller is not None and (fuller.mask[36:38, 58:72] > 0).all()


def held(frame: CameraFrame) -> bool:
    return clear(frame) and frame.conditions.thumb


class TestThumb:
    def test_a_thumb_on_a_blank_sheet_reads_as_no_number(self, recognizer, mnist):
        sample = frames(mnist, THUMB_ALONE_SEEDS, held, blank=True, paper="plain", rows=1)

        wrong = misreads(recognizer, sample, blank=True)

        assert len(wrong) <= SAMPLE - READ_RIGHT, wrong

    def test_digits_held_by_a_thumb_read_as_just_the_digits(self, recognizer, mnist):
        sample = frames(mnist, THUMB_WITH_DIGITS_SEEDS, held, digits=2, ink="ballpoint", paper="plain", rows=1)

        wrong = misreads(recognizer, sample)

        assert len(wrong) <= SAMPLE - READ_RIGHT, wrong


class TestRows:
    def test_two_rows_read_as_two_rows(self, recognizer, mnist):
        sample = frames(
            mnist,
            TWO_ROWS_SEEDS,
            lambda each: steady(each) and row_lengths(each.number) == [2, 2],
            digits=4,
            ink="ballpoint",
            paper="plain",
            rows=2,
        )

        read = [recognizer.read(each.image).number for each in sample]

        assert sum(row_lengths(number) == [2, 2] for number in read) >= READ_RIGHT, read


class TestBlankPaper:
    @pytest.mark.parametrize("paper", ["ruled", "plain"])
    def test_a_blank_sheet_reads_as_no_number(self, recognizer, mnist, paper):
        sample = frames(mnist, BLANK_SEEDS[paper], steady, blank=True, paper=paper, rows=1)

        wrong = misreads(recognizer, sample, blank=True)

        assert len(wrong) <= SAMPLE - READ_RIGHT, wrong


def dark_world(frame: CameraFrame) -> bool:
    """Sharp, and the darkest of the frame (the desk or the room around a sheet seen whole) under 0.4 of its paper."""
    grey = cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY)
    return clear(frame) and np.percentile(grey, 5) < 0.4 * np.percentile(grey, 95)


class TestSheetSeenWhole:
    """A notepad or an index card held whole before the camera: read alone, as if it filled the frame (core/sheet.py)."""

    def test_two_digits_on_it_are_read(self, recognizer, mnist, monkeypatch):
        sample = frames(mnist, WHOLE_SHEET_SEEDS, dark_world, digits=2, whole_sheet=True, ink="ballpoint")

        wrong = misreads(recognizer, sample)
        assert len(wrong) <= SAMPLE - READ_RIGHT, wrong
        monkeypatch.setattr(paper, "sheet_seen_whole", lambda image: None)  # read as the whole frame
        assert len(misreads(recognizer, sample)) > len(wrong)

    def test_it_blank_reads_as_no_number(self, recognizer, mnist):
        sample = frames(mnist, WHOLE_BLANK_SEEDS, dark_world, digits=2, blank=True, whole_sheet=True, ink="ballpoint")

        wrong = misreads(recognizer, sample, blank=True)

        assert len(wrong) <= SAMPLE - READ_RIGHT, wrong


class TestOnePen:
    """Digits written together are written with one pen: a shape far fainter than the others on the page is not one."""

    @staticmethod
    def page(mnist, darkness: list[float]) -> InkMap:
        """A page's ink map: MNIST test digits 0, 1, 2, ... 40 pixels tall in a row, each at its darkness."""
        ink = np.zeros((120, 60 + 50 * len(darkness)), np.float32)
        for index, level in enumerate(darkness):
            digit = cv2.resize(mnist.x_test[index], (40, 40), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
            ink[40:80, 30 + 50 * index : 70 + 50 * index] = np.where(digit > 0.3, level, 0.0)
        mask = np.where(ink > 0, 255, 0).astype(np.uint8)
        return InkMap(ink=ink, mask=mask, scale=1.0, dark_ink=True, pieces=_label(mask), lines_removed=True)

    def test_a_shape_far_fainter_than_the_digits_beside_it_is_dropped(self, mnist):
        _, groups = segment.find_digit_groups(self.page(mnist, [0.6, 0.6, 0.1, 0.6]))

        assert [group.x0 // 50 for group in groups] == [0, 1, 3]  # the third, a sixth as dark, is gone

    @pytest.mark.parametrize("darkness", [[0.1, 0.1, 0.1, 0.1], [0.6, 0.3, 0.6, 0.25]])
    def test_digits_all_faint_or_a_little_fainter_are_all_kept(self, mnist, darkness):
        _, groups = segment.find_digit_groups(self.page(mnist, darkness))

        assert len(groups) == 4
