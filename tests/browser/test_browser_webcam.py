"""Webcam in Chromium: a fake camera shows real handwritten MNIST digits; the live readout reads them until STOP."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

CAMERA_NUMBER = "307"  # the number in the fake camera's video (see camera_video in conftest.py)
WEBRTC_FRAME = "iframe[title*='webrtc']"


def start_camera(app) -> None:
    """Open Webcam, press START inside streamlit-webrtc's frame and wait until the camera's number is read."""
    app.open("webcam")
    app.page.frame_locator(WEBRTC_FRAME).get_by_role("button", name="START").click()
    expect(app.keyed("webcam-number")).to_have_text(CAMERA_NUMBER)


class TestWebcam:
    def test_the_number_held_up_to_the_camera_is_read(self, app):
        start_camera(app)
        assert not app.exceptions().count()
        app.wait_until_idle()
        app.screenshot("webcam")

    def test_the_video_shows_the_camera_frames(self, app):
        start_camera(app)
        video = app.page.frame_locator(WEBRTC_FRAME).locator("video")
        expect(video).to_be_visible()
        assert video.evaluate("video => video.videoWidth") > 0

    def test_stop_ends_the_reading_without_an_error(self, app):
        start_camera(app)
        app.page.frame_locator(WEBRTC_FRAME).get_by_role("button", name="STOP").click()
        expect(app.page.get_by_text("Press START and allow the camera.")).to_be_visible()
        app.wait_until_idle()
        assert app.shown_text("webcam-number") == ""
        assert not app.exceptions().count()
        expect(app.page.frame_locator(WEBRTC_FRAME).get_by_role("button", name="START")).to_be_visible()
