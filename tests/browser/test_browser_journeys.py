"""Journeys on a freshly started server: every page opened by its URL, and the webcam after Draw loaded TensorFlow."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

APP_NAVIGATION = ["Home", "Draw", "Webcam", "My handwriting", "Train", "Evaluate"]
URLS = {"Home": "", "Draw": "draw", "Webcam": "webcam", "My handwriting": "my-handwriting", "Train": "train", "Evaluate": "evaluate"}
HEADINGS = {
    "Home": "✍️ Digit Lab",
    "Draw": "Draw",
    "Webcam": "Webcam",
    "My handwriting": "My handwriting",
    "Train": "Train",
    "Evaluate": "Evaluate",
}
SHIPPED = "Shipped: mnist_cnn.keras"
WEBRTC_FRAME = "iframe[title*='webrtc']"


class TestDirectUrlOnAFreshServer:
    # NOTE: with a pages/ folder, Streamlit runs the first page of a fresh server in its legacy file-based mode
    # (navigation "app, draw, evaluate, ..."; no app.py, so no model picker) unless pages/ui/routing.py reroutes it.
    @pytest.mark.parametrize("name", URLS)
    def test_shows_the_page_with_the_apps_navigation_and_model_picker(self, new_app, fresh_server, name):
        app = new_app(fresh_server()).open(URLS[name])
        expect(app.page.locator("h1").first).to_have_text(HEADINGS[name])
        expect(app.page.get_by_test_id("stSidebar").get_by_role("combobox", name="Active model")).to_have_value(SHIPPED)
        assert app.navigation() == APP_NAVIGATION
        assert not app.exceptions().count()


class TestOneServer:
    def test_the_webcam_reads_digits_after_draw_loaded_tensorflow(self, new_app, fresh_server, camera_number):
        # NOTE: importing TensorFlow and then aiortc's pylibsrtp crashes or hangs a process; core/__init__.py loads
        # pylibsrtp first. Draw is the first page this server runs, so TensorFlow is in before Webcam needs WebRTC.
        server = fresh_server()
        app = new_app(server).open("draw")
        canvas = app.page.locator("canvas.upper-canvas").bounding_box()
        app.page.mouse.move(canvas["x"] + 55, canvas["y"] + 80)
        app.page.mouse.down()
        for x, y in ((130, 80), (85, 210)):  # a 7
            app.page.mouse.move(canvas["x"] + x, canvas["y"] + y, steps=6)
        app.page.mouse.up()
        expect(app.keyed("draw-digit")).to_have_text("7")

        app.page.get_by_test_id("stSidebarNav").get_by_role("link", name="Webcam").click()
        expect(app.page.locator("h1").first).to_have_text("Webcam")
        app.page.frame_locator(WEBRTC_FRAME).get_by_role("button", name="START").click()
        expect(app.keyed("webcam-number")).to_have_text(camera_number)
        assert not app.exceptions().count()
        assert server.process.poll() is None, "the server process died"
