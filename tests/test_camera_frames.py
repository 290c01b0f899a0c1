"""The honest camera benchmark's parts: pens that draw like pens, webcam frames of notebooks, and its scoring."""

from __future__ import annotations

import dataclasses
import subprocess

import cv2
import numpy as np
import pytest

from benchmarks.camera_baseline import BASELINE_REF, baseline_readings
from benchmarks.measure import CONDITION_VALUES, condition_table, realistic_scores
from core.camera import FRAME_HEIGHT, FRAME_WIDTH, camera_frame, camera_frames
from core.clips import camera_clips
from core.pens import PEN_KINDS, pen_digit, random_pen, skeleton_segments
from core.preprocess import stroke_width
from core.synth import frames_from_digits


@pytest.fixture(scope="module")
def sources(mnist):
    return {"mnist": (mnist.x_test[:300], mnist.y_test[:300])}


@pytest.fixture(scope="module")
def frames(sources):
    return camera_frames(sources, 12, seed=5)


class TestPens:
    def test_a_skeleton_runs_through_the_digit_and_spans_its_height(self, mnist):
        segments = skeleton_segments(mnist.x_test[0])

        assert len(segments) > 20
        # The centre line stops half a stroke short of the ink's top and bottom.
        assert 0.0 <= segments[:, [1, 3]].min() <= 0.15 and 0.85 <= segments[:, [1, 3]].max() <= 1.0

    def test_a_blank_image_has_no_skeleton(self):
        assert skeleton_segments(np.zeros((28, 28), np.uint8)).shape == (0, 4)

    @pytest.mark.parametrize("kind", ["ballpoint", "pencil"])
    def test_ballpoint_and_pencil_draw_lines_one_to_three_pixels_wide(self, mnist, kind):
        rng = np.random.default_rng(0)
        widths = []
        for image in mnist.x_test[:20]:
            coverage = pen_digit(image, 90, random_pen(kind, 90, rng), rng)
            widths.append(stroke_width((coverage > 0.3).astype(np.uint8)))

        assert 1.0 <= np.median(widths) <= 3.5

    def test_a_marker_draws_several_times_wider_than_a_ballpoint(self, mnist):
        rng = np.random.default_rng(0)
        digit = mnist.x_test[3]

        marker = stroke_width((pen_digit(digit, 100, random_pen("marker", 100, rng), rng) > 0.3).astype(np.uint8))
        ballpoint = stroke_width((pen_digit(digit, 100, random_pen("ballpoint", 100, rng), rng) > 0.3).astype(np.uint8))

        assert marker > 2 * ballpoint

    def test_pencil_is_30_to_60_grey_levels_darker_than_paper(self):
        rng = np.random.default_rng(1)
        for _ in range(50):
            pen = random_pen("pencil", 80, rng)
            assert 30 <= 230 * (1 - pen.colour[0]) <= 60


class TestCameraFrames:
    def test_frames_are_640_by_480_bgr_and_hold_one_to_seven_digits(self, frames):
        for frame in frames:
            assert frame.image.shape == (FRAME_HEIGHT, FRAME_WIDTH, 3) and frame.image.dtype == np.uint8
            assert 1 <= len(frame.number.replace(" ", "")) <= 7
            assert len(frame.boxes) == len(frame.number.replace(" ", ""))

    def test_two_rows_are_written_with_a_space_between_them(self, sources):
        frame = camera_frame(list(sources["mnist"][0][:4]), [1, 2, 3, 4], np.random.default_rng(2), rows=2)

        assert frame.number == "12 34" and frame.conditions.rows == 2

    def test_each_box_holds_its_digit_in_the_frame(self, frames):
        for frame in frames:
            grey = cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY).astype(np.float32)
            for x, y, width, height in frame.boxes:
                assert x >= 0 and y >= 0 and x + width <= FRAME_WIDTH and y + height <= FRAME_HEIGHT
                inside = grey[y : y + height, x : x + width]
                assert inside.min() < np.percentile(inside, 90) - 8  # ink darker than the paper around it

    def test_the_same_seed_gives_the_same_frames(self, sources, frames):
        again = camera_frames(sources, 12, seed=5)

        assert [frame.number for frame in again] == [frame.number for frame in frames]
        assert all(np.array_equal(first.image, second.image) for first, second in zip(frames, again, strict=True))

    def test_the_ink_answer_lies_in_the_digits_boxes_and_leaves_the_frame_as_it_was(self, sources, frames):
        inked = camera_frames(sources, 12, seed=5, with_ink=True)

        for plain, frame in zip(frames, inked, strict=True):
            assert plain.ink is None and np.array_equal(plain.image, frame.image)
            outside = frame.ink > 0
            for x, y, width, height in frame.boxes:
                assert frame.ink[y : y + height, x : x + width].max() > 127  # the pen covers most of a pixel there
                outside[max(0, y - 2) : y + height + 2, max(0, x - 2) : x + width + 2] = False
            assert not outside.any()  # no ink in the answer beyond the digits

    def test_conditions_are_recorded_as_drawn(self, sources):
        for ink in PEN_KINDS:
            for paper in ("plain", "squared", "ruled"):
                frame = camera_frame(list(sources["mnist"][0][:2]), [0, 1], np.random.default_rng(3), ink=ink, paper=paper)
                assert (frame.conditions.ink, frame.conditions.paper) == (ink, paper)
                assert 40 <= frame.conditions.digit_height <= 140 and 0 <= frame.conditions.tilt <= 25


class TestSheetSeenWhole:
    def test_a_small_sheet_is_seen_whole_with_the_world_around_it(self, sources):
        rng = np.random.default_rng(4)
        small = camera_frame(list(sources["mnist"][0][:2]), [7, 2], rng, whole_sheet=True, with_ink=True)

        assert small.conditions.whole_sheet and small.conditions.desk
        grey = cv2.cvtColor(small.image, cv2.COLOR_BGR2GRAY)
        ring = np.concatenate([grey[:4].ravel(), grey[-4:].ravel(), grey[:, :4].ravel(), grey[:, -4:].ravel()])
        assert np.median(ring) < np.percentile(grey, 90) - 20  # the frame's edge shows the desk, not paper
        for x, y, width, height in small.boxes:  # the digits still lie inside the frame
            assert small.ink[y : y + height, x : x + width].max() > 127


class TestClips:
    """A hand holding one sheet before the camera for half a second (`core.clips`)."""

    @pytest.fixture(scope="class")
    def clip(self, sources):
        return camera_clips(sources, 1, seed=8, frames=6)[0]

    def test_every_frame_shows_the_same_sheet_under_the_same_camera(self, clip):
        assert len(clip) == 6
        assert {frame.number for frame in clip} == {clip[0].number}
        # the same thumb, light, blur and sensor for the whole clip (the desk may come into view as the sheet moves)
        assert {dataclasses.replace(frame.conditions, desk=False) for frame in clip} == {
            dataclasses.replace(clip[0].conditions, desk=False)
        }

    def test_frames_differ_and_the_sheet_moves_only_a_little(self, clip):
        for before, after in zip(clip, clip[1:], strict=False):
            assert not np.array_equal(before.image, after.image)  # new noise, new JPEG blocks, a hand that moved
            for (x0, y0, _, _), (x1, y1, _, _) in zip(before.boxes, after.boxes, strict=True):
                assert abs(x1 - x0) <= 8 and abs(y1 - y0) <= 8
        first, last = np.array(clip[0].boxes), np.array(clip[-1].boxes)
        assert np.abs(last[:, :2] - first[:, :2]).max() >= 1  # over the clip, the sheet has moved

    def test_a_frame_of_a_clip_looks_like_a_single_frame(self, clip):
        grey = [cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY).astype(np.float32) for frame in clip]
        for frame, image in zip(clip, grey, strict=True):
            for x, y, width, height in frame.boxes:
                inside = image[y : y + height, x : x + width]
                assert inside.min() < np.percentile(inside, 90) - 8  # the digits are in every frame

    def test_the_same_seed_gives_the_same_clip(self, sources, clip):
        again = camera_clips(sources, 1, seed=8, frames=6)[0]

        assert all(np.array_equal(first.image, second.image) for first, second in zip(clip, again, strict=True))


class TestScoring:
    def test_condition_table_counts_frames_and_right_answers_per_value(self, frames):
        right = np.array([index % 2 == 0 for index in range(len(frames))])

        table = condition_table(frames, right)

        assert set(table) == set(CONDITION_VALUES)
        for rows in table.values():
            assert sum(row["n"] for row in rows.values()) == len(frames)
        inks = [frame.conditions.ink for frame in frames]
        for ink, row in table["ink"].items():
            chosen = np.array([each == ink for each in inks])
            assert row["exact_number_accuracy"] == pytest.approx(right[chosen].mean())

    def test_realistic_scores_report_exact_numbers_and_latency(self, recognizer, frames):
        scores = realistic_scores(recognizer, frames)

        expected = np.mean([recognizer.read(frame.image).number == frame.number for frame in frames])
        assert scores["n"] == len(frames) and scores["exact_number_accuracy"] == pytest.approx(expected)
        assert 0 < scores["read_ms_p50"] <= scores["read_ms_p95"]


class TestBaseline:
    def test_the_baseline_commit_reads_frames_in_its_own_engine(self, mnist):
        if subprocess.run(["git", "cat-file", "-e", f"{BASELINE_REF}^{{commit}}"], capture_output=True).returncode != 0:
            pytest.skip(f"commit {BASELINE_REF} is not in this clone's history")
        # The frames that method was built for (MNIST digits scaled up on paper), which it read 96% right.
        easy = frames_from_digits(mnist.x_test[:200], mnist.y_test[:200], 4, seed=3)
        blank = np.full((FRAME_HEIGHT, FRAME_WIDTH, 3), 235, np.uint8)

        numbers = baseline_readings(np.stack([frame.image for frame in easy] + [blank]))

        assert len(numbers) == 5 and numbers[-1] == ""
        assert sum(number == frame.number for number, frame in zip(numbers, easy, strict=False)) >= 3
