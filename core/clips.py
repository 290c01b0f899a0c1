"""Webcam video of handwriting: a hand holds a sheet before the camera for a moment, and every frame differs a little.

A live reader sees many frames of the same sheet. They are not copies: the hand drifts and turns the sheet by a
pixel or two between frames, and the sensor's noise and the JPEG encoder's blocks are new in each. A reading that
depends on where a faint stroke crossed a threshold changes from frame to frame, while a digit the reader cannot
read stays misread. These clips measure what a readout steadied over recent frames gains on the honest benchmark.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.camera import EVALUATION_SEED, FRAME_HEIGHT, FRAME_WIDTH, CameraFrame, digit_draws, shoot, written

CLIP_FRAMES = 15  # half a second at 30 fps
DRIFT = 1.0  # pixels the sheet moves between frames (standard deviation, each axis)
TURN = 0.25  # degrees it turns between frames (standard deviation)
ZOOM = 0.004  # relative change of its distance between frames (standard deviation)


def camera_clip(
    digits: list[np.ndarray], labels: list[int], rng: np.random.Generator, frames: int = CLIP_FRAMES, **conditions: object
) -> list[CameraFrame]:
    """`frames` webcam frames of one sheet held by a hand. `conditions` are `core.camera.written`'s.

    The desk, a thumb, the light, the blur and the sensor's settings stay as drawn for the clip; the sheet's place
    walks a little from frame to frame (`DRIFT`, `TURN`, `ZOOM`), and each frame has its own noise and JPEG quality.
    """
    scene = written(digits, labels, rng, **conditions)  # type: ignore[arg-type]
    camera = int(rng.integers(2**62))  # the same camera, desk and light for every frame of the clip
    shift, turn, zoom = np.zeros(2), 0.0, 1.0
    clip = []
    for _ in range(frames):
        hand = np.asarray(cv2.getRotationMatrix2D((FRAME_WIDTH / 2, FRAME_HEIGHT / 2), turn, zoom), np.float64)  # (2, 3)
        hand[:, 2] += shift
        clip.append(shoot(scene, np.random.default_rng(camera), rng, np.vstack([hand, [0, 0, 1]]) @ scene.homography))
        shift = shift + rng.normal(0, DRIFT, 2)
        turn += float(rng.normal(0, TURN))
        zoom *= 1 + float(rng.normal(0, ZOOM))
    return clip


def camera_clips(
    sources: dict[str, tuple[np.ndarray, np.ndarray]], count: int, seed: int = EVALUATION_SEED, frames: int = CLIP_FRAMES
) -> list[list[CameraFrame]]:
    """`count` clips of 1-7 digits, their digits drawn as `core.camera.camera_frames` draws a frame's."""
    return [camera_clip(digits, labels, rng, frames, source=name) for name, digits, labels, rng in digit_draws(sources, count, seed)]
