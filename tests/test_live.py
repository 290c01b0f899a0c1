"""The live reader: the ink found drawn on a frame, and the option that shows it on the video without changing the reading."""

from __future__ import annotations

import numpy as np
import pytest

from core import live, paper, segment
from core.camera import camera_frame
from core.live import DIMMED, INK, STEADY_FRAMES, STEADY_SECONDS, LiveReader, draw_ink, steady_number

NUMBER = "307"  # written with the first MNIST test image of each digit


def painted(image: np.ndarray) -> np.ndarray:
    """Where a frame shows the ink colour.  (H, W, 3) BGR -> (H, W) bool."""
    return np.all(image == INK, axis=2)


@pytest.fixture(scope="module")
def pen_on_squared_paper(mnist):
    """A webcam frame of 307 retraced in ballpoint on squared paper."""
    digits = [mnist.x_test[np.flatnonzero(mnist.y_test == int(character))[0]] for character in NUMBER]
    return camera_frame(digits, [int(character) for character in NUMBER], np.random.default_rng(2), ink="ballpoint", paper="squared")


class TestDrawInk:
    def test_ink_is_painted_and_the_rest_dimmed(self):
        frame = np.full((40, 60, 3), 200, np.uint8)
        mask = np.zeros((40, 60), np.uint8)
        mask[10:20, 20:30] = 255
        shown = draw_ink(frame, mask)
        assert painted(shown)[10:20, 20:30].all()
        assert painted(shown).sum() == 100
        assert (shown[0, 0] == round(200 * DIMMED)).all()

    def test_a_mask_at_working_resolution_covers_the_whole_frame(self):
        frame = np.full((40, 60, 3), 200, np.uint8)
        mask = np.zeros((20, 30), np.uint8)  # half the frame's size, as page_ink_map gives it for a 640x480 frame
        mask[5:10, 10:15] = 255
        ink_y, ink_x = np.nonzero(painted(draw_ink(frame, mask)))
        assert (ink_y.min(), ink_y.max(), ink_x.min(), ink_x.max()) == (10, 19, 20, 29)

    def test_the_frame_itself_is_left_unchanged(self):
        frame = np.full((40, 60, 3), 200, np.uint8)
        draw_ink(frame, np.full((40, 60), 255, np.uint8))
        assert (frame == 200).all()


class TestShowInk:
    def test_is_off_for_a_new_reader(self, recognizer):
        assert LiveReader(recognizer).show_ink is False

    def test_the_video_shows_each_digits_ink_and_the_same_reading(self, recognizer, pen_on_squared_paper):
        reader = LiveReader(recognizer)
        plain = reader.process(pen_on_squared_paper.image)
        plain_readout = reader.readout()
        reader.show_ink = True
        shown = reader.process(pen_on_squared_paper.image)
        assert reader.readout().number == plain_readout.number
        assert not painted(plain).any()
        for x, y, w, h in pen_on_squared_paper.boxes:
            assert painted(shown)[y : y + h, x : x + w].mean() > 0.05, f"no ink shown in the digit at {(x, y, w, h)}"

    @pytest.mark.parametrize("show_ink", [False, True])
    def test_the_ink_is_found_once_per_frame_whether_shown_or_not(self, recognizer, pen_on_squared_paper, monkeypatch, show_ink):
        found = []
        original = paper.page_ink_map
        monkeypatch.setattr(paper, "page_ink_map", lambda image: found.append(image.shape) or original(image))
        reader = LiveReader(recognizer)
        reader.show_ink = show_ink
        reader.process(pen_on_squared_paper.image)
        assert found == [pen_on_squared_paper.image.shape]
        assert reader.readout().number == pen_on_squared_paper.number

    def test_paper_with_nothing_written_shows_no_ink_and_reads_nothing(self, recognizer):
        reader = LiveReader(recognizer)
        reader.show_ink = True
        shown = reader.process(np.full((480, 640, 3), 235, np.uint8))
        assert reader.readout().number == ""
        assert not painted(shown).any()


def test_the_ink_shown_includes_the_faint_ink_found_beside_the_digits(recognizer, mnist):
    """What the reader adds beside the digits found (a digit written more lightly) is what the video shows too."""
    from test_camera_reading import FADED_SEEDS, faded, frame

    for seed in FADED_SEEDS:  # the first frame whose faded digit the faint-ink pass adds to: chosen by its ink map
        image = faded(frame(mnist, seed, digits=3, ink="pencil", paper="plain", rows=1), 1, keep=0.6)
        ink = paper.page_ink_map(image)
        fuller = segment.find_page_digits(ink)[0]
        only_faint = painted(draw_ink(image, fuller.mask)) & ~painted(draw_ink(image, ink.mask))
        if only_faint.sum() > 20:
            break
    else:
        pytest.fail("No frame of FADED_SEEDS has faint ink added beside its digits.")
    reader = LiveReader(recognizer)
    reader.show_ink = True

    shown = reader.process(image)

    assert painted(shown)[only_faint].mean() > 0.8


class TestSteadyReadout:
    """The readout is the number read most often over the last frames, so a frame misread now and then does not show."""

    def test_the_number_read_most_often_wins(self):
        assert steady_number(["761", "7614", "7614", "761", "7614"]) == "7614"

    def test_a_tie_goes_to_the_newest(self):
        assert steady_number(["12", "13", "13", "12"]) == "12"
        assert steady_number(["12", "12", "13", "13"]) == "13"

    def test_no_frames_read_nothing(self):
        assert steady_number([]) == ""
        assert steady_number(["", "", "5"]) == ""

    @pytest.fixture
    def clock(self, monkeypatch):
        """The reader's clock, moved by hand: each frame is read at `clock[0]` seconds."""
        now = [100.0]
        monkeypatch.setattr(live.time, "perf_counter", lambda: now[0])
        return now

    def test_a_frame_that_reads_nothing_does_not_blank_the_number(self, recognizer, pen_on_squared_paper, clock):
        reader = LiveReader(recognizer)
        blank = np.full((480, 640, 3), 235, np.uint8)
        for _ in range(3):
            reader.process(pen_on_squared_paper.image)
            clock[0] += 0.03
        reader.process(blank)

        readout = reader.readout()
        assert (readout.number, readout.latest) == (pen_on_squared_paper.number, "")
        assert len(readout.confidences) == len(NUMBER)  # the confidences of the newest frame that read the number

    def test_a_sheet_taken_away_clears_the_number_within_a_few_frames(self, recognizer, pen_on_squared_paper, clock):
        reader = LiveReader(recognizer)
        for _ in range(STEADY_FRAMES):
            reader.process(pen_on_squared_paper.image)
            clock[0] += 0.03
        blanks = 0
        while reader.readout().number:
            reader.process(np.full((480, 640, 3), 235, np.uint8))
            clock[0] += 0.03
            blanks += 1
        assert blanks == STEADY_FRAMES // 2 + 1  # as soon as "no digit" is the most frequent reading

    def test_frames_read_long_ago_do_not_count(self, recognizer, pen_on_squared_paper, clock):
        reader = LiveReader(recognizer)
        for _ in range(3):
            reader.process(pen_on_squared_paper.image)
        clock[0] += STEADY_SECONDS + 0.1  # the camera stopped, or the page was slow
        reader.process(np.full((480, 640, 3), 235, np.uint8))

        assert reader.readout().number == ""
