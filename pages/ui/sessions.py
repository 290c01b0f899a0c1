"""Files that belong to one visitor (uploaded and trained models): a folder per session, removed after it ends."""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from pathlib import Path

import streamlit as st

from core.modelfile import user_models_dir
from pages.ui import routing

GRACE_SECONDS = 60.0  # a reload or a dropped connection that comes back within this keeps its models
SWEEP_SECONDS = 15.0  # how often the server looks for ended sessions and left-over temporary files
PARTIAL_AGE_SECONDS = 3600.0  # a hidden temporary file this old belongs to a killed save or upload


def sessions_dir() -> Path:
    return user_models_dir() / "sessions"


def session_folder() -> Path:
    """This session's own folder; no other session lists, loads or downloads what is in it."""
    folder = sessions_dir() / routing.session_id()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def owns(path: str | Path) -> bool:
    """Whether `path` is one of this session's files (its models live in its own memory, not the shared cache)."""
    return Path(path).parent == sessions_dir() / routing.session_id()


def sweep(now: float | None = None) -> list[Path]:
    """Remove the folders of sessions gone for GRACE_SECONDS and stale hidden temporary files; -> what was removed."""
    now = time.time() if now is None else now
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
