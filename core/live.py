"""Reading digits from a live video: per-frame reading, boxes drawn on the frame, a steady thread-safe readout and FPS."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from core import paper, segment
from core.inference import MIN_CONFIDENCE, Reading, Recognizer
from core.preprocess import InkMap

GREEN, GREY = (60, 200, 60), (160, 160, 160)
INK = (0, 140, 255)  # BGR orange: stands out from the green boxes, blue squares and grey paper
DIMMED = 0.4  # the frame's brightness under the ink it shows, so the ink found stands out from what was left out
# The readout is the number read most often in the last STEADY_FRAMES frames (0.3 s at 30 fps) that were read within
# STEADY_SECONDS: a frame misread now and then, as a faint stroke's pixels fall on either side of a threshold while
# the hand moves the sheet, no longer makes the number flicker, and a new number shows within a few frames.
STEADY_FRAMES = 9
STEADY_SECONDS = 1.0


@dataclass(frozen=True)
class Readout:
    """What the page shows beside the video."""

    number: str  # steadied over the last frames (`steady_number`)
    confidences: tuple[float, ...]  # of the newest frame that read `number`
    fps: float
    milliseconds: float  # time to read the last frame
    latest: str = ""  # what the last frame alone read


def steady_number(numbers: Sequence[str]) -> str:
    """The number read most often among `numbers` (oldest first, "" for no digit); a tie goes to the newest."""
    if not numbers:
        return ""
    counts = Counter(numbers)
    most = max(counts.values())
    return next(number for number in reversed(numbers) if counts[number] == most)


def draw_reading(image: np.ndarray, reading: Reading) -> np.ndarray:
    """Boxes, digits and confidences drawn on a copy of a BGR frame; grey boxes mark shapes too unsure to read."""
    canvas = image.copy()
    for box in reading.rejected:
        cv2.rectangle(canvas, (box.x, box.y), (box.x + box.w, box.y + box.h), GREY, 1)
    for digit in reading.digits:
        box = digit.box
        cv2.rectangle(canvas, (box.x, box.y), (box.x + box.w, box.y + box.h), GREEN, 2)
        label = f"{digit.digit} {digit.confidence:.0%}"
        cv2.putText(canvas, label, (box.x, max(16, box.y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.6, GREEN, 2, cv2.LINE_AA)
    return canvas


def draw_ink(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The frame dimmed, with the ink the reader found painted over it.

    (H, W, 3) uint8 BGR frame, (h, w) uint8 mask (255 = ink) covering the whole frame at any scale -> (H, W, 3) uint8.
    """
    height, width = image.shape[:2]
    found = cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR) > 127  # (H, W) bool
    canvas = cv2.convertScaleAbs(image, alpha=DIMMED)
    canvas[found] = INK
    return canvas


def ink_in_frame(ink: InkMap, shape: tuple[int, ...]) -> np.ndarray:
    """The ink found, over a whole frame of `shape`: a sheet seen whole is read alone, and its map covers only its box.
    -> (h, w) uint8 mask covering the frame at any scale, 255 = ink (as `draw_ink` takes it)."""
    if ink.origin == (0, 0):
        return ink.mask  # the whole frame at working size: `draw_ink` scales it
    height, width = shape[:2]
    x, y = ink.origin
    inner = (min(width - x, round(ink.mask.shape[1] / ink.scale)), min(height - y, round(ink.mask.shape[0] / ink.scale)))
    whole = np.zeros((height, width), np.uint8)
    whole[y : y + inner[1], x : x + inner[0]] = cv2.resize(ink.mask, inner, interpolation=cv2.INTER_LINEAR)
    return whole


class LiveReader:
    """Called from the video thread with each frame; read from the page thread through `readout()`."""

    def __init__(self, recognizer: Recognizer, min_confidence: float = MIN_CONFIDENCE) -> None:
        self.recognizer = recognizer
        self.min_confidence = min_confidence  # the page's slider writes it; a float assignment is atomic
        self.show_ink = False  # the page's toggle writes it (a bool assignment is atomic): the video shows the ink found
        # NOTE: the lock guards the readout shared between the WebRTC worker thread and the Streamlit script thread.
        self._lock = threading.Lock()
        self._readout = Readout("", (), 0.0, 0.0)
        self._times: deque[float] = deque(maxlen=30)
        self._recent: deque[tuple[float, Reading]] = deque(maxlen=STEADY_FRAMES)  # (time read, reading), newest last

    def process(self, frame: np.ndarray) -> np.ndarray:
        """Read one (H, W, 3) uint8 BGR frame and return it annotated; never raises into the video thread."""
        started = time.perf_counter()
        ink = None
        try:
            # The ink found is read and, when it is shown, drawn: found once per frame either way. Shown, it includes
            # the faint ink found beside the digits, as the reader uses it.
            ink = segment.find_page_digits(paper.page_ink_map(frame))[0] if self.show_ink else None
            reading = self.recognizer.read(frame, min_confidence=self.min_confidence, ink=ink)
        except ValueError:
            reading = Reading("", ())
        finished = time.perf_counter()
        with self._lock:
            self._times.append(finished)
            span = self._times[-1] - self._times[0]
            fps = (len(self._times) - 1) / span if span > 0 else 0.0
            self._recent.append((finished, reading))
            recent = [read for when, read in self._recent if finished - when <= STEADY_SECONDS]
            number = steady_number([read.number for read in recent])
            shown = next(read for read in reversed(recent) if read.number == number)
            confidences = tuple(round(digit.confidence, 3) for digit in shown.digits)
            self._readout = Readout(number, confidences, fps, (finished - started) * 1000, reading.number)
        # The boxes are drawn on the frame as the camera gave it, or showing the ink found when `show_ink` is on.
        return draw_reading(frame if ink is None else draw_ink(frame, ink_in_frame(ink, frame.shape)), reading)

    def readout(self) -> Readout:
        with self._lock:
            return self._readout
