"""Skipping on a user's machine that lacks a resource, failing under CI, where nothing may be skipped for that.

A plain module (not conftest) so test files can import it: with two conftest.py files in the tree,
`from conftest import ...` resolves to whichever was imported first.
"""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


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
