"""Browser fixtures: the app served by `streamlit run app.py` on a free port, driven in Debian's Chromium by Playwright.

The server and the browser are started by benchmarks/harness.py, which the bench uses too.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from resources import require

from benchmarks import harness
from benchmarks.harness import CHROMIUM, ServerError

# Screenshots go to a scratch folder, so that running the tests leaves the checkout as it was; the README's pictures
# are refreshed on purpose: DIGIT_LAB_SCREENSHOTS=docs/screenshots python -m pytest tests/browser
SCREENSHOTS = Path(os.environ.get("DIGIT_LAB_SCREENSHOTS") or Path(tempfile.gettempdir()) / "digit-lab-screenshots").resolve()
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
WAIT_MS = 240_000  # a first page imports TensorFlow and loads the model; a busy machine makes that slow
EXPECT_MS = 120_000  # an answer on the page (a reading, a message) on a busy machine
CAMERA_NUMBER = "307"  # what the fake camera shows, written with real MNIST test digits
# The sheet the fake camera shows: tilted 16 degrees, defocused, the desk beyond its edge. The first seed whose frame
# the reader read right when it was chosen (7 of seeds 0-11 were); `camera_shot` asserts that it still does.
CAMERA_SEED = 2
CAMERA_FRAMES = 10  # 1 s at 10 fps of the sheet held still, played in a loop

expect.set_options(timeout=EXPECT_MS)
_running: list[AppServer] = []  # servers of this test run that are still up, for the logs of a failed test


class AppServer(harness.AppServer):
    """The harness's server, listed while it runs so that a failed test reports its log."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        _running.append(self)

    def wait_until_healthy(self) -> None:
        try:
            self.wait_for("/_stcore/health")
        except ServerError as error:
            pytest.fail(str(error))

    def stop(self) -> None:
        _running.remove(self)
        super().stop()


def _start_server(folder: Path) -> AppServer:
    server = AppServer(folder)
    server.wait_until_healthy()
    return server


class App:
    """A browser tab on the app with the waits every test needs (on page state, never on the clock)."""

    def __init__(self, page: Page, server: AppServer) -> None:
        self.page = page
        self.server = server

    def open(self, path: str = "") -> App:
        """Go to a page by its URL (e.g. "draw") and wait until its script has run."""
        self.page.goto(f"{self.server.url}/{path}")
        self.wait_until_idle()
        return self

    def wait_until_idle(self) -> None:
        self.page.wait_for_selector(IDLE, timeout=WAIT_MS)

    def keyed(self, key: str) -> Locator:
        """The element drawn with `key=key` (Streamlit renders it with the CSS class st-key-<key>)."""
        return self.page.locator(f".st-key-{key}")

    def shown_text(self, key: str) -> str:
        """The text of a keyed container, "" when it is empty (Streamlit may then leave it out of the page)."""
        container = self.keyed(key)
        return container.inner_text().strip() if container.count() else ""

    def navigation(self) -> list[str]:
        """The page names in the sidebar navigation, in order."""
        return [text.split("\n")[-1].strip() for text in self.page.locator("[data-testid='stSidebarNav'] a").all_inner_texts()]

    def cut_off_texts(self) -> list[str]:
        """Texts of the main area cut short with an ellipsis ("Start traini…") because their element is too narrow."""
        return self.page.get_by_test_id("stMain").evaluate(
            """main => Array.from(main.querySelectorAll('*'))
                .filter(element => getComputedStyle(element).textOverflow === 'ellipsis' && element.scrollWidth > element.clientWidth)
                .map(element => element.textContent.trim())
                .filter(text => text !== '')"""
        )

    def exceptions(self) -> Locator:
        return self.page.locator("[data-testid='stException']")

    def screenshot(self, name: str, element: Locator | None = None) -> Path:
        """The tab as shown, or only `element`: one view, in 256 colours, a small picture for the README."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.mouse.move(0, 0)  # no hover effects (the video's controls) in the picture
        if element is None:
            self.page.screenshot(path=path)
            return path
        from PIL import Image

        element.screenshot(path=path)
        # A map of 5,000 translucent dots made a 210 KB picture; its palette of 256 colours looks the same at a third.
        Image.open(path).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
        return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed browser test reports the end of each running server's log (tracebacks from the app land there)."""
    report = yield
    if report.failed:
        for server in _running:
            report.sections.append((f"streamlit log ({server.url})", server.log()))
    return report


def require_chromium() -> None:
    """Skip without Chromium on a user's machine; under CI=true a missing browser fails the run instead."""
    require(
        CHROMIUM.exists(),
        f"Chromium is not installed at {CHROMIUM}: install it with `apt-get install -y chromium` (the tests never download a browser)",
    )


@pytest.fixture(scope="session")
def camera_shot(mnist, recognizer):
    """The webcam frame the fake camera plays: 307 in real MNIST test digits retraced in ballpoint on squared paper.

    The browser tests check that the page shows what the reader reads, through the browser, WebRTC and the server;
    they rely on the reader reading this frame right, which is asserted here. How often it reads such frames right
    is the camera benchmark's question (benchmarks/measure.py), not theirs.
    """
    from core.camera import camera_frame

    digits = [mnist.x_test[np.flatnonzero(mnist.y_test == int(character))[0]] for character in CAMERA_NUMBER]
    labels = [int(character) for character in CAMERA_NUMBER]
    shot = camera_frame(digits, labels, np.random.default_rng(CAMERA_SEED), ink="ballpoint", paper="squared", rows=1)
    read = recognizer.read(shot.image).number
    assert shot.number == CAMERA_NUMBER
    assert read == shot.number, (
        f"precondition: the reader reads the fake camera's frame (seed {CAMERA_SEED}) as {read!r}, not {shot.number!r}"
    )
    return shot


@pytest.fixture(scope="session")
def camera_video(camera_shot, tmp_path_factory) -> Path:
    """A .y4m video for the fake camera: `camera_shot`, a sheet held still, frame after frame."""
    from core.synth import write_y4m

    return write_y4m([camera_shot.image] * CAMERA_FRAMES, tmp_path_factory.mktemp("camera") / f"{CAMERA_NUMBER}.y4m", fps=10)


@pytest.fixture(scope="session")
def camera_number(camera_shot) -> str:
    """The number the fake camera shows (read right from its frame before any browser starts)."""
    return camera_shot.number


@pytest.fixture(scope="session")
def chromium(camera_video) -> Iterator[Browser]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = harness.launch_chromium(playwright, camera_video)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def app_server(mnist, tmp_path_factory) -> Iterator[AppServer]:
    """One server shared by the tests of a module (each test has its own browser context, so its own session)."""
    server = _start_server(tmp_path_factory.mktemp("server"))
    yield server
    server.stop()


@pytest.fixture
def fresh_server(mnist, tmp_path_factory) -> Iterator[Callable[[], AppServer]]:
    """Start servers that no browser has visited yet (for journeys that begin on a direct URL)."""
    servers: list[AppServer] = []

    def start() -> AppServer:
        servers.append(_start_server(tmp_path_factory.mktemp("fresh-server")))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def new_page(chromium) -> Iterator[Callable[..., Page]]:
    """Open tabs in new browser contexts (new Streamlit sessions); pass Playwright context options to change the device."""
    contexts = []

    def open_page(**options) -> Page:
        context = chromium.new_context(**{"viewport": {"width": 1280, "height": 1000}, "permissions": ["camera"], **options})
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def new_app(new_page, request) -> Callable[..., App]:
    """Open the app in new tabs: on `server` (default: this module's server), with Playwright context options."""

    def open_app(server: AppServer | None = None, **options) -> App:
        return App(new_page(**options), server or request.getfixturevalue("app_server"))

    return open_app


@pytest.fixture
def app(new_app) -> App:
    """A laptop-sized tab on this module's server."""
    return new_app()


@pytest.fixture(scope="module")
def module_app(chromium, app_server) -> Iterator[App]:
    """One tab kept for all the tests of a module: a journey told in steps (start, watch, stop)."""
    context = chromium.new_context(viewport={"width": 1280, "height": 1000}, permissions=["camera"])
    context.set_default_timeout(WAIT_MS)
    yield App(context.new_page(), app_server)
    context.close()
