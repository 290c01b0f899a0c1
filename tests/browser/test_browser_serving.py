"""A fresh server serves Draw and Webcam with the light runtime: TensorFlow is never loaded until someone asks for gradients."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect
from test_browser_draw import draw_with_mouse, open_draw, strokes_for
from test_browser_webcam import WEBRTC_FRAME

from benchmarks.children import process_memory_mb

pytestmark = pytest.mark.browser

TENSORFLOW_LIBRARY = "libtensorflow_framework"  # mapped into a process by `import tensorflow`, never by LiteRT
# Mapped by `import pandas` and `import pyarrow` (75 MB together): Streamlit imported both to ask whether the
# canvas's drawing was a dataframe (pages/ui/routing.py answers for plain data). The webcam's component imports pyarrow.
TABLE_LIBRARIES = ("pandas/_libs", "libarrow")
SESSIONS = 4  # webcam sessions opened and closed after the first
# The server's RSS after them may exceed its RSS after the first by this much (today: within about 20 MB once freed
# memory is given back; without that, each session kept 10-50 MB).
SESSIONS_MARGIN_MB = 100
GIVEN_BACK_WITHIN = 60.0  # seconds: core/memory.py gives freed memory back every 5 s


def tensorflow_loaded(pid: int) -> bool:
    """Whether the process has TensorFlow's shared library in its memory (read from its memory maps)."""
    return TENSORFLOW_LIBRARY in Path(f"/proc/{pid}/maps").read_text()


def table_libraries_loaded(pid: int) -> list[str]:
    """Which of pandas's and pyarrow's shared libraries the process has in its memory."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return [library for library in TABLE_LIBRARIES if library in maps]


def test_the_check_sees_tensorflow_in_a_process_that_imported_it():
    import tensorflow  # noqa: F401  (this test process has it already: conftest's recognizer explains with it)

    assert tensorflow_loaded(os.getpid())


def test_the_check_sees_pandas_and_pyarrow_in_a_process_that_imported_them():
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401

    assert table_libraries_loaded(os.getpid()) == list(TABLE_LIBRARIES)


@pytest.fixture(scope="module")
def served(chromium, mnist, tmp_path_factory):
    """A server no one has visited, and one tab on it: Draw read a 7, then Webcam read the camera's number."""
    from conftest import App, _start_server

    server = _start_server(tmp_path_factory.mktemp("light-server"))
    context = chromium.new_context(viewport={"width": 1280, "height": 1000}, permissions=["camera"])
    app = App(context.new_page(), server)
    yield app
    context.close()
    server.stop()


class TestAFreshServer:
    def test_draw_reads_a_digit_without_tensorflow(self, served):
        open_draw(served)
        draw_with_mouse(served.page, strokes_for("7"))
        expect(served.keyed("draw-digit")).to_have_text("7")
        served.wait_until_idle()
        assert not served.exceptions().count()
        assert not tensorflow_loaded(served.server.process.pid)
        assert not table_libraries_loaded(served.server.process.pid)

    def test_webcam_reads_the_camera_without_tensorflow(self, served, camera_number):
        served.open("webcam")
        served.page.frame_locator(WEBRTC_FRAME).get_by_role("button", name="START").click()
        expect(served.keyed("webcam-number")).to_have_text(camera_number)
        served.page.frame_locator(WEBRTC_FRAME).get_by_role("button", name="STOP").click()
        served.wait_until_idle()
        assert not served.exceptions().count()
        assert not tensorflow_loaded(served.server.process.pid)


def rss_mb(pid: int) -> float:
    return process_memory_mb(pid)[1]


def test_webcam_sessions_opened_and_closed_do_not_grow_the_server(served, chromium, camera_number):
    """A first session loads the video libraries; after it, more sessions come and go and the memory comes back."""
    pid = served.server.process.pid
    first = 0.0
    for session in range(1 + SESSIONS):
        context = chromium.new_context(viewport={"width": 1280, "height": 1000}, permissions=["camera"])
        visitor = type(served)(context.new_page(), served.server).open("webcam")
        visitor.page.frame_locator(WEBRTC_FRAME).get_by_role("button", name="START").click()
        expect(visitor.keyed("webcam-number")).to_have_text(camera_number)
        visitor.page.frame_locator(WEBRTC_FRAME).get_by_role("button", name="STOP").click()
        expect(visitor.page.get_by_text("Press START and allow the camera.")).to_be_visible()
        context.close()
        first = first if session else rss_mb(pid)
    deadline = time.monotonic() + GIVEN_BACK_WITHIN  # a wait for the memory to come back, not a timing
    while rss_mb(pid) > first + SESSIONS_MARGIN_MB and time.monotonic() < deadline:
        time.sleep(1.0)

    assert rss_mb(pid) <= first + SESSIONS_MARGIN_MB, f"{rss_mb(pid):.0f} MB after {SESSIONS} more sessions, {first:.0f} MB after the first"
