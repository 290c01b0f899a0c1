"""Printed lines on a photographed page: which lines are a sheet's, and which of them are subtracted.

These exercise `core.printed`, the line finder, on masks and darkness maps built here, where the answer is known."""

from __future__ import annotations

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
