"""Digits redrawn as real pens draw them: the skeleton of a scanned digit retraced by a ballpoint, a marker or a pencil."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from skimage.morphology import skeletonize

PenKind = Literal["ballpoint", "marker", "pencil"]
PEN_KINDS: tuple[PenKind, ...] = ("ballpoint", "marker", "pencil")
SKELETON_HEIGHT = 96  # the digit is skeletonised at this height: fine enough for smooth curves, cheap to trace
SUPERSAMPLE = 4  # strokes are drawn at 4x and area-averaged down, which anti-aliases them as a lens does


@dataclass(frozen=True)
class Pen:
    """How one pen writes: line width in final pixels, how dark, how it varies along the stroke."""

    kind: PenKind
    width: float  # pixels at the final scale
    colour: tuple[float, float, float]  # RGB of the ink film on white paper, in [0, 1] (it multiplies the paper)
    pressure_variation: float  # 0 = even line; 0.5 = the line fades to half its darkness where pressure drops
    gap_rate: float  # share of the stroke's length skipped as small gaps (a pen that skips, pencil on grain)
    grain: float  # 0 = solid film; pencil leaves graphite only on the paper's raised fibres


def random_pen(kind: PenKind, height: float, rng: np.random.Generator) -> Pen:
    """A pen of `kind` as students use them, for a digit `height` pixels tall."""
    if kind == "ballpoint":
        blue = (rng.uniform(0.05, 0.25), rng.uniform(0.10, 0.30), rng.uniform(0.45, 0.75))
        black = (rng.uniform(0.05, 0.2),) * 3
        colour = blue if rng.random() < 0.6 else black
        return Pen(kind, float(rng.uniform(1.0, 3.0)), colour, float(rng.uniform(0.1, 0.45)), float(rng.uniform(0.0, 0.06)), 0.0)
    if kind == "marker":
        dark = (rng.uniform(0.02, 0.12),) * 3 if rng.random() < 0.6 else (0.05, 0.08, rng.uniform(0.25, 0.45))
        return Pen(kind, float(height * rng.uniform(0.06, 0.12)), dark, float(rng.uniform(0.0, 0.15)), 0.0, 0.0)
    # Pencil: grey on grey. 30-60 grey levels of contrast on paper around 230 means a film passing 74-87% of the light.
    level = 1.0 - rng.uniform(30, 60) / 230.0
    return Pen(kind, float(rng.uniform(1.5, 3.0)), (level, level, level), float(rng.uniform(0.1, 0.3)), float(rng.uniform(0.0, 0.05)), 0.5)


def skeleton_segments(digit: np.ndarray) -> np.ndarray:
    """The centre line of a digit as short segments, in units of the digit's height (the ink's top-left at 0, 0).

    (h, w) uint8 or float, white ink on black, any size -> (k, 4) float32 rows (x0, y0, x1, y1); empty if no ink.
    """
    values = digit.astype(np.float32)
    peak = float(values.max())
    if peak <= 0:
        return np.zeros((0, 4), np.float32)
    ys, xs = np.nonzero(values > 0.3 * peak)
    crop = values[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    factor = SKELETON_HEIGHT / crop.shape[0]
    # A margin, so that strokes touching the crop's edge keep their ends; cubic upsampling smooths the pixel steps.
    padded = cv2.copyMakeBorder(crop, 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=0)
    size = (min(4 * SKELETON_HEIGHT, round(padded.shape[1] * factor)), round(padded.shape[0] * factor))
    large = cv2.resize(padded, size, interpolation=cv2.INTER_CUBIC)
    skeleton = skeletonize(large > 0.5 * peak)
    sy, sx = np.nonzero(skeleton)
    if len(sx) == 0:
        return np.zeros((0, 4), np.float32)
    segments = []
    # Each skeleton pixel joined to its 8-neighbours (each pair once): a continuous path whatever the scale.
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        ny, nx = sy + dy, sx + dx
        inside = (ny < skeleton.shape[0]) & (nx >= 0) & (nx < skeleton.shape[1])
        linked = np.zeros_like(inside)
        linked[inside] = skeleton[ny[inside], nx[inside]]
        segments.append(np.stack([sx[linked], sy[linked], nx[linked], ny[linked]], axis=1))
    points = np.concatenate(segments).astype(np.float32)
    points -= np.float32(2 * factor)  # undo the margin
    return points / np.float32(SKELETON_HEIGHT)


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], wavelength: float) -> np.ndarray:
    """Random smooth values in [0, 1] that change over about `wavelength` pixels.  -> (h, w) float32."""
    coarse = (max(2, int(shape[0] / wavelength) + 2), max(2, int(shape[1] / wavelength) + 2))
    field = cv2.resize(rng.random(coarse).astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    return np.clip(field, 0.0, 1.0)


def draw_digit(segments: np.ndarray, height: float, pen: Pen, rng: np.random.Generator) -> np.ndarray:
    """Retrace a skeleton with `pen` at `height` pixels.  -> (h, w) float32 ink coverage in [0, 1] (1 = full film)."""
    if len(segments) == 0:
        return np.zeros((1, 1), np.float32)
    margin = pen.width + 2
    scale = height * SUPERSAMPLE
    lines = segments * scale + margin * SUPERSAMPLE
    size = (
        int(np.ceil(lines[:, [0, 2]].max() + margin * SUPERSAMPLE)) + 1,
        int(np.ceil(lines[:, [1, 3]].max() + margin * SUPERSAMPLE)) + 1,
    )
    canvas = np.zeros((size[1], size[0]), np.float32)
    pressure = _smooth_field(rng, canvas.shape, 0.3 * scale)
    skips = _smooth_field(rng, canvas.shape, 0.08 * scale)
    thickness_at = np.clip(1.0 - pen.pressure_variation * 0.5 * (1.0 - pressure), 0.3, 1.0)
    darkness_at = np.clip(1.0 - pen.pressure_variation * (1.0 - pressure), 0.15, 1.0)
    cut = np.quantile(skips, 1.0 - pen.gap_rate) if pen.gap_rate > 0 else 2.0
    for x0, y0, x1, y1 in lines:
        cx, cy = int((x0 + x1) / 2), int((y0 + y1) / 2)
        if skips[cy, cx] > cut:
            continue
        thickness = max(1, round(pen.width * SUPERSAMPLE * thickness_at[cy, cx]))
        start, end = (round(x0), round(y0)), (round(x1), round(y1))
        cv2.line(canvas, start, end, float(darkness_at[cy, cx]), thickness, cv2.LINE_AA)
    final = (max(1, size[0] // SUPERSAMPLE), max(1, size[1] // SUPERSAMPLE))
    coverage = cv2.resize(canvas, final, interpolation=cv2.INTER_AREA)
    if pen.grain > 0:
        grain = rng.uniform(1.0 - pen.grain, 1.0, coverage.shape).astype(np.float32)
        coverage *= cv2.GaussianBlur(grain, (3, 3), 0.6)
    return np.clip(coverage, 0.0, 1.0)


def pen_digit(digit: np.ndarray, height: float, pen: Pen, rng: np.random.Generator) -> np.ndarray:
    """A scanned digit (white on black) as `pen` writes it, `height` pixels tall.  -> (h, w) float32 coverage."""
    return draw_digit(skeleton_segments(digit), height, pen, rng)
