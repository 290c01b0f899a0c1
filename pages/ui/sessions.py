"""What belongs to one visitor (uploaded and trained models, session state): a folder per session, all removed after it ends."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from core.modelfile import user_models_dir
from pages.ui import routing


def _seconds(variable: str, default: float) -> float:
    """A number of seconds from the environment (tests shorten the waits), else `default`."""
    try:
        return max(float(os.environ.get(variable, default)), 0.0)
    except ValueError:
        return default


# A reload or a dropped connection that comes back within this keeps its models.
GRACE_SECONDS = _seconds("DIGIT_LAB_SESSION_GRACE_SECONDS", 60.0)
SWEEP_SECONDS = _seconds("DIGIT_LAB_SWEEP_SECONDS", 15.0)  # how often the server looks for ended sessions and left-over files
PARTIAL_AGE_SECONDS = 3600.0  # a hidden temporary file this old belongs to a killed save or upload
# Models kept per session and for the whole server; beyond either, the oldest model files go first.
MAX_SESSION_MODELS = 8
MAX_SESSION_BYTES = 200 * 2**20
MAX_SERVER_BYTES = 1024 * 2**20
MAX_LOADED_MODELS = 3  # a session's own models held loaded in its memory (each up to ~200 MB for the largest)
_absent_since: dict[str, float] = {}  # session id -> when the sweeper first saw it without a browser


def sessions_dir() -> Path:
    return user_models_dir() / "sessions"


def session_folder() -> Path:
    """This session's own folder; no other session lists, loads or downloads what is in it."""
    folder = sessions_dir() / routing.session_id()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def owner_alive() -> Callable[[], bool]:
    """A test, callable from any thread, of whether this session's browser is still connected (for a training)."""
    session = routing.session_id()
    return lambda: routing.session_is_connected(session)


def owns(path: str | Path) -> bool:
    """Whether `path` is one of this session's files (its models live in its own memory, not the shared cache)."""
    return Path(path).parent == sessions_dir() / routing.session_id()


def sweep(now: float | None = None) -> list[Path]:
    """Remove the folders of sessions gone for GRACE_SECONDS and stale hidden temporary files; -> what was removed.

    Sessions gone that long are closed too: Streamlit drops their state (their models in memory, photos, samples)
    and their media files, so a download link stops working.
    """
    now = time.time() if now is None else now
    close_absent_sessions(now)
    removed: list[Path] = []
    if sessions_dir().is_dir():
        for folder in sessions_dir().iterdir():
            if folder.is_dir() and routing.session_is_connected(folder.name):
                folder.touch()  # its modification time is when the session was last seen
            elif now - folder.stat().st_mtime > GRACE_SECONDS:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    for pattern in (".*.partial", ".*-*.keras", "*/.*.partial", "*/.*-*.keras", "*/*/.*-*.keras"):
        for partial in user_models_dir().glob(pattern):
            with contextlib.suppress(OSError):
                if now - partial.stat().st_mtime > PARTIAL_AGE_SECONDS:
                    partial.unlink()
                    removed.append(partial)
    return removed + enforce_caps()


def close_absent_sessions(now: float) -> list[str]:
    """Close the sessions without a browser for GRACE_SECONDS (Streamlit alone keeps them for 2 minutes, or longer)."""
    absent = set(routing.disconnected_sessions())
    for session in list(_absent_since):
        if session not in absent:
            del _absent_since[session]
    closed = []
    for session in absent:
        if now - _absent_since.setdefault(session, now) >= GRACE_SECONDS:
            routing.close_session(session)
            del _absent_since[session]
            closed.append(session)
    return closed


def _models_in(folder: Path) -> list[Path]:
    """The model files in `folder`, oldest first (hidden files being written are not counted)."""
    with contextlib.suppress(OSError):
        files = [path for path in folder.iterdir() if path.is_file() and not path.name.startswith(".")]
        return sorted(files, key=lambda path: path.stat().st_mtime)
    return []


def enforce_caps() -> list[Path]:
    """Remove the oldest models beyond MAX_SESSION_MODELS or MAX_SESSION_BYTES in a session, MAX_SERVER_BYTES in all."""
    removed: list[Path] = []
    everyone: list[Path] = []
    folders = [folder for folder in sessions_dir().iterdir() if folder.is_dir()] if sessions_dir().is_dir() else []
    for folder in folders:
        files = _models_in(folder)
        while files and (len(files) > MAX_SESSION_MODELS or sum(path.stat().st_size for path in files) > MAX_SESSION_BYTES):
            removed.append(files.pop(0))
        everyone += files
    everyone.sort(key=lambda path: path.stat().st_mtime)
    while everyone and sum(path.stat().st_size for path in everyone) > MAX_SERVER_BYTES:
        removed.append(everyone.pop(0))
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


@st.cache_resource
def start_sweeping() -> threading.Thread:
    """One thread per server: a sweep at start-up, then every SWEEP_SECONDS, so files go even with no visitors."""

    def loop() -> None:
        while True:
            with contextlib.suppress(OSError):
                sweep()
            time.sleep(SWEEP_SECONDS)

    thread = threading.Thread(target=loop, name="session-files-sweeper", daemon=True)
    thread.start()
    return thread
