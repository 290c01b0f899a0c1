"""Synthetic camera frames from real digits, the Y4M writer for Chromium's fake camera, and the dev-set figures."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from resources import require

from benchmarks.devsets import devsets_dir, load_usps
from benchmarks.measure import devset_scores, naive_inputs
from core.synth import FRAME_HEIGHT, FRAME_WIDTH, frames_from_digits, write_y4m

DEVSET_KEYS = {
    "n",
    "accuracy",
    "naive_accuracy",
    "no_digit_rate",
    "answered_at_0.6",
    "accuracy_when_answered_at_0.6",
    "expected_calibration_error",
}


@pytest.fixture(scope="module")
def frames(mnist):
    return frames_from_digits(mnist.x_test[:200], mnist.y_test[:200], 8, seed=3)


class TestFramesFromDigits:
    def test_frames_are_640_by_480_bgr_bytes(self, frames):
        assert len(frames) == 8
        for frame in frames:
            assert frame.image.shape == (FRAME_HEIGHT, FRAME_WIDTH, 3) == (480, 640, 3)
            assert frame.image.dtype == np.uint8

    def test_each_number_has_one_to_five_digits_from_the_labels(self, frames, mnist):
        labels = {str(label) for label in mnist.y_test[:200]}

        for frame in frames:
            assert 1 <= len(frame.number) <= 5
            assert set(frame.number) <= labels

    def test_frames_look_like_dark_ink_on_paper(self, frames):
        for frame in frames:
            grey = cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY)
            assert np.median(grey) > 120  # mostly paper
            assert np.percentile(grey, 0.1) < np.median(grey) - 60  # with dark strokes

    def test_same_seed_gives_the_same_frames(self, frames, mnist):
        again = frames_from_digits(mnist.x_test[:200], mnist.y_test[:200], 8, seed=3)

        assert [frame.number for frame in again] == [frame.number for frame in frames]
        assert all(np.array_equal(first.image, second.image) for first, second in zip(frames, again, strict=True))

    def test_the_recognizer_reads_most_frames(self, recognizer, frames):
        assert np.mean([recognizer.read(frame.image).number == frame.number for frame in frames]) >= 0.6


class TestWriteY4m:
    def test_writes_a_yuv4mpeg2_header_and_one_i420_picture_per_frame(self, frames, tmp_path):
        path = write_y4m([frame.image for frame in frames[:3]], tmp_path / "camera.y4m", fps=5)
        data = path.read_bytes()
        header, _, body = data.partition(b"\n")

        assert header.decode().split() == ["YUV4MPEG2", "W640", "H480", "F5:1", "Ip", "A1:1", "C420jpeg"]
        picture = 640 * 480 * 3 // 2  # full-size Y, quarter-size U and V
        assert len(body) == 3 * (len(b"FRAME\n") + picture)
        assert body.count(b"FRAME\n") >= 3 and body.startswith(b"FRAME\n")

    def test_luma_plane_is_the_frames_brightness_in_video_range(self, frames, tmp_path):
        path = write_y4m([frames[0].image], tmp_path / "camera.y4m")
        body = path.read_bytes().partition(b"\n")[2]
        luma = np.frombuffer(body[len(b"FRAME\n") : len(b"FRAME\n") + 640 * 480], np.uint8).reshape(480, 640)

        # BT.601 video range, which a Y4M reader assumes without a colour-range tag: black is 16, white 235.
        grey = cv2.cvtColor(frames[0].image, cv2.COLOR_BGR2GRAY).astype(float)
        assert np.abs(luma - (16 + grey * 219 / 255)).mean() < 1.5


class TestDevsetScores:
    @pytest.fixture(scope="class")
    def usps_scores(self, recognizer):
        require((devsets_dir() / "usps" / "zip.test.gz").exists(), f"No USPS dev set in {devsets_dir()}.")
        images, labels = load_usps("test")
        sample = np.random.default_rng(1).choice(len(labels), 100, replace=False)
        return devset_scores(recognizer, images[sample], labels[sample]), images[sample], labels[sample]

    def test_returns_the_documented_keys(self, usps_scores):
        scores, _, _ = usps_scores

        assert set(scores) == DEVSET_KEYS
        assert scores["n"] == 100

    def test_rates_are_fractions(self, usps_scores):
        scores, _, _ = usps_scores

        for key in DEVSET_KEYS - {"n"}:
            assert 0.0 <= scores[key] <= 1.0, key

    def test_accuracy_is_what_classify_reads(self, recognizer, usps_scores):
        scores, images, labels = usps_scores
        read = [recognizer.classify(image, min_confidence=0.0).digit for image in images]

        assert scores["accuracy"] == pytest.approx(np.mean(np.array(read) == labels))

    def test_naive_accuracy_is_the_whole_image_resize(self, recognizer, usps_scores):
        scores, images, labels = usps_scores
        naive = recognizer.raw_probabilities(naive_inputs(images)).argmax(axis=1)

        assert scores["naive_accuracy"] == pytest.approx(np.mean(naive == labels))


class TestNaiveInputs:
    def test_inverts_and_resizes_to_28_by_28(self):
        scans = np.full((3, 16, 16), 255, np.uint8)
        scans[:, 4:12, 7:9] = 0  # a dark vertical bar on white

        inputs = naive_inputs(scans)

        assert inputs.shape == (3, 28, 28) and inputs.dtype == np.float32
        assert inputs[:, 0, 0].max() == 0.0 and inputs[:, 14, 14].min() > 0.9
