"""Recognizer: the public API that reads one digit (`classify`) or a row of digits (`read`) from any numpy image."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from core import paper, preprocess, segment
from core.model import SHIPPED_MODEL, ModelCard, load_model
from core.preprocess import Box

# Below this calibrated confidence a shape is "no digit" rather than a guess. Calibration makes it mean what it
# says: among answers given with confidence 0.6, about 60% are right (see README, "Confidence").
MIN_CONFIDENCE = 0.6
# A shape read as one digit this surely is never split in two (a wide 0 or 6 splits into a convincing 1 and 0).
SURE_OF_ONE = 0.9


@dataclass(frozen=True)
class Prediction:
    """One digit: the answer (None when there is no digit or it is too unsure), how sure, and what the model saw."""

    digit: int | None
    confidence: float  # calibrated probability of the best class, 0.0 when there is no ink at all
    probabilities: np.ndarray  # (10,) float32, calibrated, sums to 1 (all zero when there is no ink)
    model_input: np.ndarray  # (28, 28) float32 in [0, 1]: white ink on black, as MNIST


@dataclass(frozen=True)
class DigitReading:
    """One digit found in a larger image."""

    digit: int
    confidence: float
    box: Box  # in the caller's image pixels
    probabilities: np.ndarray = field(repr=False)  # (10,)
    model_input: np.ndarray = field(repr=False)  # (28, 28)


@dataclass(frozen=True)
class Reading:
    """All digits read from an image, in reading order, and the shapes rejected as not digits."""

    number: str  # e.g. "2024"; rows are separated by a space; "" when no digit was read
    digits: tuple[DigitReading, ...]
    rejected: tuple[Box, ...] = ()  # ink that looked like a digit's size but was too unsure to read


class Recognizer:
    """A digit model with a compiled, thread-safe predict path and calibrated confidences."""

    def __init__(self, model: keras.Model, card: ModelCard | None = None) -> None:
        self.model = model
        self.card = card or ModelCard(name=model.name)
        input_shape = tuple(model.inputs[0].shape[1:])

        def predict(batch: tf.Tensor) -> tf.Tensor:
            return model(tf.reshape(batch, (-1, *input_shape)), training=False)

        # NOTE: model.predict builds a tf.data pipeline on every call (~70 ms for one image); a concrete function
        # traced once costs well under a millisecond, gives the same numbers and may be called from any thread.
        # One image (classify, a canvas, most frames) goes through XLA, which fuses the model into one kernel and
        # halves that again; XLA compiles once per batch size, so other batches take the plain graph.
        self._predict = tf.function(predict, input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)]).get_concrete_function()
        self._predict_one = _compiled_for_one(predict)
        # TensorFlow optimises the graph on its first run (hundreds of ms): do it now, not on a user's first frame.
        self._predict(tf.zeros((2, 28, 28, 1)))

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Recognizer:
        """The shipped model, or the model file at `path` (safe_mode: no code inside the file is run)."""
        model, card = load_model(SHIPPED_MODEL if path is None else path)
        return cls(model, card)

    def raw_probabilities(self, batch: np.ndarray) -> np.ndarray:
        """The model's own outputs, identical to model.predict.  (N, 28, 28[, 1]) float32 -> (N, 10) float32."""
        if len(batch) == 0:
            return np.zeros((0, 10), np.float32)
        tensor = tf.convert_to_tensor(np.asarray(batch, np.float32).reshape(-1, 28, 28, 1))
        return (self._predict_one if len(tensor) == 1 and self._predict_one else self._predict)(tensor).numpy()

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """Calibrated probabilities: the model's log-probabilities divided by the card's temperature.  -> (N, 10)."""
        raw = self.raw_probabilities(batch)
        if self.card.temperature == 1.0:
            return raw
        logits = np.log(np.clip(raw, 1e-12, 1.0)) / self.card.temperature
        logits -= logits.max(axis=1, keepdims=True)
        scaled = np.exp(logits)
        return (scaled / scaled.sum(axis=1, keepdims=True)).astype(np.float32)

    def classify(self, image: np.ndarray, min_confidence: float = MIN_CONFIDENCE) -> Prediction:
        """Read the one digit that fills `image` (any size, grey/BGR/RGBA, either polarity)."""
        model_input = segment.single_digit_input(image)  # (28, 28), or None
        if model_input is None:
            return _no_digit()
        probabilities = self.probabilities(model_input[None])[0]
        best = int(probabilities.argmax())
        confidence = float(probabilities[best])
        return Prediction(best if confidence >= min_confidence else None, confidence, probabilities, model_input)

    def read(self, image: np.ndarray, min_confidence: float = MIN_CONFIDENCE) -> Reading:
        """Find and read every digit in `image` (a photo, a frame, a canvas), all classified in one batch."""
        ink = paper.page_ink_map(image)
        labels, groups = segment.find_digit_groups(ink)
        if not groups:
            return Reading("", ())
        pairs = segment.ambiguous_pairs(groups)
        paired = {index for pair in pairs for index in pair}
        splits = {
            index: halves
            for index, group in enumerate(groups)
            if index not in paired and (halves := segment.split_candidates(ink, labels, group)) is not None
        }
        candidates = (
            groups + [segment.union(groups[i], groups[j]) for i, j in pairs] + [half for halves in splits.values() for half in halves]
        )
        inputs = np.stack([preprocess.to_mnist(segment.crop_group(ink, labels, group)) for group in candidates])  # (N, 28, 28)
        probabilities = self.probabilities(inputs)  # one batch: the digits, every two-piece and every split alternative
        candidates, count, pairs, inputs, probabilities = _resolve_splits(candidates, len(groups), pairs, splits, inputs, probabilities)
        groups, inputs, probabilities = _resolve_pairs(candidates, count, pairs, inputs, probabilities)
        breaks = set(segment.row_breaks(groups))
        digits: list[DigitReading] = []
        rejected: list[Box] = []
        text = ""
        for index, (group, model_input, scores) in enumerate(zip(groups, inputs, probabilities, strict=True)):
            box = segment.caller_box(ink, group)
            best = int(scores.argmax())
            if scores[best] < min_confidence:
                rejected.append(box)
                continue
            if index in breaks and text:
                text += " "
            text += str(best)
            digits.append(DigitReading(best, float(scores[best]), box, scores, model_input))
        return Reading(text, tuple(digits), tuple(rejected))


def _compiled_for_one(predict: Callable[[tf.Tensor], tf.Tensor]) -> Callable[[tf.Tensor], tf.Tensor] | None:
    """`predict` compiled by XLA for a batch of one image, or None for a model XLA cannot compile (a user's file)."""
    compiled = tf.function(predict, input_signature=[tf.TensorSpec([1, 28, 28, 1], tf.float32)], jit_compile=True)
    try:
        function = compiled.get_concrete_function()
        function(tf.zeros((1, 28, 28, 1)))  # compiles now (a few hundred ms), not on a user's first drawing
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
        return None
    return function


def _resolve_pairs(
    candidates: list[segment.Group], count: int, pairs: list[tuple[int, int]], inputs: np.ndarray, probabilities: np.ndarray
) -> tuple[list[segment.Group], np.ndarray, np.ndarray]:
    """Merge each ambiguous pair (neighbours i, i + 1) whose union reads as one digit more surely than the two
    parts read as two digits. candidates/inputs/probabilities hold the `count` groups first, then one union per pair.
    """
    merges: dict[int, int] = {}  # first index of a merged pair -> row of its union
    for offset, (first, second) in enumerate(pairs):
        if first in merges or first - 1 in merges:
            continue  # a group joins at most one pair
        if probabilities[count + offset].max() > probabilities[first].max() * probabilities[second].max():
            merges[first] = count + offset
    # A merged pair is replaced by its union's row; its second group is absorbed.
    rows = [merges.get(index, index) for index in range(count) if index - 1 not in merges]
    return [candidates[row] for row in rows], inputs[rows], probabilities[rows]


def _resolve_splits(
    candidates: list[segment.Group],
    count: int,
    pairs: list[tuple[int, int]],
    splits: dict[int, tuple[segment.Group, segment.Group]],
    inputs: np.ndarray,
    probabilities: np.ndarray,
) -> tuple[list[segment.Group], int, list[tuple[int, int]], np.ndarray, np.ndarray]:
    """Replace each wide shape by its two halves where both read as digits, and as two digits more surely than the
    whole reads as one. Rows hold the `count` groups, one union per pair, then two halves per split in the order of `splits`.
    Returns the rows reordered as groups (halves in place) then unions, the new group count and the pairs' new indices.
    """
    halves_row = count + len(pairs)
    kept: dict[int, list[int]] = {}
    for index in splits:
        left, right = halves_row, halves_row + 1
        halves_row += 2
        left_sure, right_sure = probabilities[left].max(), probabilities[right].max()
        whole_sure = probabilities[index].max()
        if whole_sure < SURE_OF_ONE and min(left_sure, right_sure) >= MIN_CONFIDENCE and left_sure * right_sure > whole_sure:
            kept[index] = [left, right]
    group_rows = [row for index in range(count) for row in kept.get(index, [index])]
    position = {row: at for at, row in enumerate(group_rows)}
    order = group_rows + list(range(count, count + len(pairs)))  # a group in a pair is never split: it keeps its row
    moved = [(position[first], position[second]) for first, second in pairs]
    return [candidates[row] for row in order], len(group_rows), moved, inputs[order], probabilities[order]


def _no_digit() -> Prediction:
    return Prediction(None, 0.0, np.zeros(10, np.float32), np.zeros((28, 28), np.float32))
