"""Camera-like test frames made from real handwritten digits: paper texture, uneven light, noise, tilt, JPEG."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

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
