"""Two digits written touching: a small network that tells one digit from two, and the cut that parts them.

A digit network trained on single digits reads two touching digits as one digit, and reads either half of a
single digit as a digit, both surely: it cannot decide whether a shape is one digit or two. This network was
trained for that question alone, on MNIST *training* digits laid side by side until they touch or overlap, against
single digits (wide ones too), all laid out by the recognizer's own `to_mnist`. A shape it calls two is cut along
the paths from top to bottom that cross the least ink, so two slanted digits that overlap left to right are parted
along their gap, and the recognizer keeps the cut whose parts it reads most surely.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from core.groups import Group
from core.modelfile import MODELS_DIR
from core.preprocess import InkMap, to_mnist

if TYPE_CHECKING:
    import keras

    from core.data import Mnist

TOUCHING_MODEL = MODELS_DIR / "touching.keras"  # its LiteRT copy is committed in models/serving, keyed by its hash
HEIGHT = 56  # pixels: digits are composed at this height before `to_mnist` lays them out
# Two digits touch or overlap: the second starts this far (fractions of the height) after the first one ends,
# negative where they overlap left to right.
GAPS = (-0.35, 0.03)
SINGLE_ASPECTS = (0.7, 1.7)  # a single digit is stretched this much sideways: wide 0s, 2s and 7s are one digit
CAMERA_SEED = 7000  # webcam frames of training digits come from this seed on (tuning used 1-6, the evaluation 20261201)
CAMERA_WEIGHT = 3.0  # each shape found in a frame counts this much in training: they are few, and what the reader meets
PEN_SHARE = 0.4  # of the digits in the examples: redrawn by a ballpoint, marker or pencil, as a camera sees them
NARROWEST = 0.5  # of its height: a shape narrower than this is not looked at as two digits (a 1 beside a 4 is 0.6)
# The cut: where it may run (fractions of the shape's width from either side) and what each sideways step costs,
# in pixels of ink crossed.
CUT_MARGIN = 0.15
CUT_STEP = 0.15
CUTS = 5  # cuts tried per shape: the best path ending in each of this many bands of columns


# --- Asking -------------------------------------------------------------------------------------------------------


@functools.cache
def detector() -> Callable[[np.ndarray], np.ndarray]:
    """The shipped detector, (N, 28, 28, 1) float32 -> (N, 2): LiteRT from its committed copy, else TensorFlow."""
    from core import serving

    found = serving.cached_runtime(TOUCHING_MODEL)
    if found is not None:
        try:
            return serving.LiteModel(found.read_bytes())
        except serving.ExportError:  # a platform without LiteRT's wheels
            pass
    import keras

    from core.tf_runtime import KerasModel

    return KerasModel(keras.saving.load_model(TOUCHING_MODEL, safe_mode=True))


def two_digits(shapes: np.ndarray) -> np.ndarray:
    """How likely each shape, laid out by `to_mnist`, is two digits rather than one.  (N, 28, 28) -> (N,)."""
    if len(shapes) == 0:
        return np.zeros(0, np.float32)
    return detector()(np.ascontiguousarray(shapes, np.float32)[..., None])[:, 1]


# --- The cut ------------------------------------------------------------------------------------------------------


def least_ink_paths(own: np.ndarray, count: int = CUTS) -> list[np.ndarray]:
    """Paths from top to bottom that cross the least ink, moving at most one column per row: the best one ending in
    each of `count` bands of columns across the shape's middle.  (h, w) bool -> [(h,) int], [] when too narrow."""
    height, width = own.shape
    low, high = max(1, round(CUT_MARGIN * width)), min(width - 1, width - round(CUT_MARGIN * width))
    if high <= low:
        return []
    cost = own.astype(np.float32)
    blocked = np.float32(1e6)
    outside = np.ones(width, bool)
    outside[low:high] = False
    total = np.where(outside, blocked, cost[0])
    came_from = np.zeros((height, width), np.int8)  # -1, 0, +1: the column step taken into each pixel
    for row in range(1, height):
        from_left = np.concatenate([[blocked], total[:-1]]) + CUT_STEP
        from_right = np.concatenate([total[1:], [blocked]]) + CUT_STEP
        options = np.stack([from_left, total, from_right])  # (3, w)
        choice = options.argmin(axis=0)
        total = np.where(outside, blocked, options[choice, np.arange(width)] + cost[row])
        came_from[row] = choice - 1
    edges = np.linspace(low, high, min(count, high - low) + 1).round().astype(int)
    ends = sorted({start + int(np.argmin(total[start:stop])) for start, stop in zip(edges[:-1], edges[1:], strict=True) if stop > start})
    paths = []
    for end in ends:
        path = np.empty(height, np.int64)
        path[-1] = end
        for row in range(height - 1, 0, -1):
            path[row - 1] = path[row] + came_from[row, path[row]]
        paths.append(path)
    return paths


def two_ways(ink: InkMap, labels: np.ndarray, group: Group) -> list[tuple[Group, Group, np.ndarray, np.ndarray]]:
    """The shape cut in two along each of `least_ink_paths`: [(left part, right part, their `to_mnist` inputs)].

    The parts' groups only place them (boxes, rows); their inputs are cropped here from the shape's own ink.
    """
    from core.segment import crop_group

    crop = crop_group(ink, labels, group)  # (h, w) float32: a page's crop is the group's box
    if crop.shape != (group.height, group.width):
        return []
    own = crop > 0
    ways = []
    for path in least_ink_paths(own):
        right_side = np.arange(group.width)[None, :] >= path[:, None]
        sides = [own & ~right_side, own & right_side]
        if min(int(side.sum()) for side in sides) < 4:
            continue
        parts, inputs = [], []
        for side in sides:
            x0, y0, x1, y1 = _box(side)
            parts.append(Group(list(group.labels), group.x0 + x0, group.y0 + y0, group.x0 + x1, group.y0 + y1, int(side.sum())))
            inputs.append(to_mnist(np.where(side, crop, 0.0)[y0:y1, x0:x1]))
        ways.append((parts[0], parts[1], inputs[0], inputs[1]))
    return ways


def _box(pixels: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the true pixels of a non-empty (h, w) bool array, ends exclusive."""
    x, y, width, height = cv2.boundingRect(pixels.astype(np.uint8))
    return x, y, x + width, y + height


# --- Examples -----------------------------------------------------------------------------------------------------


def examples(images: np.ndarray, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`count` shapes laid out by `to_mnist`, half of them two digits touching or overlapping, half one digit.

    (n, 28, 28) uint8 MNIST digits -> ((count, 28, 28) float32, (count,) uint8: 1 for two digits, 0 for one).
    """
    shapes, answers = [], []
    for _ in range(count):
        two = rng.random() < 0.5
        first = _upright(images[rng.integers(len(images))], rng, 1.0 if two else rng.uniform(*SINGLE_ASPECTS))
        shape = _side_by_side(first, _upright(images[rng.integers(len(images))], rng, 1.0), rng) if two else first
        shapes.append(to_mnist(shape))
        answers.append(int(two))
    return np.stack(shapes), np.asarray(answers, np.uint8)


def _upright(digit: np.ndarray, rng: np.random.Generator, aspect: float) -> np.ndarray:
    """A digit's ink cropped tight, HEIGHT tall (a little more or less), stretched sideways by `aspect`; as scanned,
    or redrawn by a pen (`core.pens`: a thin, fading or skipping line) in PEN_SHARE of them."""
    # NOTE: the pens (and scikit-image and SciPy, 0.45 s and 35 MB to import) are needed only to train the detector,
    # never to read: the serving path does not import them.
    from core.pens import PEN_KINDS, pen_digit, random_pen

    height = HEIGHT * rng.uniform(0.85, 1.15)
    if rng.random() < PEN_SHARE:
        kind = PEN_KINDS[rng.integers(len(PEN_KINDS))]
        drawn = pen_digit(digit, height, random_pen(kind, height, rng), rng)
        if drawn.max() > 0:
            crop = _tight(drawn, drawn > 0.1 * float(drawn.max()))
            return cv2.resize(crop, (max(1, round(crop.shape[1] * aspect)), crop.shape[0]), interpolation=cv2.INTER_LINEAR)
    crop = _tight(digit, digit > 30).astype(np.float32) / 255.0
    size = (max(1, round(crop.shape[1] * height / crop.shape[0] * aspect)), max(1, round(height)))
    return cv2.resize(crop, size, interpolation=cv2.INTER_LINEAR)


def _tight(image: np.ndarray, inked: np.ndarray) -> np.ndarray:
    """`image` cropped to the box of its `inked` pixels."""
    x0, y0, x1, y1 = _box(inked)
    return image[y0:y1, x0:x1]


def _side_by_side(left: np.ndarray, right: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two digits in a row, the second starting a little before or after the first ends, a little higher or lower."""
    gap = round(rng.uniform(*GAPS) * HEIGHT)
    start = max(0, left.shape[1] + gap)
    drop = round(rng.uniform(-0.12, 0.12) * HEIGHT)
    top_left, top_right = max(0, -drop), max(0, drop)
    height = max(top_left + left.shape[0], top_right + right.shape[0])
    canvas = np.zeros((height, max(left.shape[1], start + right.shape[1])), np.float32)
    canvas[top_left : top_left + left.shape[0], : left.shape[1]] = left
    view = canvas[top_right : top_right + right.shape[0], start : start + right.shape[1]]
    np.maximum(view, right, out=view)
    return canvas


def camera_examples(images: np.ndarray, labels: np.ndarray, frames: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The shapes the reader finds in `frames` synthetic webcam frames (`core.camera`) of these digits, each labelled
    1 when it covers two of the digits written, else 0: the single digits a camera and the ink finder leave broken,
    thickened or joined to a remnant of a grid line, which the scanned examples lack.
    (n, 28, 28) uint8, (n,) -> ((m, 28, 28) float32, (m,) uint8)."""
    from core import camera, paper, segment

    shapes, answers = [], []
    for frame in camera.camera_frames({"mnist": (images, labels)}, frames, seed=seed):
        ink, pieces, groups = segment.find_page_digits(paper.page_ink_map(frame.image))
        for group in groups:
            if group.width < NARROWEST * group.height:
                continue
            box = segment.caller_box(ink, group)
            covered = sum(_covers((box.x, box.y, box.w, box.h), written) for written in frame.boxes)
            shapes.append(to_mnist(segment.crop_group(ink, pieces, group)))
            answers.append(int(covered >= 2))
    if not shapes:
        return np.zeros((0, 28, 28), np.float32), np.zeros(0, np.uint8)
    return np.stack(shapes), np.asarray(answers, np.uint8)


def _covers(box: tuple[int, int, int, int], written: tuple[int, int, int, int]) -> bool:
    """Whether `box` holds at least 0.3 of the written digit's box (x, y, w, h)."""
    width = min(box[0] + box[2], written[0] + written[2]) - max(box[0], written[0])
    height = min(box[1] + box[3], written[1] + written[3]) - max(box[1], written[1])
    return max(0, width) * max(0, height) >= 0.3 * written[2] * written[3]


# --- The network --------------------------------------------------------------------------------------------------


def build_detector() -> keras.Model:
    """(28, 28, 1) -> (2,) probabilities: one digit, two digits. About 60,000 weights."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input((28, 28, 1), name="image"),
            layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dropout(0.3),
            layers.Dense(2, activation="softmax"),
        ],
        name="touching",
    )


def train_detector(data: Mnist, seed: int = 0, count: int = 80_000, frames: int = 1_500, epochs: int = 6) -> tuple[keras.Model, float]:
    """The detector trained on `count` shapes made of MNIST training digits and on the shapes found in `frames`
    webcam frames of them (seeds from CAMERA_SEED), those weighted CAMERA_WEIGHT; -> (model, accuracy on shapes made
    of MNIST test digits, which it never saw)."""
    import keras

    keras.utils.set_random_seed(seed)
    shapes, answers = examples(data.x_train, count, np.random.default_rng(seed))
    weights = np.ones(len(shapes), np.float32)
    if frames:
        found, truths = camera_examples(data.x_train, data.y_train, frames, CAMERA_SEED + seed)
        shapes, answers = np.concatenate([shapes, found]), np.concatenate([answers, truths])
        weights = np.concatenate([weights, np.full(len(found), CAMERA_WEIGHT, np.float32)])
    held_shapes, held_answers = examples(data.x_test, max(1, count // 20), np.random.default_rng(seed + 1))
    model = build_detector()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(shapes[..., None], answers, sample_weight=weights, batch_size=128, epochs=epochs, verbose=0)
    accuracy = float((model.predict(held_shapes[..., None], verbose=0).argmax(axis=1) == held_answers).mean())
    return model, accuracy


def save_detector(model: keras.Model, path: str | Path, runtime_dir: Path | None = None, accuracy: float | None = None) -> Path:
    """Save the .keras file with its card (`core.model.save_model`: atomic, without the optimizer's state) and its
    LiteRT copy, keyed by the file's hash, in `runtime_dir` (by default beside the shipped models, where `detector`
    looks for it). `accuracy`: on shapes of MNIST test digits, written in the card."""
    from core import serving
    from core.model import save_model
    from core.modelfile import ModelCard

    card = ModelCard(
        name="touching",
        metrics={} if accuracy is None else {"held_out_accuracy": round(accuracy, 4)},
        parameters=int(model.count_params()),
        notes="One digit or two: (28, 28, 1) shapes laid out by to_mnist -> (one, two) probabilities.",
    )
    target = save_model(model, card, path)
    runtime = (runtime_dir or serving.SHIPPED_RUNTIME_DIR) / f"{serving.file_key(target)}.tflite"
    serving._write_atomically(runtime, serving.export_litert(model))
    return target
