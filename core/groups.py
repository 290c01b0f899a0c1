"""A digit as pieces of ink: the group of connected components that form it, and how two groups lie."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Group:
    """Connected components that together form one digit (a 5 and its bar, a 4 in two strokes)."""

    labels: list[int]
    x0: int
    y0: int
    x1: int  # exclusive
    y1: int
    area: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def absorb(self, other: Group) -> None:
        self.labels += other.labels
        self.x0, self.y0 = min(self.x0, other.x0), min(self.y0, other.y0)
        self.x1, self.y1 = max(self.x1, other.x1), max(self.y1, other.y1)
        self.area += other.area


def could_be_one(first: Group, second: Group) -> bool:
    """Pieces of one digit overlap horizontally and nearly touch vertically."""
    overlap = min(first.x1, second.x1) - max(first.x0, second.x0)
    gap = max(first.y0, second.y0) - min(first.y1, second.y1)
    return overlap >= 0.5 * min(first.width, second.width) and gap <= 0.25 * max(first.height, second.height)


def is_fragment(first: Group, second: Group) -> bool:
    """One piece is much shorter than the other: a 5's bar, a 7's crossbar, a broken-off end."""
    return min(first.height, second.height) < 0.6 * max(first.height, second.height)


def side_by_side_part(first: Group, second: Group, reach: float) -> bool:
    """A shorter piece beside a taller one, in its row, within `reach` of its height and together a digit's width:
    a 4's open corner beside its stem, a 5's hook beside its bar (or a short digit written close to a tall one)."""
    short, tall = sorted((first, second), key=lambda group: group.height)
    apart = max(first.x0, second.x0) - min(first.x1, second.x1)
    overlap = min(first.y1, second.y1) - max(first.y0, second.y0)
    return (
        short.height < 0.75 * tall.height
        and apart <= reach * tall.height
        and overlap >= 0.8 * short.height
        and max(first.x1, second.x1) - min(first.x0, second.x0) <= 1.1 * tall.height
    )


def beside(first: Group, second: Group, reach: float) -> bool:
    """In one row (overlapping half the shorter one's height) and at most `reach` pixels apart left to right."""
    overlap = min(first.y1, second.y1) - max(first.y0, second.y0)
    apart = max(first.x0, second.x0) - min(first.x1, second.x1)
    return overlap >= 0.5 * min(first.height, second.height) and apart <= reach


def gap(first: Group, second: Group) -> float:
    """The distance between two boxes (0 when they overlap)."""
    dx = max(0, max(first.x0, second.x0) - min(first.x1, second.x1))
    dy = max(0, max(first.y0, second.y0) - min(first.y1, second.y1))
    return float(np.hypot(dx, dy))


def union(first: Group, second: Group) -> Group:
    """A new group covering both (neither is changed)."""
    return union_of([first, second])


def union_of(groups: list[Group]) -> Group:
    """A new group covering all of `groups` (none is changed)."""
    union = Group([], groups[0].x0, groups[0].y0, groups[0].x1, groups[0].y1, 0)
    for group in groups:
        union.absorb(group)
    return union
