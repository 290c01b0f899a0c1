"""Helpers shared by the tests: the repository's folder, a free port, waiting on a condition, and skipping for a resource.

A plain module (not conftest) so test files can import it: with two conftest.py files in the tree,
`from conftest import ...` resolves to whichever was imported first.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest

from benchmarks.harness import REPO, free_port

__all__ = ["IN_CI", "REPO", "FakeClock", "assert_one_line_error", "free_port", "require", "wait_until"]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


class FakeClock:
    """A clock a test moves by hand (set or add to `now`), for code that takes a `clock` callable."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def wait_until(condition: Callable[[], object], timeout: float, poll: float = 0.05) -> bool:
    """Poll `condition` until it is true (-> True) or `timeout` seconds have passed (-> False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll)
    return False


def require(condition: bool, message: str) -> None:
    """Skip on a user's machine that lacks a resource; under CI=true the suite must never skip for that."""
    if not condition:
        if IN_CI:
            pytest.fail(f"{message} (CI=true: this must not be skipped)")
        pytest.skip(message)


def assert_one_line_error(message: str, name: str, problem: str) -> None:
    """A user-facing error: one line that starts with the file's name and says what is wrong with it."""
    assert message.startswith(f"{name}: "), message
    assert problem in message, message
    assert "\n" not in message, message
