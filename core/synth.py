"""Synthetic digits: camera-like test frames from real ones, and the training styles MNIST lacks (continental 1, 7, 9; squared)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core import preprocess
from core.pens import PEN_KINDS, pen_digit, random_pen

FRAME_WIDTH, FRAME_HEIGHT = 640, 480


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # (480, 640, 3) uint8 BGR
    number: str  # the digits written, left to right


def paper(rng: np.random.Generator, width: int = FRAME_WIDTH, height: int = FRAME_HEIGHT) -> np.ndarray:
    """Off-white paper with fibre texture, a lighting gradient and a soft shadow.  -> (H, W, 3) float32 in [0, 1]."""
    tint = rng.uniform(0.80, 0.97, size=3).astype(np.float32)
    fibres = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 2.0) * 0.03
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xs / width + np.sin(angle) * ys / height) * rng.uniform(0.15, 0.45)
    light = 1.0 - (ramp - ramp.min())
    # A blurred shadow blob, as from a hand or a phone held over the page.
    shadow = np.zeros((height, width), np.float32)
    centre = (int(rng.uniform(0, width)), int(rng.uniform(0, height)))
    cv2.ellipse(shadow, centre, (int(rng.uniform(80, 260)), int(rng.uniform(60, 200))), rng.uniform(0, 180), 0, 360, 1.0, -1)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 40) * rng.uniform(0.0, 0.35)
    light = np.clip(light - shadow, 0.35, 1.0)
    return np.clip((tint[None, None, :] + fibres[..., None]) * light[..., None], 0, 1).astype(np.float32)


def compose(
    digits: list[np.ndarray],
    labels: list[int],
    rng: np.random.Generator,
    *,
    jpeg_quality: int | None = None,
) -> Frame:
    """Write MNIST-style digits (white on black, (28, 28) uint8) in a row on a photographed page."""
    page = paper(rng)
    height = int(rng.uniform(70, 140))  # digit height in pixels
    ink_colour = np.array(rng.choice([(0.10, 0.08, 0.08), (0.45, 0.15, 0.10), (0.08, 0.08, 0.35)]), np.float32) * rng.uniform(0.6, 1.2)
    ink = np.zeros(page.shape[:2], np.float32)
    total_width = len(digits) * height * 0.85
    x = int((FRAME_WIDTH - total_width) / 2 + rng.uniform(-40, 40))
    baseline = int(FRAME_HEIGHT / 2 - height / 2 + rng.uniform(-60, 60))
    for digit in digits:
        glyph = cv2.resize(digit.astype(np.float32) / 255.0, (height, height), interpolation=cv2.INTER_CUBIC)
        y = baseline + int(rng.uniform(-0.08, 0.08) * height)
        left = max(0, min(FRAME_WIDTH - height, x))
        top = max(0, min(FRAME_HEIGHT - height, y))
        ink[top : top + height, left : left + height] = np.maximum(ink[top : top + height, left : left + height], glyph)
        x += int(height * rng.uniform(0.75, 0.95))
    ink = np.clip(ink, 0, 1) * rng.uniform(0.75, 1.0)
    image = page * (1 - ink[..., None]) + ink_colour[None, None, :] * ink[..., None]
    # Tilt the whole page slightly, as a hand-held camera does.
    rotation = cv2.getRotationMatrix2D((FRAME_WIDTH / 2, FRAME_HEIGHT / 2), rng.uniform(-6, 6), 1.0)
    image = cv2.warpAffine(image, rotation, (FRAME_WIDTH, FRAME_HEIGHT), borderMode=cv2.BORDER_REFLECT)
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.5))
    image = image + rng.normal(0, rng.uniform(0.01, 0.04), image.shape).astype(np.float32)
    frame = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    quality = jpeg_quality if jpeg_quality is not None else int(rng.uniform(40, 90))
    encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
    return Frame(cv2.imdecode(encoded, cv2.IMREAD_COLOR), "".join(map(str, labels)))


def frames_from_digits(images: np.ndarray, labels: np.ndarray, count: int, seed: int = 0) -> list[Frame]:
    """`count` frames of 1-5 digits drawn from (n, 28, 28) white-on-black uint8 images."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        chosen = rng.choice(len(images), size=int(rng.integers(1, 6)), replace=False)
        frames.append(compose([images[index] for index in chosen], [int(labels[index]) for index in chosen], rng))
    return frames


def write_y4m(frames: list[np.ndarray], path: str | Path, fps: int = 10) -> Path:
    """A raw YUV4MPEG2 video, the format Chromium's fake camera plays.  frames: (H, W, 3) uint8 BGR, all one size."""
    height, width = frames[0].shape[:2]
    target = Path(path)
    with open(target, "wb") as stream:
        stream.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            stream.write(b"FRAME\n")
            stream.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return target


# --- Training styles MNIST lacks ----------------------------------------------------------------------------------


def squared(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, share: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Copies of a random `share` of the digits stretched to fill a square, then laid out by the recognizer's own
    preprocessing (`to_mnist`), exactly as such a scan is at inference: aspect kept, stroke width normalised.
    Stretching inside the training graph instead gives a wide digit stretched strokes, which no real scan has.
    (n, 28, 28) uint8 -> (m, 28, 28) uint8 new images and their labels.
    """
    chosen = np.flatnonzero(rng.random(len(images)) < share)
    squares, kept = [], []
    for index, image in zip(chosen, images[chosen], strict=True):
        ys, xs = np.nonzero(image > 64)
        ink = image[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] if len(xs) else image
        if max(ink.shape) > 4 * min(ink.shape):
            continue  # a plain 1 would become a solid slab
        square = cv2.resize(ink, (64, 64), interpolation=cv2.INTER_LINEAR)  # the stretch; to_mnist keeps this aspect
        squares.append((preprocess.to_mnist(square.astype(np.float32) / 255) * 255).round().astype(np.uint8))
        kept.append(index)
    if not squares:
        return np.zeros((0, 28, 28), np.uint8), np.zeros((0,), labels.dtype)
    return np.stack(squares), labels[kept]


def pen_copies(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, share: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Copies of a random `share` of the digits as pens write them, laid out by the recognizer's own `to_mnist`.

    Each digit's skeleton is retraced by a ballpoint (a thin line 1-3 pixels wide), a marker or a pencil (30-60
    grey levels on the paper), with pressure that varies and small gaps, at 30-120 pixels tall, then blurred and
    noised as a webcam sees it. The network so learns what the reader makes of a thin, faint or broken line,
    which MNIST's thick, even strokes never show it.  (n, 28, 28) uint8 -> (m, 28, 28) uint8 and their labels.
    """
    chosen = np.flatnonzero(rng.random(len(images)) < share)
    written, kept = [], []
    for index in chosen:
        height = float(rng.uniform(30, 120))
        pen = random_pen(PEN_KINDS[int(rng.integers(len(PEN_KINDS)))], height, rng)
        coverage = pen_digit(images[index], height, pen, rng)  # (h, w) float32 in [0, 1]
        darkness = coverage * np.float32(1.0 - np.mean(pen.colour))  # how much darker than the paper
        darkness = cv2.GaussianBlur(darkness, (0, 0), rng.uniform(0.4, 1.5))
        noise = rng.uniform(0.005, 0.025)
        darkness += rng.normal(0.0, noise, darkness.shape).astype(np.float32)
        darkness[darkness < 3 * noise] = 0.0  # what the reader keeps: ink clearly above the paper's noise
        if not darkness.any():
            continue
        written.append((preprocess.to_mnist(darkness) * 255).round().astype(np.uint8))
        kept.append(index)
    if not written:
        return np.zeros((0, 28, 28), np.uint8), np.zeros((0,), labels.dtype)
    return np.stack(written), labels[kept]


STYLED_DIGITS = (1, 7, 9)  # the digits continental_styles adds copies of


def continental_styles(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Copies of some 1s, 7s and 9s written the continental European way: 1 with a long flag (and often a base),
    7 with a crossbar, 9 with its tail hooked back to the left. MNIST's writers were American and rarely did
    any of these, so without them a flagged 1 reads as 2 or 4, a crossed 7 as 2 and a hooked 9 as 3 or 8.
    (n, 28, 28) uint8 -> (m, 28, 28) uint8 new images and their labels.
    """
    styled, styled_labels = [], []
    for image, label in zip(images, labels, strict=True):
        if label not in STYLED_DIGITS or rng.random() > 0.5:
            continue
        large = cv2.resize(image, (112, 112), interpolation=cv2.INTER_LINEAR)  # draw at 4x, then area-average down
        rows = np.flatnonzero(large.max(axis=1) > 128)
        if len(rows) < 8:
            continue
        top, bottom = int(rows[0]), int(rows[-1])
        height = bottom - top
        thickness = int(rng.integers(7, 13))
        if label == 1:
            top_x = int(np.flatnonzero(large[top + 2] > 128).mean()) if (large[top + 2] > 128).any() else 56
            # A long flag sloping down to the left; a 7's bar is level, so slopes of 25 degrees and more stay distinct.
            angle = np.radians(rng.uniform(25, 65))
            length = height * rng.uniform(0.45, 1.0)
            end = (int(top_x - length * np.cos(angle)), int(top + 2 + length * np.sin(angle)))
            cv2.line(large, (top_x, top + 2), end, 255, thickness, cv2.LINE_AA)
            if rng.random() < 0.5:
                foot = np.flatnonzero(large[bottom - 2] > 128)
                centre = int(foot.mean()) if len(foot) else 56
                half = int(height * rng.uniform(0.2, 0.4))
                cv2.line(large, (centre - half, bottom - 2), (centre + half, bottom - 2), 255, thickness, cv2.LINE_AA)
        elif label == 9:
            tail = np.flatnonzero(large[bottom - 2] > 128)
            if len(tail) == 0:
                continue
            # From the tail's end, curve left and back up: a quadratic Bezier through a point just below it.
            length = height * rng.uniform(0.25, 0.45)
            start = np.array([tail.mean(), bottom - 2.0])
            control = start + [-0.5 * length, 0.15 * length]
            end = start + [-length, -rng.uniform(0.2, 0.5) * length]
            steps = np.linspace(0, 1, 12)[:, None]
            curve = (1 - steps) ** 2 * start + 2 * (1 - steps) * steps * control + steps**2 * end
            cv2.polylines(large, [np.clip(curve, 0, 111).round().astype(np.int32)], False, 255, thickness, cv2.LINE_AA)
        else:
            middle = top + int(height * rng.uniform(0.45, 0.6))
            stem = np.flatnonzero(large[middle] > 128)
            if len(stem) == 0:
                continue
            centre, half = int(stem.mean()), int(height * rng.uniform(0.15, 0.3))
            cv2.line(large, (centre - half, middle), (centre + half, middle), 255, thickness, cv2.LINE_AA)
        styled.append(cv2.resize(large, (28, 28), interpolation=cv2.INTER_AREA))
        styled_labels.append(label)
    if not styled:
        return np.zeros((0, 28, 28), np.uint8), np.zeros((0,), labels.dtype)
    return np.stack(styled), np.asarray(styled_labels, labels.dtype)
