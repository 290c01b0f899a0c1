"""Notebook paper for the honest camera benchmark: plain, squared or ruled sheets, white, off-white or tinted, with
fibres, printed lines of a notebook's colours and widths, and a ruled sheet's red margin."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

PaperKind = Literal["plain", "squared", "ruled"]
PAPER_KINDS: tuple[PaperKind, ...] = ("plain", "squared", "ruled")


def _paper_colour(rng: np.random.Generator) -> np.ndarray:
    """White, off-white, or tinted paper (cream, light yellow, light blue, recycled grey).  -> (3,) RGB."""
    choice = rng.integers(0, 4)
    if choice == 0:
        base = np.array([0.95, 0.95, 0.94])
    elif choice == 1:
        base = np.array([0.94, 0.92, 0.86])  # off-white, cream
    elif choice == 2:
        base = np.array([rng.choice([0.97, 0.88]), rng.choice([0.95, 0.93]), rng.choice([0.80, 0.96])])  # yellow or blue tint
    else:
        base = np.full(3, rng.uniform(0.82, 0.9))  # recycled grey
    return (base * rng.uniform(0.93, 1.02)).clip(0, 1).astype(np.float32)


def sheet_of_paper(rng: np.random.Generator, kind: PaperKind, shape: tuple[int, int], pixels_per_mm: float) -> np.ndarray:
    """A sheet's albedo with fibre texture and its printed lines.  -> (H, W, 3) float32 RGB in [0, 1]."""
    height, width = shape
    colour = _paper_colour(rng)
    fibres = cv2.GaussianBlur(rng.normal(0, 1, shape).astype(np.float32), (0, 0), 1.5) * rng.uniform(0.005, 0.02)
    sheet = np.clip(colour[None, None, :] + fibres[..., None], 0, 1)
    if kind == "plain":
        return sheet
    line_colour = np.array(
        rng.choice([(0.55, 0.72, 0.90), (0.65, 0.80, 0.92), (0.60, 0.62, 0.65), (0.72, 0.74, 0.76)]), np.float32
    )  # light blue, paler blue, grey, pale grey
    strength = rng.uniform(0.5, 1.0)  # how strongly the lines are printed
    line_width = max(1, round(rng.uniform(0.1, 0.25) * pixels_per_mm))  # printed lines are 0.1-0.25 mm
    lines = np.zeros(shape, np.float32)
    if kind == "squared":
        spacing = rng.uniform(4.0, 6.0) * pixels_per_mm  # 4-6 mm squares
        offset_x, offset_y = rng.uniform(0, spacing, 2)
        for x in np.arange(offset_x, width, spacing):
            cv2.line(lines, (round(x), 0), (round(x), height), 1.0, line_width, cv2.LINE_AA)
        for y in np.arange(offset_y, height, spacing):
            cv2.line(lines, (0, round(y)), (width, round(y)), 1.0, line_width, cv2.LINE_AA)
    else:
        spacing = rng.uniform(7.0, 9.0) * pixels_per_mm  # ruled lines 7-9 mm apart
        for y in np.arange(rng.uniform(0, spacing), height, spacing):
            cv2.line(lines, (0, round(y)), (width, round(y)), 1.0, line_width, cv2.LINE_AA)
    lines *= strength
    sheet = sheet * (1 - lines[..., None] * (1 - line_colour[None, None, :]))
    if kind == "ruled" and rng.random() < 0.7:
        margin = np.zeros(shape, np.float32)
        x = round(rng.uniform(0.03, 0.2) * width)
        cv2.line(margin, (x, 0), (x, height), 1.0, max(1, line_width), cv2.LINE_AA)
        red = np.array([0.90, 0.35, 0.40], np.float32)
        sheet = sheet * (1 - margin[..., None] * (1 - red[None, None, :]))
    return sheet.astype(np.float32)
