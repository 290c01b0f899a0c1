"""The space a network learns: its last hidden layer for test digits, projected to 2-D with PCA, and new drawings placed in it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras

BATCH = 500  # test images per forward pass: large enough to be quick, small enough for little memory


@dataclass(frozen=True)
class Projection:
    """PCA to two dimensions: subtract the mean, then take the two directions along which the features vary most."""

    mean: np.ndarray  # (features,)
    components: np.ndarray  # (2, features)
    explained: np.ndarray  # (2,) share of the features' variance along each direction

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """(n, features) -> (n, 2)."""
        return ((features - self.mean) @ self.components.T).astype(np.float32)


def fit_pca(features: np.ndarray) -> Projection:
    """The 2-D PCA of (n, features) rows, by singular value decomposition; each direction's sign fixed for stable maps."""
    mean = features.mean(axis=0)
    _, singular, directions = np.linalg.svd(features - mean, full_matrices=False)
    components = directions[:2] * np.sign(directions[:2].sum(axis=1, keepdims=True) + 1e-12)  # the same picture every time
    variance = singular**2
    return Projection(
        mean.astype(np.float32), components.astype(np.float32), (variance[:2] / max(variance.sum(), 1e-12)).astype(np.float32)
    )


class LearnedSpace:
    """A model's last hidden layer for a set of digits, as a 2-D map that also places new drawings."""

    def __init__(
        self,
        model: keras.Model,
        images: np.ndarray,
        labels: np.ndarray,
        on_progress: Callable[[float], object] | None = None,
    ) -> None:
        """images: (n, 28, 28) uint8 or float in [0, 1] as MNIST stores them; labels: (n,) digits."""
        import keras
        import tensorflow as tf

        self.input_shape = tuple(model.inputs[0].shape[1:])
        last = model.layers[-1]
        # The last hidden layer is what the output layer reads: the features the network sorts digits by.
        self.layer = last.input
        probe = keras.Model(model.inputs, [last.input, model.outputs[0]])
        self._probe = tf.function(lambda batch: probe(batch, training=False), reduce_retracing=True)
        scaled = _unit_scale(images)
        features, probabilities = self._run(scaled, on_progress)
        self.projection = fit_pca(features)
        self.points = self.projection(features)  # (n, 2)
        self.labels = np.asarray(labels)
        self.predictions = probabilities.argmax(axis=1)
        self.confidences = probabilities.max(axis=1)

    def _run(self, images: np.ndarray, on_progress: Callable[[float], object] | None) -> tuple[np.ndarray, np.ndarray]:
        features, probabilities = [], []
        for start in range(0, len(images), BATCH):
            batch = images[start : start + BATCH].reshape(-1, *self.input_shape)
            hidden, output = self._probe(batch)
            features.append(np.asarray(hidden).reshape(len(batch), -1))
            probabilities.append(np.asarray(output))
            if on_progress is not None:
                on_progress(min(start + BATCH, len(images)) / len(images))
        return np.concatenate(features), np.concatenate(probabilities)

    @property
    def mistakes(self) -> np.ndarray:
        """Indices of the digits the model reads wrong."""
        return np.flatnonzero(self.predictions != self.labels)

    def place(self, model_input: np.ndarray) -> np.ndarray:
        """Where a new drawing ((28, 28) float32 in [0, 1]) falls in the map.  -> (2,)."""
        features, _ = self._run(np.asarray(model_input, np.float32).reshape(1, 28, 28), None)
        return self.projection(features)[0]

    def neighbours(self, point: np.ndarray, count: int = 5) -> np.ndarray:
        """Indices of the `count` digits nearest to a point of the map."""
        distances = np.linalg.norm(self.points - np.asarray(point, np.float32), axis=1)
        return np.argsort(distances)[:count]


def nearest_neighbour_accuracy(points: np.ndarray, labels: np.ndarray, chunk: int = 1000) -> float:
    """How often a point's nearest other point has its label (leave-one-out 1-NN): how well the map keeps classes apart."""
    labels = np.asarray(labels)
    hits = 0
    for start in range(0, len(points), chunk):
        block = points[start : start + chunk]
        distances = ((block[:, None, :] - points[None, :, :]) ** 2).sum(axis=2)  # (chunk, n)
        distances[np.arange(len(block)), np.arange(start, start + len(block))] = np.inf  # not itself
        hits += int((labels[distances.argmin(axis=1)] == labels[start : start + len(block)]).sum())
    return hits / len(points)


def _unit_scale(images: np.ndarray) -> np.ndarray:
    """MNIST's uint8 images, or floats already in [0, 1], as float32 in [0, 1]."""
    values = np.asarray(images)
    return values.astype(np.float32) / 255.0 if values.dtype == np.uint8 else values.astype(np.float32)
