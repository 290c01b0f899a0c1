"""Recognizer: the public API that reads one digit (`classify`) or a row of digits (`read`) from any numpy image."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core import paper, preprocess, segment, serving, touching
from core.groups import union
from core.modelfile import SHIPPED_MODEL, ModelCard, check_model_file, read_card
from core.preprocess import Box

if TYPE_CHECKING:
    import keras

# Below this calibrated confidence a shape is "no digit" rather than a guess. Calibration makes it mean what it
# says: among answers given with confidence 0.6, about 60% are right (see README, "Confidence").
MIN_CONFIDENCE = 0.6
# On a page, a shape as tall as the digits read surely in its row needs only this share of it (0.36 of 0.6).
IN_ROW_SHARE = 0.6
ROW_HEIGHTS = (0.75, 1.35)  # of the surely read digits' median height: a shape in their row of a digit's height
# A shape is read as two digits written touching when the touching detector finds two this likely and both
# parts read as digits at least this surely.
TWO_DIGITS = 0.99
HALF_SURE = 0.9

Runtime = Callable[[np.ndarray], np.ndarray]  # (N, 28, 28, 1) float32 -> (N, 10) float32: the model's own outputs


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
    """A digit model with a fast, thread-safe predict path and calibrated confidences.

    `Recognizer.load` serves a model file with LiteRT, without TensorFlow; a model LiteRT cannot run, or a Keras model
    handed over in memory, runs on TensorFlow. The Keras model itself (`model`) is loaded only when asked for: by
    evaluation, teaching and the gradient views.
    """

    def __init__(
        self,
        model: keras.Model | None = None,
        card: ModelCard | None = None,
        *,
        runtime: Runtime | None = None,
        source: Path | None = None,
        note: str = "",
    ) -> None:
        if model is None and (runtime is None or source is None):
            raise ValueError("A Recognizer needs a Keras model, or a runtime and the model file it was derived from.")
        self._model = model
        self._source = source
        self._model_lock = threading.Lock()
        self.card = card or ModelCard(name=model.name if model is not None else "model")
        self.note = note  # one sentence for the page when the model could not take the light runtime
        if runtime is None:
            from core.tf_runtime import KerasModel

            runtime = KerasModel(model)
        self._runtime = runtime
        self.runtime_name: str = getattr(runtime, "name", type(runtime).__name__)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Recognizer:
        """The shipped model, or the model file at `path`, on LiteRT; on TensorFlow, with a note, if it cannot be.

        Either way the file was loaded by Keras with safe_mode (no code inside it is run) before it is served.
        """
        location = check_model_file(SHIPPED_MODEL if path is None else path)
        try:
            runtime = serving.load_runtime(location)
        except serving.ExportError as error:
            from core.model import load_model

            model, card = load_model(location)
            return cls(model, card, source=location, note=f"This model runs on TensorFlow, which is slower: {error}.")
        return cls(card=read_card(location), runtime=runtime, source=location)

    @property
    def model(self) -> keras.Model:
        """The Keras model, loaded from its file on first use (this imports TensorFlow, a few seconds)."""
        with self._model_lock:
            if self._model is None:
                from core.model import load_model

                assert self._source is not None  # __init__ requires it without a model
                self._model, _ = load_model(self._source)
            return self._model

    @property
    def model_loaded(self) -> bool:
        """Whether the Keras model (and so TensorFlow) is loaded already."""
        return self._model is not None

    def raw_probabilities(self, batch: np.ndarray) -> np.ndarray:
        """The model's own outputs, equal to model.predict's.  (N, 28, 28[, 1]) float32 -> (N, 10) float32."""
        if len(batch) == 0:
            return np.zeros((0, 10), np.float32)
        return self._runtime(np.ascontiguousarray(batch, np.float32).reshape(-1, 28, 28, 1))

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

    def read(self, image: np.ndarray, min_confidence: float = MIN_CONFIDENCE, ink: preprocess.InkMap | None = None) -> Reading:
        """Find and read every digit in `image` (a photo, a frame, a canvas), all classified in one batch.

        `ink`: `paper.page_ink_map(image)` when the caller has it already (the Webcam page shows it), not found again.
        """
        ink, labels, groups = segment.find_page_digits(ink if ink is not None else paper.page_ink_map(image))
        if not groups:
            return Reading("", ())
        pairs = segment.ambiguous_pairs(groups, page=ink.lines_removed)
        paired = {index for pair in pairs for index in pair}
        candidates = groups + [union(groups[i], groups[j]) for i, j in pairs]
        inputs = np.stack([preprocess.to_mnist(segment.crop_group(ink, labels, group)) for group in candidates])  # (N, 28, 28)
        # Two digits written touching are one shape: the touching detector says which shapes may be two, and only
        # those are cut in two; their parts are read with the rest, and kept when both read as digits.
        wide = [index for index, group in enumerate(groups) if index not in paired and group.width >= touching.NARROWEST * group.height]
        splits: dict[int, list[tuple[int, int]]] = {}  # a shape that may be two digits -> rows of each way to cut it
        parts: list[segment.Group] = []
        part_inputs: list[np.ndarray] = []
        for index, two in zip(wide, touching.two_digits(inputs[wide]), strict=True):
            for left, right, left_input, right_input in touching.two_ways(ink, labels, groups[index]) if two >= TWO_DIGITS else ():
                row = len(candidates) + len(parts)
                splits.setdefault(index, []).append((row, row + 1))
                parts += [left, right]
                part_inputs += [left_input, right_input]
        if parts:
            candidates += parts
            inputs = np.concatenate([inputs, np.stack(part_inputs)])
        probabilities = self.probabilities(inputs)  # one batch: the digits, every two-piece and every split alternative
        candidates, count, pairs, inputs, probabilities = _resolve_splits(candidates, len(groups), pairs, splits, inputs, probabilities)
        groups, inputs, probabilities = _resolve_pairs(candidates, count, pairs, inputs, probabilities)
        row_starts = segment.row_breaks(groups)
        breaks = set(row_starts)
        sure = (
            _sure_in_row(groups, probabilities, min_confidence, row_starts)
            if ink.lines_removed
            else probabilities.max(axis=1) >= min_confidence
        )
        digits: list[DigitReading] = []
        rejected: list[Box] = []
        text = ""
        for index, (group, model_input, scores) in enumerate(zip(groups, inputs, probabilities, strict=True)):
            box = segment.caller_box(ink, group)
            best = int(scores.argmax())
            if not sure[index]:
                rejected.append(box)
                continue
            if index in breaks and text:
                text += " "
            text += str(best)
            digits.append(DigitReading(best, float(scores[best]), box, scores, model_input))
        return Reading(text, tuple(digits), tuple(rejected))


def _sure_in_row(groups: list[segment.Group], probabilities: np.ndarray, min_confidence: float, breaks: list[int]) -> np.ndarray:
    """Which digits are read: those read surely, and on a page, less surely read shapes of the same height in a row
    of surely read digits (a written row holds digits, not doodles).  -> (N,) bool"""
    best = probabilities.max(axis=1)
    sure = best >= min_confidence
    for start, stop in zip([0, *breaks], [*breaks, len(groups)], strict=True):
        heights = [groups[index].height for index in range(start, stop) if sure[index]]
        if not heights:
            continue
        typical = float(np.median(heights))
        for index in range(start, stop):
            if (
                not sure[index]
                and best[index] >= IN_ROW_SHARE * min_confidence
                and ROW_HEIGHTS[0] * typical <= groups[index].height <= ROW_HEIGHTS[1] * typical
            ):
                sure[index] = True
    return sure


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
    splits: dict[int, list[tuple[int, int]]],
    inputs: np.ndarray,
    probabilities: np.ndarray,
) -> tuple[list[segment.Group], int, list[tuple[int, int]], np.ndarray, np.ndarray]:
    """Replace each shape the touching detector took for two digits by the parts of its best cut (the one whose
    less sure part reads most surely) where both parts read as digits surely. Rows hold the `count` groups, one union
    per pair, then each cut's two parts (`splits` gives their rows). Returns the rows reordered as groups (parts in
    place) then unions, the new group count and the pairs' new indices.
    """
    kept: dict[int, list[int]] = {}
    for index, ways in splits.items():
        left, right = max(ways, key=lambda way: min(probabilities[way[0]].max(), probabilities[way[1]].max()))
        if min(probabilities[left].max(), probabilities[right].max()) >= HALF_SURE:
            kept[index] = [left, right]
    group_rows = [row for index in range(count) for row in kept.get(index, [index])]
    position = {row: at for at, row in enumerate(group_rows)}
    order = group_rows + list(range(count, count + len(pairs)))  # a group in a pair is never split: it keeps its row
    moved = [(position[first], position[second]) for first, second in pairs]
    return [candidates[row] for row in order], len(group_rows), moved, inputs[order], probabilities[order]


def _no_digit() -> Prediction:
    return Prediction(None, 0.0, np.zeros(10, np.float32), np.zeros((28, 28), np.float32))
