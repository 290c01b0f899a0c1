"""A sheet seen whole inside the frame (core/sheet.py): read alone, as if it filled the frame, its edges not ink."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core import paper, sheet
from core.live import ink_in_frame

FRAME = (480, 640)
SHEET = ((320, 240), (360, 270), 8.0)  # centre, size, turn in degrees: an index card on a desk


def desk_photo(card=SHEET, desk=(40, 60, 90), seed: int = 0) -> np.ndarray:
    """A BGR photo of a card on a dark wooden desk, with camera noise.  -> (480, 640, 3) uint8."""
    rng = np.random.default_rng(seed)
    image = np.empty((*FRAME, 3), np.float32)
    image[:] = desk
    corners = cv2.boxPoints(card).astype(np.int32)
    cv2.fillPoly(image, [corners], (228, 232, 235), cv2.LINE_AA)
    image += rng.normal(0, 3, image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def with_digit(image: np.ndarray, digit: np.ndarray, at: tuple[int, int], height: int = 90) -> np.ndarray:
    """A dark pen digit (an MNIST scan, white on black) written at `at` (top-left)."""
    written = image.copy()
    ink = cv2.resize(digit, (height, height), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
    x, y = at
    patch = written[y : y + height, x : x + height].astype(np.float32)
    written[y : y + height, x : x + height] = (patch * (1 - 0.8 * ink[..., None])).astype(np.uint8)
    return written


class TestSheetRegion:
    def test_a_card_on_a_desk_is_found_by_its_box(self):
        seen = sheet.sheet_seen_whole(desk_photo())

        corners = cv2.boxPoints(SHEET)
        expected = (*corners.min(axis=0), *corners.max(axis=0))
        assert seen is not None
        assert np.abs(np.array(seen.box) - np.array(expected)).max() <= 12  # within a pixel of the 80-pixel view
        assert 0.7 < seen.paper.mean() < 0.95  # a turned card fills most of its box, not all of it

    def test_a_sheet_that_fills_the_frame_is_read_as_the_frame(self):
        assert sheet.sheet_seen_whole(desk_photo(card=((320, 240), (700, 540), 0.0))) is None

    def test_a_sheet_on_a_desk_as_light_as_paper_is_read_as_the_frame(self):
        assert sheet.sheet_seen_whole(desk_photo(desk=(200, 205, 210))) is None

    def test_a_card_reaching_three_of_the_frame_edges_is_read_as_the_frame(self):
        # held from below, running off the frame's left, right and bottom edges: the frame's edges stand for the world
        assert sheet.sheet_seen_whole(desk_photo(card=((320, 330), (700, 360), 0.0))) is None

    def test_drawings_grey_images_and_light_ink_on_dark_are_not_sheets(self, mnist):
        canvas = np.full((*FRAME, 3), 255, np.uint8)
        canvas[100:300, 200:400] = 0  # a drawing: most pixels at one level
        assert sheet.sheet_seen_whole(canvas) is None
        assert sheet.sheet_seen_whole(cv2.cvtColor(desk_photo(), cv2.COLOR_BGR2GRAY)) is None
        board = np.full((*FRAME, 3), 30, np.uint8)  # chalk on a blackboard: the light is strokes, not a filled sheet
        board = 255 - with_digit(255 - board, mnist.x_test[0], (200, 120), height=240)
        board = np.clip(board.astype(np.int16) + np.random.default_rng(1).normal(0, 3, board.shape), 0, 255).astype(np.uint8)
        assert sheet.sheet_seen_whole(board) is None


class TestReadingACardSeenWhole:
    @pytest.fixture(scope="class")
    def card(self, mnist):
        """A 7 and a 2 written on the card."""
        seven, two = (mnist.x_test[np.flatnonzero(mnist.y_test == digit)[0]] for digit in (7, 2))
        return with_digit(with_digit(desk_photo(), seven, (200, 190)), two, (330, 190))

    def test_its_ink_map_covers_the_card_and_says_where_it_lies(self, card):
        ink = paper.page_ink_map(card)

        seen = sheet.sheet_seen_whole(card)
        assert seen is not None and ink.origin == seen.box[:2]
        assert ink.mask.shape[1] == paper.PAGE_SIDE  # the card's box is read at the page's full working size

    def test_the_cards_edges_are_not_ink_and_the_digits_are(self, card):
        shown = ink_in_frame(paper.page_ink_map(card), card.shape)

        assert shown[190:280, 200:290].any() and shown[190:280, 330:420].any()
        outline = np.zeros(FRAME, np.uint8)
        cv2.polylines(outline, [cv2.boxPoints(SHEET).astype(np.int32)], True, 255, 9)
        assert not (shown & outline).any()

    def test_it_is_read_with_boxes_in_the_photos_pixels(self, recognizer, card):
        reading = recognizer.read(card)

        assert reading.number == "72"
        for digit, left in zip(reading.digits, (200, 330), strict=True):
            centre_x, centre_y = digit.box.x + digit.box.w / 2, digit.box.y + digit.box.h / 2
            assert left < centre_x < left + 90 and 190 < centre_y < 280

    def test_its_outline_alone_is_no_digit(self, recognizer):
        assert recognizer.read(desk_photo(seed=3)).number == ""

    def test_read_as_the_whole_frame_the_cards_edges_are_taken_for_digits(self, recognizer, card, monkeypatch):
        monkeypatch.setattr(paper, "sheet_seen_whole", lambda image: None)

        assert recognizer.read(card).number != "72"
