"""Evaluation on labelled digits: loss and accuracy, confusion matrix, per-class scores, mistakes, calibration."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

NUM_CLASSES = 10


@dataclass(frozen=True)
class Evaluation:
    """How a model does on a labelled set."""

    loss: float
    accuracy: float
    n: int
    confusion: np.ndarray  # (10, 10) int: rows are true digits, columns predictions
    probabilities: np.ndarray  # (n, 10) float32
    labels: np.ndarray  # (n,) int

    @property
    def predictions(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def confidences(self) -> np.ndarray:
        return self.probabilities.max(axis=1)

    @property
    def misclassified(self) -> np.ndarray:
        """Indices of the wrongly read images, least confident mistakes last."""
        wrong = np.flatnonzero(self.predictions != self.labels)
        return wrong[np.argsort(-self.confidences[wrong], kind="stable")]

    def per_class(self) -> list[dict[str, float]]:
        """Precision, recall, F1 and support of each digit 0-9."""
        rows = []
        for digit in range(NUM_CLASSES):
            true_positive = float(self.confusion[digit, digit])
            predicted = float(self.confusion[:, digit].sum())
            actual = float(self.confusion[digit].sum())
            precision = true_positive / predicted if predicted else 0.0
            recall = true_positive / actual if actual else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            rows.append({"digit": digit, "precision": precision, "recall": recall, "f1": f1, "support": int(actual)})
        return rows

    def to_json(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "loss": self.loss,
            "n": self.n,
            "per_class": self.per_class(),
            "confusion": self.confusion.tolist(),
            "misclassified": int(len(self.misclassified)),
            "expected_calibration_error": expected_calibration_error(self.probabilities, self.labels),
        }


class _Progress(keras.callbacks.Callback):
    def __init__(self, report: Callable[[float], object], steps: int) -> None:
        super().__init__()
        self.report, self.steps = report, steps

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.report(0.5 * (batch + 1) / self.steps)

    def on_predict_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.report(0.5 + 0.5 * (batch + 1) / self.steps)


def evaluate_model(
    model: keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int = 500,
    on_progress: Callable[[float], object] | None = None,
    guard: keras.callbacks.Callback | None = None,
) -> Evaluation:
    """Loss and accuracy with model.evaluate(), then probabilities for the confusion matrix and the gallery.

    images: (n, 28, 28) uint8 MNIST-style; on_progress receives the fraction done (0..1). `guard` runs between
    batches and may stop the evaluation by raising (the app's core.watchdog.StopAtMemoryCeiling raises
    MemoryCeilingReached once the server passes its memory ceiling).
    """
    inputs = images.reshape(len(images), *model.inputs[0].shape[1:]).astype(np.float32) / np.float32(255)
    steps = -(-len(images) // batch_size)
    callbacks = ([guard] if guard is not None else []) + ([_Progress(on_progress, steps)] if on_progress else [])
    # NOTE: compile a new Model over the same layers (no weights copied) rather than the caller's model, which
    # may be the app's shared cached model being read by other sessions' threads right now.
    evaluator = keras.Model(model.inputs, model.outputs, name=f"{model.name}_evaluator")
    evaluator.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    loss, accuracy = evaluator.evaluate(inputs, labels, batch_size=batch_size, verbose=0, callbacks=callbacks)
    probabilities = evaluator.predict(inputs, batch_size=batch_size, verbose=0, callbacks=callbacks)
    predictions = probabilities.argmax(axis=1)
    confusion = tf.math.confusion_matrix(labels, predictions, num_classes=NUM_CLASSES, dtype=tf.int64).numpy()  # rows: true digit
    return Evaluation(float(loss), float(accuracy), len(labels), confusion, probabilities.astype(np.float32), labels.astype(np.int64))


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T minimising the negative log-likelihood of softmax(log p / T) on held-out images.

    Dropout-trained CNNs tend to be over- or under-confident by a stable factor; one scalar fixes most of it.
    """
    log_probabilities = np.log(np.clip(probabilities.astype(np.float64), 1e-12, 1.0))
    candidates = np.exp(np.linspace(np.log(0.25), np.log(4.0), 121))
    rows = np.arange(len(labels))

    def nll(temperature: float) -> float:
        scaled = log_probabilities / temperature
        scaled -= scaled.max(axis=1, keepdims=True)
        normaliser = np.log(np.exp(scaled).sum(axis=1))
        return float((normaliser - scaled[rows, labels]).mean())

    best = candidates[int(np.argmin([nll(temperature) for temperature in candidates]))]  # the first of equal minima, as min() picks
    return float(round(best, 4))


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Mean gap between confidence and accuracy over equal-width confidence bins, weighted by bin size."""
    confidences = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    error = 0.0
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidences > low) & (confidences <= high)
        if inside.any():
            error += inside.mean() * abs(confidences[inside].mean() - correct[inside].mean())
    return float(error)
