"""Memory the server has freed, given back to the system.

glibc keeps what a thread frees in that thread's arena for its next allocation, and returns it to the system only
from the top of the heap. The threads of a webcam session (WebRTC, video decoding and encoding, reading) free tens
of megabytes when the session ends, scattered among what is still in use, so the server's RSS kept them: 30-75 MB
more after six sessions opened and closed, where `malloc_trim` brings it back within 16 MB (measured in Chromium).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading
import time
from collections.abc import Callable

GIVE_BACK_SECONDS = 5.0  # how often freed memory is given back; each call takes a few milliseconds
_started = threading.Lock()
_giving_back: threading.Thread | None = None  # the one thread per process that keeps giving memory back


def give_back_freed_memory() -> bool:
    """Return the free pages of every malloc arena to the system. -> False where the C library has no malloc_trim."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, found once; None elsewhere (musl, macOS), where there is nothing to do."""
    name = ctypes.util.find_library("c")
    try:
        function = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
    if function is not None:
        function.argtypes, function.restype = [ctypes.c_size_t], ctypes.c_int
    return function


def keep_giving_back(interval: float = GIVE_BACK_SECONDS) -> None:
    """Give freed memory back every `interval` seconds, from one daemon thread per process (later calls do nothing)."""
    global _giving_back
    with _started:
        if _giving_back is None and give_back_freed_memory():
            _giving_back = threading.Thread(target=_give_back_forever, args=(interval,), name="give-back-freed-memory", daemon=True)
            _giving_back.start()


def _give_back_forever(interval: float) -> None:
    while True:
        time.sleep(interval)
        give_back_freed_memory()
