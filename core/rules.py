"""Printed lines among ink pieces: rules erased from a drawing's mask, and what a page's line subtraction left."""

from __future__ import annotations

import cv2
import numpy as np

from core.groups import Group, beside
from core.preprocess import InkMap

ON_PRINTED_SHARE = 0.7  # a thin piece with this share of its ink on printed lines is what is left of them
# A straight piece no wider than this share of its length whose line continues, at least this share as dark as
# the piece, along this share of the way for this many of its own lengths beyond each end, is a printed line.
RUN_ON_THINNESS = 0.3
RUN_ON_DARKNESS = 0.35
RUN_ON_SHARE = 0.7
RUN_ON_REACH = 1.0
LINE_LIKE_FILL = 0.025  # ink area per squared length below which a thin straight piece is a line, not a 1
# A 1 written along a printed line is as tall as the digits beside it (ONE_HEIGHTS of their height) and, once the
# line's darkness is subtracted, at least ONE_DARKNESS as dark as they are. Ink on a line passes on only the light the
# line let through, and a pen of the line's own colour loses most of its darkness with it (a blue ballpoint's 1 on a
# blue grid line keeps 47%), so this only drops remnants far fainter than the digits; size, row and ends do the rest.
ONE_HEIGHTS = (0.85, 1.25)
ONE_DARKNESS = 0.3


def remove_rules(mask: np.ndarray) -> np.ndarray:
    """Erase ruled lines: straight runs longer than a third of the image and thin, horizontal or vertical."""
    height, width = mask.shape
    lines = np.zeros_like(mask)
    # Openings with kernels this long cost milliseconds per frame: only try a direction in which some row or
    # column holds enough ink to contain such a run.
    row_ink, column_ink = np.count_nonzero(mask, axis=1), np.count_nonzero(mask, axis=0)
    for length, shape, most in ((width // 3, (width // 3, 1), row_ink.max()), (height // 3, (1, height // 3), column_ink.max())):
        if length >= 30 and most >= length:
            kernel = cv2.getStructuringElement(cv2.MORPH_RECT, shape)
            straight = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
            # A pen stroke can be as long (a tall 1 on the canvas, a digit in a tight crop) but is thicker than a
            # thirtieth of that length, so it survives an opening by a square of that side; a printed rule does not.
            side = max(3, length // 30)
            thick = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (side, side)))
            lines |= cv2.subtract(straight, thick)
    if not lines.any():
        return mask
    return cv2.subtract(mask, cv2.dilate(lines, np.ones((3, 3), np.uint8)))


def on_printed_lines(ink: InkMap, group: Group) -> bool:
    """A thin piece lying along printed lines: what their subtraction left of them, not a 1 written in a square."""
    if ink.printed is None or min(group.width, group.height) > 0.3 * max(group.width, group.height):
        return False
    window = (slice(group.y0, group.y1), slice(group.x0, group.x1))
    own = ink.mask[window] > 0
    return bool(np.count_nonzero(ink.printed[window] & own) >= ON_PRINTED_SHARE * max(1, int(np.count_nonzero(own))))


def ones_on_printed_lines(ink: InkMap, labels: np.ndarray, pieces: list[Group], digits: list[Group], digit_height: int) -> list[Group]:
    """The pieces dropped by `on_printed_lines` that are 1s written along a printed line (a grid's vertical line is
    where many people write a 1): upright, as tall as the digits, in their row, not far fainter than their ink, and
    stopping where it ends.
    `pieces`: the dropped pieces; `digits`: the pieces kept, with `digit_height` measured on them."""
    tall = [digit for digit in digits if digit.height >= ONE_HEIGHTS[0] * digit_height]
    if not tall or not pieces:
        return []

    typical = float(np.median([median_darkness(ink, labels, digit) for digit in tall]))
    return [
        piece
        for piece in pieces
        if piece.height > piece.width
        and ONE_HEIGHTS[0] * digit_height <= piece.height <= ONE_HEIGHTS[1] * digit_height
        and any(beside(piece, digit, digit_height) for digit in tall)
        and median_darkness(ink, labels, piece) >= ONE_DARKNESS * typical
        and not runs_on(ink, labels, piece)
    ]


def median_darkness(ink: InkMap, labels: np.ndarray, group: Group) -> float:
    """The median darkness of a group's own ink (its pieces' pixels in its box)."""
    window = (slice(group.y0, group.y1), slice(group.x0, group.x1))
    return float(np.median(ink.ink[window][np.isin(labels[window], group.labels)]))


def runs_on(ink: InkMap, labels: np.ndarray, group: Group) -> bool:
    """A thin straight piece whose line runs on beyond both its ends: a ruling, a margin or a grid line the line
    finder missed or did not subtract in full, not a 1 (a pen stroke stops where the digit ends)."""
    window = labels[group.y0 : group.y1, group.x0 : group.x1]
    ys, xs = np.nonzero(np.isin(window, group.labels))
    if len(xs) < 5:
        return False
    points = np.stack([xs + group.x0, ys + group.y0], axis=1).astype(np.float32)  # (n, 2) x, y
    centre = points.mean(axis=0)
    _, _, axes = np.linalg.svd(points - centre, full_matrices=False)
    direction = axes[0]
    along = (points - centre) @ direction
    across = (points - centre) @ axes[1]
    length = float(along.max() - along.min())
    if length < 8 or float(np.ptp(across)) > RUN_ON_THINNESS * length:
        return False
    own = float(np.median(ink.ink[points[:, 1].astype(int), points[:, 0].astype(int)]))
    height, width = ink.ink.shape
    normal = axes[1]
    sides = []
    for sign, end in ((-1.0, float(along.min())), (1.0, float(along.max()))):
        steps = end + sign * np.arange(3.0, 3.0 + RUN_ON_REACH * length, 1.0)
        spots = centre[None, :] + steps[:, None] * direction[None, :]  # (k, 2) on the line beyond this end
        inside = (spots[:, 0] >= 1) & (spots[:, 0] < width - 1) & (spots[:, 1] >= 1) & (spots[:, 1] < height - 1)
        if inside.sum() < 0.5 * len(spots):
            continue  # the line leaves the frame here: the other end decides
        spots = spots[inside]
        darkest = np.max(
            [
                ink.ink[
                    np.rint(spots[:, 1] + shift * normal[1]).astype(int).clip(0, height - 1),
                    np.rint(spots[:, 0] + shift * normal[0]).astype(int).clip(0, width - 1),
                ]
                for shift in (-1, 0, 1)
            ],
            axis=0,
        )
        sides.append(float(np.mean(darkest >= RUN_ON_DARKNESS * own)))
    return bool(sides) and min(sides) >= RUN_ON_SHARE


def is_line_like(group: Group) -> bool:
    """Thin and straight: the ink fills little more than a line of its length would (a 1 fills a little more)."""
    length = max(group.width, group.height)
    return length >= 3 * min(group.width, group.height) and group.area < LINE_LIKE_FILL * length * length
