"""A Keras model run by TensorFlow: traced once, thread-safe; the fallback of the light runtime and the trainer's path."""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf


class KerasModel:
    """A Keras digit model: (N, 28, 28, 1) float32 -> (N, 10) float32, identical to model.predict, from any thread."""

    name = "TensorFlow"

    def __init__(self, model: keras.Model) -> None:
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

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        tensor = tf.convert_to_tensor(batch)
        return (self._predict_one if len(batch) == 1 and self._predict_one else self._predict)(tensor).numpy()


def _compiled_for_one(predict: Callable[[tf.Tensor], tf.Tensor]) -> Callable[[tf.Tensor], tf.Tensor] | None:
    """`predict` compiled by XLA for a batch of one image, or None for a model XLA cannot compile (a user's file)."""
    compiled = tf.function(predict, input_signature=[tf.TensorSpec([1, 28, 28, 1], tf.float32)], jit_compile=True)
    try:
        function = compiled.get_concrete_function()
        function(tf.zeros((1, 28, 28, 1)))  # compiles now (a few hundred ms), not on a user's first drawing
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
        return None
    return function
