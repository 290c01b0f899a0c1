"""Freed memory goes back to the system: what a thread freed among memory still in use no longer counts in RSS."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from core import memory

# In a fresh interpreter: a thread allocates 200 MB in 64 KB blocks (its own malloc arena, under the mmap threshold),
# then frees nine blocks in ten. The tenth keeps each stretch of the heap in use, so glibc cannot shrink it by itself.
SCATTERED_FREE = textwrap.dedent(
    """
    import json, sys, threading
    from pathlib import Path
    from core import memory

    def rss_mb():
        return int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) / 1024

    kept = []
    def allocate_then_free():
        blocks = [bytearray(64 * 1024) for _ in range(3200)]
        kept.extend(blocks[::10])
        blocks.clear()
    worker = threading.Thread(target=allocate_then_free)
    worker.start(); worker.join()
    before = rss_mb()
    gave_back = memory.give_back_freed_memory()
    print(json.dumps({"before": before, "after": rss_mb(), "gave_back": gave_back, "kept": len(kept)}))
    """
)


@pytest.mark.skipif(memory.give_back_freed_memory() is False, reason="this C library has no malloc_trim (not glibc)")
def test_memory_freed_by_a_thread_among_memory_in_use_goes_back_to_the_system():
    import json

    result = json.loads(subprocess.run([sys.executable, "-c", SCATTERED_FREE], capture_output=True, text=True, check=True).stdout)

    assert result["gave_back"] and result["kept"] == 320
    assert result["before"] - result["after"] > 100, result  # of the 180 MB freed


def test_memory_is_given_back_from_one_thread_however_often_it_is_asked():
    memory.keep_giving_back(interval=60.0)
    memory.keep_giving_back(interval=60.0)

    import threading

    named = [thread for thread in threading.enumerate() if thread.name == "give-back-freed-memory"]
    assert len(named) == (1 if memory.give_back_freed_memory() else 0)
    assert all(thread.daemon for thread in named)
