"""Webcam in Chromium: a fake camera shows pen handwriting on squared paper; the live readout reads it until STOP."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

WEBRTC_FRAME = "iframe[title*='webrtc']"
# The share of the returned video's pixels painted in the ink colour (core.live.INK, orange), read in the page.
INK_SHARE = """() => {
    const frame = document.querySelector("iframe[title*='webrtc']");
    const video = frame?.contentDocument?.querySelector("video");
    if (!video?.videoWidth) return 0;
    const canvas = document.createElement("canvas");
    [canvas.width, canvas.height] = [video.videoWidth, video.videoHeight];
    const context = canvas.getContext("2d");
    context.drawImage(video, 0, 0);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let ink = 0;
    for (let i = 0; i < pixels.length; i += 4) {
        if (pixels[i] > 200 && pixels[i + 1] > 90 && pixels[i + 1] < 190 && pixels[i + 2] < 90) ink++;
    }
    return ink / (pixels.length / 4);
}"""


@pytest.fixture(scope="module")
def streaming(module_app):
    """Webcam with the camera started: START pressed inside streamlit-webrtc's frame."""
    app = module_app.open("webcam")
    app.page.frame_locator(WEBRTC_FRAME).get_by_role("button", name="START").click()
    return app


class TestLiveWebcam:
    def test_the_number_held_up_to_the_camera_is_read(self, streaming, camera_shot):
        # The fake camera plays `camera_shot`, ballpoint on squared paper, which the reader reads right on its own (the
        # fixture asserts it); the page must show that number after the frames have been through WebRTC and back.
        assert (camera_shot.conditions.ink, camera_shot.conditions.paper) == ("ballpoint", "squared")
        expect(streaming.keyed("webcam-number")).to_have_text(camera_shot.number)
        assert not streaming.exceptions().count()
        streaming.wait_until_idle()
        streaming.screenshot("webcam")

    def test_it_says_how_to_hold_the_sheet(self, streaming):
        expect(streaming.page.get_by_text("Hold the sheet flat and close, so it fills the frame")).to_be_visible()

    def test_the_video_comes_back_from_the_server(self, streaming, camera_number):
        expect(streaming.keyed("webcam-number")).to_have_text(camera_number)
        video = streaming.page.frame_locator(WEBRTC_FRAME).locator("video")
        expect(video).to_be_visible()
        assert video.evaluate("video => video.videoWidth") > 0

    def test_show_the_ink_found_paints_the_ink_on_the_video_and_keeps_the_reading(self, streaming, camera_number):
        expect(streaming.keyed("webcam-number")).to_have_text(camera_number)
        assert streaming.page.evaluate(INK_SHARE) < 0.002  # the frame as the camera gave it, with boxes, has no orange
        streaming.keyed("webcam_show_ink").get_by_text("Show the ink found").click()
        streaming.page.wait_for_function(f"({INK_SHARE})() > 0.005", polling=250)  # about 3% of this frame is ink found
        expect(streaming.keyed("webcam-number")).to_have_text(camera_number)
        assert not streaming.exceptions().count()
        streaming.keyed("webcam_show_ink").get_by_text("Show the ink found").click()
        streaming.page.wait_for_function(f"({INK_SHARE})() < 0.002", polling=250)

    def test_stop_ends_the_reading_without_an_error(self, streaming, camera_number):
        expect(streaming.keyed("webcam-number")).to_have_text(camera_number)
        streaming.page.frame_locator(WEBRTC_FRAME).get_by_role("button", name="STOP").click()
        expect(streaming.page.get_by_text("Press START and allow the camera.")).to_be_visible()
        streaming.wait_until_idle()
        assert streaming.shown_text("webcam-number") == ""
        assert not streaming.exceptions().count()
        expect(streaming.page.frame_locator(WEBRTC_FRAME).get_by_role("button", name="START")).to_be_visible()
