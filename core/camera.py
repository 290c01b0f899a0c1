"""Realistic webcam frames of pen handwriting on notebook paper: the honest camera benchmark's frames and conditions.

A frame is made as a camera makes it. Digits are retraced by a pen model (`core.pens`) on a sheet (plain, squared
or ruled, white, off-white or tinted), the sheet is seen in perspective with the desk beyond its edges and
sometimes a thumb holding it, under a hand's shadow and vignetting, through defocus or motion blur, a low-resolution
sensor, sensor noise, a white-balance tint and JPEG compression.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np

from core.notebook import PAPER_KINDS, PaperKind, sheet_of_paper
from core.pens import PEN_KINDS, PenKind, draw_digit, random_pen, skeleton_segments

FRAME_WIDTH, FRAME_HEIGHT = 640, 480
BlurKind = Literal["sharp", "defocus", "motion"]
BLUR_KINDS: tuple[BlurKind, ...] = ("sharp", "defocus", "motion")
EVALUATION_SEED = 20261201  # the frames every figure is reported on; never tune on this seed
TUNING_SEEDS = (1, 2, 3)  # look at these while developing


@dataclass(frozen=True)
class Conditions:
    """What a frame shows, for per-condition figures."""

    ink: PenKind
    paper: PaperKind
    rows: int
    blur: BlurKind
    tilt: float  # degrees the sheet is turned away from the camera (the larger of the two axes)
    desk: bool  # the desk shows beyond the sheet's edge
    thumb: bool
    low_resolution: bool  # a 320x240 sensor scaled up
    source: str  # where the digits come from ("mnist", "usps", ...)
    digit_height: int  # pixels, on the sheet before perspective
    whole_sheet: bool = False  # a small sheet seen whole, the world around it (`written`)


@dataclass(frozen=True)
class CameraFrame:
    image: np.ndarray  # (480, 640, 3) uint8 BGR, as a webcam gives it
    number: str  # what is written: rows top to bottom separated by a space, as Reading.number gives them
    conditions: Conditions
    boxes: tuple[tuple[int, int, int, int], ...] = field(default=(), repr=False)  # each digit's (x, y, w, h) in the frame
    # Where the pen went in the frame, before lighting, blur and the sensor: (480, 640) uint8, 255 = fully covered.
    # Only made on request (`with_ink`): it is the answer an ink finder is trained and checked against.
    ink: np.ndarray | None = field(default=None, repr=False, compare=False)


# --- Layout -------------------------------------------------------------------------------------------------------


def _layout(
    rng: np.random.Generator, widths: list[float], rows: int, height: int, sheet_shape: tuple[int, int]
) -> tuple[list[tuple[int, int]], list[int]] | None:
    """Where each digit's top-left corner goes on the sheet, row by row; None if they do not fit.

    `widths` are the digits' widths in units of their height. People leave a gap of a tenth to a third of the
    digits' height between digits, and now and then (one pair in twenty) write two digits touching.
    """
    per_row = [len(widths) - len(widths) // 2, len(widths) // 2] if rows == 2 else [len(widths)]
    gaps = np.where(rng.random(len(widths)) < 0.05, rng.uniform(-0.03, 0.03, len(widths)), rng.uniform(0.1, 0.35, len(widths)))
    advances = (np.asarray(widths) + gaps) * height
    row_starts = np.cumsum([0, *per_row])
    row_widths = [float(advances[start:stop].sum()) for start, stop in zip(row_starts[:-1], row_starts[1:], strict=True)]
    line_gap = height * rng.uniform(1.3, 1.8)
    block_height = height + (rows - 1) * line_gap
    sheet_height, sheet_width = sheet_shape
    if max(row_widths) > 0.9 * sheet_width or block_height > 0.9 * sheet_height:
        return None
    left = rng.uniform(0.05 * sheet_width, 0.95 * sheet_width - max(row_widths))
    top = rng.uniform(0.05 * sheet_height, 0.95 * sheet_height - block_height)
    corners, row_of = [], []
    for row, (start, stop) in enumerate(zip(row_starts[:-1], row_starts[1:], strict=True)):
        x = left + rng.uniform(0, 0.5) * height * (row > 0)
        for index in range(start, stop):
            corners.append((round(x), round(top + row * line_gap + rng.uniform(-0.06, 0.06) * height)))
            row_of.append(row)
            x += advances[index]
    return corners, row_of


# --- Camera -------------------------------------------------------------------------------------------------------


def _perspective(rng: np.random.Generator, sheet_shape: tuple[int, int]) -> tuple[np.ndarray, float]:
    """A homography from sheet to frame: the sheet turned up to 25 degrees away from the camera, rotated in its
    plane, and placed so that it fills most of the frame (sometimes less, leaving the desk visible)."""
    height, width = sheet_shape
    tilt_x, tilt_y = rng.uniform(-25, 25, 2) if rng.random() < 0.8 else rng.uniform(-5, 5, 2)
    roll = rng.uniform(-10, 10)
    ax, ay, az = np.radians([tilt_x, tilt_y, roll])
    rotation_x = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    rotation_y = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rotation_z = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    corners = np.array([[-width / 2, -height / 2, 0], [width / 2, -height / 2, 0], [width / 2, height / 2, 0], [-width / 2, height / 2, 0]])
    turned = corners @ (rotation_z @ rotation_y @ rotation_x).T
    focal = FRAME_WIDTH * rng.uniform(0.9, 1.4)  # a webcam's field of view is 50-70 degrees
    distance = focal * rng.uniform(0.7, 1.05)  # sheet pixels to frame pixels at the centre: 0.95-1.4
    projected = turned[:, :2] * focal / (distance + turned[:, 2:3])
    projected += np.array([FRAME_WIDTH / 2, FRAME_HEIGHT / 2]) + rng.uniform(-40, 40, 2)
    source = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    return cv2.getPerspectiveTransform(source, projected.astype(np.float32)), float(max(abs(tilt_x), abs(tilt_y)))


def _desk(rng: np.random.Generator) -> np.ndarray:
    """What lies beyond the sheet: wood, a dark or grey desk, or a light one.  -> (480, 640, 3) float32 RGB."""
    shape = (FRAME_HEIGHT, FRAME_WIDTH)
    kind = rng.integers(0, 4)
    if kind == 0:  # wood: brown with grain along one direction
        grain = cv2.GaussianBlur(rng.normal(0, 1, (FRAME_HEIGHT, 40)).astype(np.float32), (0, 0), 2)
        grain = cv2.resize(grain, (FRAME_WIDTH, FRAME_HEIGHT), interpolation=cv2.INTER_LINEAR) * 0.06
        base = np.array([0.55, 0.38, 0.22]) * rng.uniform(0.6, 1.2)
        desk = base[None, None, :] + grain[..., None]
    elif kind == 1:
        desk = np.full((*shape, 3), rng.uniform(0.1, 0.3))
    elif kind == 2:
        desk = np.full((*shape, 3), rng.uniform(0.4, 0.6)) * np.array([1.0, 1.0, rng.uniform(0.9, 1.1)])
    else:
        desk = np.full((*shape, 3), rng.uniform(0.7, 0.85))  # a light desk: the sheet's edge barely shows
    noise = cv2.GaussianBlur(rng.normal(0, 0.02, shape).astype(np.float32), (0, 0), 3)
    return np.clip(desk + noise[..., None], 0, 1).astype(np.float32)


def _thumb(rng: np.random.Generator, image: np.ndarray, keep_clear: list[tuple[int, int, int, int]]) -> bool:
    """Draw a thumb holding the sheet at a frame edge, away from the digits; False if there was no room."""
    for _ in range(10):
        edge = rng.integers(0, 4)
        length, width = rng.uniform(110, 190), rng.uniform(55, 90)
        along = rng.uniform(0.15, 0.85)
        if edge in (0, 1):  # bottom or top edge, pointing into the frame
            centre = (along * FRAME_WIDTH, FRAME_HEIGHT + 10 if edge == 0 else -10)
            angle = 90 + rng.uniform(-30, 30)
        else:
            centre = (-10 if edge == 2 else FRAME_WIDTH + 10, along * FRAME_HEIGHT)
            angle = rng.uniform(-30, 30)
        x0, y0 = centre[0] - length, centre[1] - length
        if any(x0 < x + w and x < centre[0] + length and y0 < y + h and y < centre[1] + length for x, y, w, h in keep_clear):
            continue
        mask = np.zeros(image.shape[:2], np.float32)
        cv2.ellipse(mask, (round(centre[0]), round(centre[1])), (round(length), round(width / 2)), angle, 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), 2.0)
        skin = np.array([0.85, 0.62, 0.50]) * rng.uniform(0.6, 1.05)
        shading = 0.8 + 0.2 * cv2.GaussianBlur(mask, (0, 0), 15)  # rounder, lighter in the middle
        image[:] = image * (1 - mask[..., None]) + (skin[None, None, :] * shading[..., None]) * mask[..., None]
        return True
    return False


def _lighting(rng: np.random.Generator) -> np.ndarray:
    """Light falling on the frame: a gradient, vignetting and the soft shadow of a hand.  -> (480, 640) float32."""
    ys, xs = np.mgrid[0:FRAME_HEIGHT, 0:FRAME_WIDTH].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xs / FRAME_WIDTH + np.sin(angle) * ys / FRAME_HEIGHT) * rng.uniform(0.0, 0.3)
    light = 1.0 - (ramp - ramp.min())
    radius = ((xs - FRAME_WIDTH / 2) ** 2 + (ys - FRAME_HEIGHT / 2) ** 2) / (FRAME_WIDTH / 2) ** 2
    light *= 1.0 - rng.uniform(0.05, 0.35) * radius  # vignetting
    if rng.random() < 0.6:
        shadow = np.zeros((FRAME_HEIGHT, FRAME_WIDTH), np.float32)
        centre = (int(rng.uniform(-100, FRAME_WIDTH + 100)), int(rng.uniform(-100, FRAME_HEIGHT + 100)))
        axes = (int(rng.uniform(120, 320)), int(rng.uniform(80, 220)))
        cv2.ellipse(shadow, centre, axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
        light *= 1.0 - cv2.GaussianBlur(shadow, (0, 0), rng.uniform(25, 60)) * rng.uniform(0.15, 0.45)
    return np.clip(light * rng.uniform(0.75, 1.05), 0.2, 1.2).astype(np.float32)


def _blur(rng: np.random.Generator, image: np.ndarray) -> tuple[np.ndarray, BlurKind]:
    kind: BlurKind = BLUR_KINDS[int(rng.choice(3, p=[0.4, 0.35, 0.25]))]
    if kind == "sharp":
        return cv2.GaussianBlur(image, (0, 0), 0.5), kind
    if kind == "defocus":
        return cv2.GaussianBlur(image, (0, 0), rng.uniform(0.8, 1.8)), kind
    length = int(rng.integers(3, 7))
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    turn = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), rng.uniform(0, 180), 1.0)
    kernel = cv2.warpAffine(kernel, turn, (length, length))
    return cv2.filter2D(image, -1, kernel / max(kernel.sum(), 1e-6)), kind


# --- Frames -------------------------------------------------------------------------------------------------------


def camera_frame(digits: list[np.ndarray], labels: list[int], rng: np.random.Generator, **conditions: Any) -> CameraFrame:
    """One webcam frame of `digits` (scans, white ink on black, any size) handwritten on a sheet.

    `conditions` (ink, paper, rows, source, with_ink) are `written`'s. The number reads row by row, left to right.
    """
    return shoot(written(digits, labels, rng, **conditions), rng, rng)


def written(
    digits: list[np.ndarray],
    labels: list[int],
    rng: np.random.Generator,
    *,
    ink: PenKind | None = None,
    paper: PaperKind | None = None,
    rows: int | None = None,
    source: str = "mnist",
    with_ink: bool = False,
    whole_sheet: bool = False,
) -> Scene:
    """`digits` handwritten on a sheet held before the camera. Conditions left as None are drawn at random.

    The sheet is larger than the frame, which it fills; with `whole_sheet` it is a notepad's or an index card's,
    0.55-0.8 of the frame's size, seen whole with the desk or the room around it."""
    ink = ink or PEN_KINDS[int(rng.choice(3, p=[0.45, 0.2, 0.35]))]
    paper = paper or PAPER_KINDS[int(rng.choice(3, p=[0.3, 0.4, 0.3]))]
    rows = rows or (2 if len(digits) >= 2 and rng.random() < 0.3 else 1)
    size = rng.uniform(0.55, 0.8) if whole_sheet else 1.1
    sheet_shape = (round(FRAME_HEIGHT * size), round(FRAME_WIDTH * size))
    skeletons = [skeleton_segments(digit) for digit in digits]
    widths = [float(segments[:, [0, 2]].max()) if len(segments) else 0.5 for segments in skeletons]
    for _ in range(50):
        height = int(rng.uniform(40, 140))
        placed = _layout(rng, widths, rows, height, sheet_shape)
        if placed is None:
            continue
        homography, tilt = _perspective(rng, sheet_shape)
        corners, row_of = placed
        boxes = _frame_boxes(homography, corners, height)
        if all(x >= 0 and y >= 0 and x + w <= FRAME_WIDTH and y + h <= FRAME_HEIGHT for x, y, w, h in boxes):
            break
    else:
        raise RuntimeError("Could not place the digits inside the frame.")
    pixels_per_mm = height / rng.uniform(6, 14)  # a digit written 6-14 mm tall
    sheet = sheet_of_paper(rng, paper, sheet_shape, pixels_per_mm)
    film = np.ones_like(sheet)  # what the ink lets through, per channel
    covered = np.zeros(sheet_shape, np.float32)  # how much of each pixel the pen covers, whatever its colour
    ink_boxes = []  # each digit's ink on the sheet: (x, y, w, h)
    for segments, (x, y) in zip(skeletons, corners, strict=True):
        pen = random_pen(ink, height, rng)
        coverage = draw_digit(segments, height, pen, rng)
        y, x = max(0, y - round(pen.width + 2)), max(0, x - round(pen.width + 2))
        h, w = min(coverage.shape[0], sheet_shape[0] - y), min(coverage.shape[1], sheet_shape[1] - x)
        through = 1 - coverage[:h, :w, None] * (1 - np.array(pen.colour, np.float32)[None, None, :])
        film[y : y + h, x : x + w] = np.minimum(film[y : y + h, x : x + w], through)
        # Where this pen went, as a share of its own fullest line: a pencil's faint stroke is as much ink as a marker's.
        full = max(float(coverage.max()), 1e-6)
        covered[y : y + h, x : x + w] = np.maximum(covered[y : y + h, x : x + w], np.minimum(coverage[:h, :w] / full, 1.0))
        inked_y, inked_x = np.nonzero(coverage[:h, :w] > 0.2)
        inked = len(inked_x) > 0
        ink_boxes.append(
            (x + int(inked_x.min()), y + int(inked_y.min()), int(np.ptp(inked_x)) + 1, int(np.ptp(inked_y)) + 1) if inked else (x, y, 1, 1)
        )
    sheet *= film
    per_row = [[str(label) for label, row in zip(labels, row_of, strict=True) if row == r] for r in range(rows)]
    number = " ".join("".join(row) for row in per_row if row)
    return Scene(
        sheet,
        homography,
        number,
        ink,
        paper,
        rows,
        tilt,
        source,
        height,
        tuple(boxes),
        tuple(ink_boxes),
        covered if with_ink else None,
        whole_sheet,
    )


@dataclass(frozen=True)
class Scene:
    """A sheet with digits written on it, held before the camera: everything a frame shows before the camera's own
    choices (desk, thumb, light, blur, sensor)."""

    sheet: np.ndarray = field(repr=False)  # (H, W, 3) float32 RGB: the paper's albedo under the ink
    homography: np.ndarray = field(repr=False)  # sheet -> frame
    number: str
    ink: PenKind
    paper: PaperKind
    rows: int
    tilt: float
    source: str
    digit_height: int
    cells: tuple[tuple[int, int, int, int], ...]  # each digit's cell in the frame, kept clear of a thumb
    ink_boxes: tuple[tuple[int, int, int, int], ...]  # each digit's ink on the sheet
    covered: np.ndarray | None = field(default=None, repr=False)  # (H, W) float32: where the pen went, if asked for
    whole_sheet: bool = False  # a small sheet, seen whole


def shoot(scene: Scene, rng: np.random.Generator, sensor: np.random.Generator, homography: np.ndarray | None = None) -> CameraFrame:
    """`scene` through a webcam: the desk, a thumb, light, blur and the sensor drawn from `rng`, the sensor's noise
    and JPEG quality from `sensor` (the same generator for a single frame; a fresh one per frame of a video).
    `homography` moves the sheet (a hand holding it) instead of the scene's own."""
    homography = scene.homography if homography is None else homography
    ink_seen = None
    if scene.covered is not None:  # where the pen went, as the camera sees the sheet
        ink_seen = cv2.warpPerspective(
            (scene.covered * 255).astype(np.uint8), homography, (FRAME_WIDTH, FRAME_HEIGHT), flags=cv2.INTER_AREA
        )
    desk = _desk(rng)
    warped = cv2.warpPerspective(scene.sheet, homography, (FRAME_WIDTH, FRAME_HEIGHT), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    on_sheet = cv2.warpPerspective(
        np.ones(scene.sheet.shape[:2], np.float32), homography, (FRAME_WIDTH, FRAME_HEIGHT), flags=cv2.INTER_LINEAR
    )
    image = warped * on_sheet[..., None] + desk * (1 - on_sheet[..., None])
    desk_visible = bool((on_sheet < 0.5).mean() > 0.01)
    thumb = rng.random() < 0.35 and _thumb(rng, image, list(scene.cells))
    image *= _lighting(rng)[..., None]
    image, blur = _blur(rng, image)
    low_resolution = bool(rng.random() < 0.3)
    if low_resolution:
        small = cv2.resize(image, (FRAME_WIDTH // 2, FRAME_HEIGHT // 2), interpolation=cv2.INTER_AREA)
        image = cv2.resize(small, (FRAME_WIDTH, FRAME_HEIGHT), interpolation=cv2.INTER_LINEAR)
    image *= (1 + rng.uniform(-0.1, 0.1, 3)).astype(np.float32)[None, None, :]  # white balance
    noise = rng.uniform(0.005, 0.03)
    image += sensor.normal(0, noise, image.shape).astype(np.float32)  # sensor noise
    frame = cv2.cvtColor((np.clip(image, 0, 1) * 255).round().astype(np.uint8), cv2.COLOR_RGB2BGR)
    encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(sensor.integers(55, 91))])[1]
    conditions = Conditions(
        scene.ink,
        scene.paper,
        scene.rows,
        blur,
        round(scene.tilt, 1),
        desk_visible,
        bool(thumb),
        low_resolution,
        scene.source,
        scene.digit_height,
        scene.whole_sheet,
    )
    seen = tuple(_seen_box(homography, box) for box in scene.ink_boxes)
    return CameraFrame(cv2.imdecode(encoded, cv2.IMREAD_COLOR), scene.number, conditions, seen, ink_seen)


def _seen_box(homography: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """A box on the sheet as the frame sees it: the bounding box of its four corners after the perspective."""
    x, y, w, h = box
    corners = cv2.perspectiveTransform(np.array([[[x, y], [x + w, y], [x + w, y + h], [x, y + h]]], np.float32), homography)[0]
    (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
    return int(x0), int(y0), int(np.ceil(x1 - x0)), int(np.ceil(y1 - y0))


def _frame_boxes(homography: np.ndarray, corners: list[tuple[int, int]], height: int) -> list[tuple[int, int, int, int]]:
    """Each digit's cell (height x height on the sheet) as a box in the frame after the perspective."""
    boxes = []
    for x, y in corners:
        cell = np.array([[[x, y], [x + height, y], [x + height, y + height], [x, y + height]]], np.float32)
        seen = cv2.perspectiveTransform(cell, homography)[0]
        x0, y0 = seen.min(axis=0)
        x1, y1 = seen.max(axis=0)
        boxes.append((int(x0), int(y0), int(np.ceil(x1 - x0)), int(np.ceil(y1 - y0))))
    return boxes


def camera_frames(
    sources: dict[str, tuple[np.ndarray, np.ndarray]], count: int, seed: int = EVALUATION_SEED, **conditions: object
) -> list[CameraFrame]:
    """`count` frames of 1-7 digits (`digit_draws`)."""
    return [camera_frame(digits, labels, rng, source=name, **conditions) for name, digits, labels, rng in digit_draws(sources, count, seed)]


def digit_draws(
    sources: dict[str, tuple[np.ndarray, np.ndarray]], count: int, seed: int
) -> Iterator[tuple[str, list[np.ndarray], list[int], np.random.Generator]]:
    """`count` draws of 1-7 digits: (source's name, digits, labels, the generator to draw the rest of the frame from).

    `sources` maps a name to (images (n, h, w) white ink on black, labels (n,)); each draw takes its digits from one
    source, in proportion to the sources' sizes."""
    rng = np.random.default_rng(seed)
    names = list(sources)
    weights = np.array([len(sources[name][1]) for name in names], np.float64)
    for _ in range(count):
        name = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        images, labels = sources[name]
        chosen = rng.choice(len(images), size=int(rng.integers(1, 8)), replace=False)
        yield name, [images[i] for i in chosen], [int(labels[i]) for i in chosen], rng
