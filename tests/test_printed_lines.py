"""Printed lines on a photographed page: which lines are a sheet's, and which of them are subtracted.

These exercise `core.printed`, the line finder, on masks and darkness maps built here, where the answer is known."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core import printed


class TestLengthInside:
    @pytest.mark.parametrize(
        ("rho", "degrees", "length"),
        [(60.0, 90.0, 160.0), (80.0, 0.0, 120.0), (0.0, 180 - np.degrees(np.arctan2(160, 120)), 200.0), (-10.0, 90.0, 0.0)],
    )
    def test_is_the_part_of_the_line_inside_the_frame(self, rho, degrees, length):
        # A row, a column, the frame's diagonal (through its corners) and a row above the frame, in a 160x120 frame.
        measured = printed._length_inside(np.array([rho]), np.radians([degrees]), (120, 160))
        assert measured[0] == pytest.approx(length, abs=0.5)


class TestFamilies:
    def test_a_grid_s_columns_win_over_its_diagonals(self):
        # Through a fine grid a diagonal collects more votes than a column (it is longer), though a column is inked
        # along all of its length (120 pixels) and a diagonal along 77% of its 170. The second family is the columns.
        rows = [(rho, np.radians(90.0), 160) for rho in range(10, 120, 10)]
        columns = [(rho, np.radians(0.0), 120) for rho in range(10, 160, 10)]
        diagonals = [(rho, np.radians(135.0), 130) for rho in range(-28, 1, 4)]  # y = x + c, c from -40 to 0
        found = np.array(rows + diagonals + columns, np.float32)
        families = {}
        for _, theta, family in printed._distinct_lines(found, (120, 160)):
            families.setdefault(family, set()).add(round(np.degrees(theta)) % 180)
        assert sorted(families.values(), key=min) == [{0}, {90}]  # columns and rows, no diagonal


class TestPrint:
    def test_a_margin_beside_the_sheet_s_edges_is_subtracted_and_the_edges_are_not(self):
        # Ruled paper seen with the desk at both sides: the sheet's two edges are wide dark bands, the margin is
        # printed. Measured with the edges, the family looks wider than print; the margin is still print.
        height, width = 240, 320
        darkness = np.zeros((height, width), np.float32)
        for y in range(30, 240, 30):
            darkness[y : y + 2, :] = 0.2  # rules
        darkness[:, 50:52] = 0.3  # the margin
        darkness[:, :24] = 0.6  # the desk beyond the sheet's left edge
        darkness[:, -24:] = 0.6  # and beyond its right edge
        mask = np.where(darkness > 0.1, 255, 0).astype(np.uint8)
        lines = printed.printed_lines(mask, darkness, 0.05)
        assert lines[100:110, 50:52].min() > 0.2  # the margin, between two rules
        assert lines[100:110, 4].max() == 0.0  # the desk is not print
        assert lines[31, 100:200].min() > 0.1  # the rules

    def test_a_lone_margin_crossed_by_a_marker_digit_is_subtracted_as_wide_as_the_rules(self):
        # A ruled sheet whose margin is the only line of its direction, with a thick digit written across it: the
        # digit widens the margin past print when measured alone, so it is drawn as wide as the rules.
        height, width = 240, 320
        darkness = np.zeros((height, width), np.float32)
        for y in range(30, 240, 45):
            darkness[y : y + 4, :] = 0.2  # rules, printed 4 pixels wide
        darkness[:, 50:55] = 0.3  # the margin, 5 pixels
        yy, xx = np.mgrid[:height, :width]
        for top in (60, 180):  # marker 0s, fourteen pixels thick, their left sides on the margin
            darkness[np.abs(np.hypot(yy - top, xx - 80) - 28) < 7] = 0.8
        mask = np.where(darkness > 0.1, 255, 0).astype(np.uint8)
        assert printed._line_width(mask, np.array([[[52, 0]], [[52, 239]]], np.int32)) > printed.MAX_PRINTED_WIDTH + 0.5
        lines = printed.printed_lines(mask, darkness, 0.05)
        assert lines[126:130, 50:55].min() > 0.2  # the margin, between two digits
        assert lines[126:130, 59:].max() == 0.0 and lines[126:130, :46].max() == 0.0  # as wide as print, no wider

    def test_a_faint_grid_the_mask_breaks_into_dashes_is_found(self):
        # Squares under faint pencil, the paper's noise as strong as the lines: the mask keeps the grid only in
        # dashes 12 pixels long, no piece of it near a third of the frame. The lines are still the sheet's.
        height, width = 240, 320
        darkness = np.zeros((height, width), np.float32)
        for at in range(20, 320, 20):
            darkness[:, at : at + 2] = 0.2  # columns
        for at in range(20, 240, 20):
            darkness[at : at + 2, :] = 0.2  # rows
        mask = np.where(darkness > 0.1, 255, 0).astype(np.uint8)
        broken = mask.copy()
        broken[:, 3::20] = 0  # every row cut just past each column
        broken[3::20, :] = 0  # every column cut just past each row
        broken[:, 9::20] = 0  # and once more halfway between
        broken[9::20, :] = 0
        pieces = cv2.connectedComponentsWithStats(broken, connectivity=8)[2][1:]
        assert max(pieces[:, 2].max(), pieces[:, 3].max()) < 0.3 * width  # no long piece anywhere
        lines = printed.printed_lines(broken, darkness, 0.05)
        assert lines[100:110, 40:42].min() > 0.1 and lines[60:62, 150:160].min() > 0.1  # a column and a row

    def test_a_lone_sheet_edge_is_not_print(self):
        # A ruled sheet whose left edge shows the desk beyond it: the edge is the only line of its direction, but
        # it has no paper on the desk's side.
        height, width = 240, 320
        darkness = np.zeros((height, width), np.float32)
        for y in range(30, 240, 45):
            darkness[y : y + 2, 40:] = 0.2  # rules
        darkness[:, :40] = 0.6  # the desk
        mask = np.where(darkness > 0.1, 255, 0).astype(np.uint8)
        lines = printed.printed_lines(mask, darkness, 0.05)
        assert lines[31, 100:200].min() > 0.1  # the rules are print
        assert lines[100:110, 30:50].max() == 0.0  # the edge is not

    @pytest.mark.parametrize(
        ("ends", "along"),
        [
            (((8, 236), (0, 116)), True),  # the dark rim of a vignetted frame, at its left edge
            (((319, 193), (312, 5)), True),  # at its right edge
            (((316, 2), (4, 6)), True),  # at its top
            (((68, 3), (17, 234)), False),  # a margin line near the left edge
            (((316, 226), (4, 188)), False),  # a rule
        ],
    )
    def test_a_line_along_the_frame_s_edge_is_told_apart(self, ends, along):
        # Lines along the frame's edge are left out of a family's print width: a vignetted rim is measured 7-8
        # pixels wide, and with it a margin's family looked wider than print and the margin stayed on the page.
        points = np.array(ends, np.int32).reshape(2, 1, 2)
        assert printed._along_edge(points, (240, 320)) is along


def _refined_one(darkness: np.ndarray, rho: float, theta: float) -> tuple[np.ndarray, np.ndarray]:
    """One line at a time, written plainly: the reference `printed._refined` computes for all lines at once."""
    height, width = darkness.shape
    normal = np.array([np.cos(theta), np.sin(theta)])
    direction = np.array([-np.sin(theta), np.cos(theta)])
    along = rho * normal[None, :] + np.arange(-(height + width), height + width, 4.0)[:, None] * direction[None, :]
    reach = printed.REFINE_REACH
    along = along[
        (along[:, 0] >= reach) & (along[:, 0] <= width - 1 - reach) & (along[:, 1] >= reach) & (along[:, 1] <= height - 1 - reach)
    ]
    if len(along) < 6:
        return np.zeros((2, 1, 2), np.int32), np.zeros(len(printed.PROFILE_OFFSETS), np.float32)
    offsets = np.arange(-reach, reach + 1)
    third = len(along) // 3
    ends = []
    for part, end in ((along[:third], along[0]), (along[-third:], along[-1])):
        points = part[None, :, :] + offsets[:, None, None] * normal[None, None, :]
        sums = darkness[np.rint(points[..., 1]).astype(int), np.rint(points[..., 0]).astype(int)].sum(axis=1)
        ends.append(end + offsets[int(sums.argmax())] * normal)
    points = np.rint(np.array(ends)).astype(np.int32).reshape(2, 1, 2)
    fraction = np.linspace(0.0, 1.0, len(along))[:, None]
    placed = points[0, 0] * (1 - fraction) + points[1, 0] * fraction
    ahead = (points[1, 0] - points[0, 0]).astype(np.float64)
    ahead /= max(float(np.hypot(*ahead)), 1e-9)
    across = np.array([-ahead[1], ahead[0]])
    shifted = placed[None, :, :] + printed.PROFILE_OFFSETS[:, None, None] * across[None, None, :]
    ys = np.rint(shifted[..., 1]).astype(int).clip(0, height - 1)
    xs = np.rint(shifted[..., 0]).astype(int).clip(0, width - 1)
    return points, np.median(darkness[ys, xs], axis=1).astype(np.float32)


class TestRefined:
    def test_all_lines_at_once_give_what_each_line_alone_gives(self):
        # A darkness map with rules, a tilted column, a digit-like blob and noise; lines in every direction, some
        # barely inside the frame.
        rng = np.random.default_rng(5)
        darkness = (rng.random((240, 320)) * 0.05).astype(np.float32)
        darkness[40::30, :] += 0.3
        for y in range(240):
            darkness[y, 100 + y // 8] += 0.4
        darkness[100:140, 200:230] += 0.5
        angles = np.radians(np.arange(0.0, 180.0, 4.3))  # each through a point inside the frame
        through = rng.uniform((10, 10), (310, 230), (len(angles), 2))
        rhos = np.concatenate([through[:, 0] * np.cos(angles) + through[:, 1] * np.sin(angles), [0.0, 2.0, -5.0, 400.0]])
        thetas = np.concatenate([angles, np.radians([0.0, 90.0, 45.0, 0.0])])  # and four at or beyond the frame's edge
        together = printed._refined(darkness, rhos, thetas)
        assert len(together) == len(rhos)
        drawn = 0
        for (points, profile), rho, theta in zip(together, rhos, thetas, strict=True):
            alone_points, alone_profile = _refined_one(darkness, rho, theta)
            np.testing.assert_array_equal(points, alone_points)
            np.testing.assert_array_equal(profile, alone_profile)
            drawn += bool(profile.any())
        assert drawn > 30  # most lines lie in the frame and are measured, not skipped
