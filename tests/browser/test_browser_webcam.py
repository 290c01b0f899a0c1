"""Webcam in Chromium: a fake camera shows real handwritten MNIST digits; the live readout reads them until STOP."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

WEBRTC_FRAME = "iframe[title*='webrtc']"


@pytest.fixture(scope="module")
def streaming(module_app):
    """Webcam with the camera started: START pressed inside streamlit-webrtc's frame."""
    app = module_app.open("webcam")
    app.page.frame_locator(WEBRTC_FRAME).get_by_role("button", name="START").click()
    return app


class TestLiveWebcam:
    def test_the_number_held_up_to_the_camera_is_read(self, streaming, camera_number):
        expect(streaming.keyed("webcam-number")).to_have_text(camera_number)
        assert not streaming.exceptions().count()
        streaming.wait_until_idle()
        streaming.screenshot("webcam")

    def test_the_video_comes_back_from_the_server(self, streaming, camera_number):
        expect(streaming.keyed("webcam-number")).to_have_text(camera_number)
        video = streaming.page.frame_locator(WEBRTC_FRAME).locator("video")
        expect(video).to_be_visible()
        assert video.evaluate("video => video.videoWidth") > 0

    def test_stop_ends_the_reading_without_an_error(self, streaming, camera_number):
        expect(streaming.keyed("webcam-number")).to_have_text(camera_number)
        streaming.page.frame_locator(WEBRTC_FRAME).get_by_role("button", name="STOP").click()
        expect(streaming.page.get_by_text("Press START and allow the camera.")).to_be_visible()
        streaming.wait_until_idle()
        assert streaming.shown_text("webcam-number") == ""
        assert not streaming.exceptions().count()
        expect(streaming.page.frame_locator(WEBRTC_FRAME).get_by_role("button", name="START")).to_be_visible()
