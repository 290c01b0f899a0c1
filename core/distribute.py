"""tf.distribute for training: the strategy a config names, and the shims Keras 3 needs to fit across workers."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from core.config import TrainConfig


def strategy_for(config: TrainConfig) -> tf.distribute.Strategy:
    """The tf.distribute strategy the config names; the default strategy runs on this machine's CPU or GPU."""
    if config.distribution == "mirrored":
        return tf.distribute.MirroredStrategy()
    if config.distribution == "multi_worker":
        # Reads the cluster from TF_CONFIG; without it, this is a one-worker cluster on this machine.
        _reduce_scalars_across_workers()
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _reduce_scalars_across_workers() -> None:
    """Work around Keras 3's multi-worker fit (keras-team/keras#20585, tensorflow/tensorflow#72388).

    NOTE: Keras averages each step's outputs across workers with strategy.reduce("MEAN", value, axis=0), which fails
    for the scalar loss and accuracy ("Invalid reduction dimension 0 for input with 0 dimensions"). Scalars are
    averaged with axis=None instead; everything else, and every other strategy, goes through Keras unchanged.
    """
    from keras.src.backend.tensorflow import trainer as tensorflow_trainer

    original = tensorflow_trainer.reduce_per_replica
    if getattr(original, "reduces_scalars", False):
        return

    def reduce_per_replica(values: Any, strategy: tf.distribute.Strategy, reduction: str = "auto") -> Any:
        if reduction in ("auto", "mean") and tensorflow_trainer._collective_all_reduce_multi_worker(strategy):
            return keras.tree.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None if value.shape.rank == 0 else 0), values)
        return original(values, strategy, reduction)

    reduce_per_replica.reduces_scalars = True  # type: ignore[attr-defined]
    tensorflow_trainer.reduce_per_replica = reduce_per_replica


def build_from_local_batch(model: keras.Model, batches: tf.data.Dataset) -> None:
    """Let a multi-worker fit build the model from one ordinary batch (keras-team/keras#20585).

    NOTE: before training, Keras averages the first *data* batch across workers only to learn its shapes; across
    hosts that reduce fails. One local batch has the same shapes, so this model's build step is handed that.
    """
    first_batch = next(iter(batches))
    trainer_build = type(model)._maybe_symbolic_build
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: trainer_build(model, data_batch=first_batch)
