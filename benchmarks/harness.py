"""The running app, for the browser tests and the bench: `streamlit run app.py` on a free port, and Debian's Chromium."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; Playwright's own browser download is never used
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
    # A fake camera that plays a video file, allowed without a permission prompt.
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
SERVER_START_SECONDS = 180.0  # `streamlit run` answering its health check on a busy 2-core machine


class ServerError(RuntimeError):
    """The Streamlit server exited or did not answer in time; the message ends with the end of its log."""


def free_port() -> int:
    """A TCP port on localhost that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return int(probe.getsockname()[1])


class AppServer:
    """One `streamlit run app.py` process on its own port, with its user-models folder and log in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.url = f"http://localhost:{self.port}"
        self.log_path = folder / "streamlit.log"
        environment = {**os.environ, "MNIST_USER_MODELS": str(folder / "user_models")}
        command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(self.port)]
        command += ["--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
        self.launched = time.perf_counter()  # the bench times start-up from here
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_for(self, path: str = "/_stcore/health", timeout: float = SERVER_START_SECONDS, poll: float = 0.25) -> float:
        """Poll `path` until it answers HTTP 200. -> seconds since the server was launched; ServerError otherwise."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"streamlit exited with code {self.process.returncode}:\n{self.log()}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.url}{path}", timeout=5) as response:
                if response.status == 200:
                    return time.perf_counter() - self.launched
            time.sleep(poll)
        raise ServerError(f"streamlit did not answer {self.url}{path} within {timeout:.0f} s:\n{self.log()}")

    def log(self) -> str:
        """The end of the server's output (tracebacks from the app land there)."""
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)

    def __enter__(self) -> AppServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None) -> None:
        self.stop()


def chromium_available() -> bool:
    """Debian's Chromium is installed and Playwright can drive it."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return CHROMIUM.exists()


def launch_chromium(playwright: Playwright, camera_video: Path) -> Browser:
    """Headless Chromium whose camera plays `camera_video` (a .y4m file) and needs no permission prompt."""
    arguments = [*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={camera_video}"]
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=arguments)
