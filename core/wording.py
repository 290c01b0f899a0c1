"""Counts and durations in words for messages a person reads: "1 epoch", "3 epochs", "about 4 minutes"."""

from __future__ import annotations


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`count` and the noun in the right number: plural(1, "epoch") -> "1 epoch", plural(0, "epoch") -> "0 epochs"."""
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"


def duration(seconds: float) -> str:
    """A rough duration for a progress line: "about 40 s", "about 4 minutes", "about 2 hours"."""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"about {plural(round(seconds / 60), 'minute')}"
    return f"about {plural(round(seconds / 3600), 'hour')}"
