"""Training a model from a TrainConfig (CLI and app): data splits, tf.data pipeline, live metrics, clean stop, calibration, atomic save."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from core.augment import augmenter
from core.config import TrainConfig
from core.data import Mnist, describe, load_mnist
from core.distribute import build_from_local_batch, strategy_for
from core.model import ModelCard, build_model, save_model
from core.progress import WARM_UP_STEPS, TrainingProgress, TrainingStatus
from core.synth import continental_styles, pen_copies, squared
from core.wording import plural

CHANCE_LEVEL = 0.2  # test accuracy below this (guessing scores 0.1) means the network learned nothing


# --- Data pipeline ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Splits:
    """Training and validation arrays drawn from MNIST's training set by the config's size, split and seed."""

    x_train: np.ndarray  # (n, 28, 28) uint8
    y_train: np.ndarray  # (n,) uint8
    x_val: np.ndarray  # (m, 28, 28) uint8, m may be 0
    y_val: np.ndarray


def make_splits(config: TrainConfig, data: Mnist) -> Splits:
    """A seeded random subset of `train_size` images, the last `validation_split` of it held out."""
    order = np.random.default_rng(config.seed).permutation(len(data.x_train))[: min(config.train_size, len(data.x_train))]
    validation_count = int(round(len(order) * config.validation_split))
    if len(order) - validation_count < 1:
        raise ValueError(
            f"No training images remain: {len(order)} drawn, {validation_count} held out for validation; "
            "use more images or lower validation_split."
        )
    train_ids, validation_ids = order[: len(order) - validation_count], order[len(order) - validation_count :]
    x_train, y_train = data.x_train[train_ids], data.y_train[train_ids]
    if config.augment_styles:
        extra_images, extra_labels = continental_styles(x_train, y_train, np.random.default_rng(config.seed + 100))
        x_train, y_train = np.concatenate([x_train, extra_images]), np.concatenate([y_train, extra_labels])
    if config.augment_square:
        extra_images, extra_labels = squared(x_train, y_train, np.random.default_rng(config.seed + 200))
        x_train, y_train = np.concatenate([x_train, extra_images]), np.concatenate([y_train, extra_labels])
    if config.augment_pens:
        extra_images, extra_labels = pen_copies(x_train, y_train, np.random.default_rng(config.seed + 300))
        x_train, y_train = np.concatenate([x_train, extra_images]), np.concatenate([y_train, extra_labels])
    return Splits(x_train, y_train, data.x_train[validation_ids], data.y_train[validation_ids])


def make_datasets(config: TrainConfig, splits: Splits) -> tuple[tf.data.Dataset, tf.data.Dataset | None]:
    """Shuffled, batched, augmented and prefetched batches; the CPU prepares the next batch while the model trains."""
    augment = augmenter(config)

    def to_float(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        images = tf.cast(images[..., None], tf.float32) / 255.0  # (B, 28, 28) uint8 -> (B, 28, 28, 1) float32
        return images, tf.cast(labels, tf.int32)

    train = tf.data.Dataset.from_tensor_slices((splits.x_train, splits.y_train))
    train = train.shuffle(len(splits.x_train), seed=config.seed, reshuffle_each_iteration=True)
    train = train.batch(config.batch_size).map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
    if augment is not None:
        layers = augment

        def augmented(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            return tf.clip_by_value(layers(images, training=True), 0.0, 1.0), labels

        # NOTE: one call at a time: parallel calls would race on the layers' seed state and make runs
        # irreproducible. Each call transforms a whole batch at once, and prefetch still overlaps it with training.
        train = train.map(augmented)
    train = train.prefetch(tf.data.AUTOTUNE)
    validation = None
    if len(splits.x_val):
        validation = (
            tf.data.Dataset.from_tensor_slices((splits.x_val, splits.y_val)).batch(512).map(to_float).cache().prefetch(tf.data.AUTOTUNE)
        )
    return train, validation


# --- Model and optimizer ------------------------------------------------------------------------------------------


def compiled_model(config: TrainConfig, steps_per_epoch: int) -> keras.Model:
    """Build the CNN and compile it with the config's optimizer and learning-rate schedule."""
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = config.learning_rate
    if config.lr_schedule == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=max(1, config.epochs * steps_per_epoch))
    optimizers = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "sgd": lambda learning_rate: keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True),
        "rmsprop": keras.optimizers.RMSprop,
    }
    model = build_model(config)
    model.compile(
        optimizer=optimizers[config.optimizer](learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


# --- Listening and stopping ---------------------------------------------------------------------------------------


class ProgressMonitor(keras.callbacks.Callback):
    """Records per-batch (at most every `interval` seconds) and per-epoch metrics into a TrainingProgress."""

    # NOTE: async_safe lets Keras run these hooks on its callback thread, so converting the batch logs to floats
    # never stalls the training loop; all state is written under one lock and read through `snapshot()`.
    async_safe = True

    def __init__(self, interval: float = 0.25) -> None:
        super().__init__()
        self.interval = interval
        self._lock = threading.Lock()
        self._progress = TrainingProgress()
        self._last_record = 0.0
        self._epoch = 0
        self._recorded: tuple[int, dict[str, float]] = (0, {})  # batches into the epoch and Keras's means, at the last record

    def snapshot(self) -> TrainingProgress:
        """A copy that the caller may read at leisure while training continues."""
        with self._lock:
            progress = self._progress
            return dataclasses.replace(progress, batches=list(progress.batches), epoch_logs=list(progress.epoch_logs))

    def finish(self, status: TrainingStatus, message: str = "") -> None:
        """Record how the run ended (the job calls this once `train` has returned or failed)."""
        with self._lock:
            self._progress.status, self._progress.message = status, message

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        steps, epochs = self.params.get("steps") or 0, self.params.get("epochs") or 0
        with self._lock:
            self._progress = TrainingProgress(
                total_steps=steps * epochs, epochs=epochs, started=time.monotonic(), status=TrainingStatus.RUNNING
            )

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch
        self._recorded = (0, {})

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        now = time.monotonic()
        steps = self.params.get("steps") or 1
        with self._lock:
            progress = self._progress
            progress.steps_done = self._epoch * steps + batch + 1
            if not progress.timed_since and progress.steps_done >= WARM_UP_STEPS:
                progress.timed_steps, progress.timed_since = progress.steps_done, now
            if now - self._last_record < self.interval or not logs:
                return
            self._last_record = now
            progress.batches.append({"epoch": self._epoch + (batch + 1) / steps, **self._since_last_record(batch + 1, _floats(logs))})

    def _since_last_record(self, seen: int, means: dict[str, float]) -> dict[str, float]:
        """The mean of each metric over the batches since the last record, from Keras's means since the epoch began.

        Keras logs running means that start afresh every epoch, so a curve of them jumped at each epoch's start,
        which looked like a burst of learning; the mean over the latest batches is what those batches did.
        """
        before, earlier = self._recorded
        self._recorded = (seen, means)
        return {name: (seen * value - before * earlier.get(name, value)) / (seen - before) for name, value in means.items()}

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        steps = self.params.get("steps") or 1
        with self._lock:
            # Keras ends an epoch that Stop cut short too; only whole epochs go on the chart, as on the model card.
            if self._progress.steps_done >= (epoch + 1) * steps:
                self._progress.epoch_logs.append({"epoch": epoch + 1, **_floats(logs or {})})


def _floats(logs: dict[str, Any]) -> dict[str, float]:
    return {name: float(value) for name, value in logs.items() if name in ("loss", "accuracy", "val_loss", "val_accuracy")}


# Guessing scores a loss of ln(10) = 2.3. A learning rate far too high (Adam or RMSprop at 1.0) drives the average loss
# to millions within an epoch; the network then dies and ends at chance level without ever producing a NaN.
EXPLODED_LOSS = 1000.0


class StopOnDivergence(keras.callbacks.Callback):
    """Stop at once when the loss becomes NaN or explodes, instead of training on and saving a dead network."""

    # NOTE: not keras.callbacks.TerminateOnNaN: it stops only on a NaN or infinite loss, while a learning rate far
    # too high usually explodes the loss to a finite million (EXPLODED_LOSS); it keeps no record of the loss for the
    # message; and it is not async_safe, so Keras would run every callback on the training thread.

    async_safe = True

    def __init__(self) -> None:
        super().__init__()
        self.loss: float | None = None  # the loss that stopped the run, None while it is healthy

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = float((logs or {}).get("loss", 0.0))
        if self.loss is None and not (math.isfinite(loss) and loss <= EXPLODED_LOSS):
            self.loss = loss
            self.model.stop_training = True


class StopOnEvent(keras.callbacks.Callback):
    """Stop once `event` is set (from any thread); with asynchronous callbacks that is within a batch or two."""

    async_safe = True

    def __init__(self, event: threading.Event) -> None:
        super().__init__()
        self.event = event
        self.stopped_mid_epoch = False  # True when the stop cut an epoch short

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.event.is_set() and not self.model.stop_training:
            self.model.stop_training = True
            self.stopped_mid_epoch = batch + 1 < (self.params.get("steps") or 0)


# --- Training -----------------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """What a run produced: the model (None if it diverged), its card, where it was saved, and how it ended."""

    model: keras.Model | None
    card: ModelCard
    status: TrainingStatus  # FINISHED, STOPPED or DIVERGED
    message: str
    history: dict[str, list[float]]
    path: Path | None = None


def train(
    config: TrainConfig,
    data: Mnist | None = None,
    *,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    stop_event: threading.Event | None = None,
    save_to: str | os.PathLike[str] | None = None,
    name: str = "mnist_cnn",
    verbose: int = 0,
) -> TrainResult:
    """Train a model from `config` on `data`, evaluate it on the test set, calibrate it, and save it atomically.

    `data` defaults to MNIST from `load_mnist()` (MNIST_PATH, then Keras's download); a DatasetError says what to do.
    `callbacks` are Keras callbacks (a ProgressMonitor for charts, say). Setting `stop_event` from another thread
    stops after the current batch; the partly trained model is still evaluated and returned. A loss that becomes
    NaN or explodes (past EXPLODED_LOSS) ends the run with status "diverged", no model and nothing saved.
    """
    # NOTE: MultiWorkerMirroredStrategy configures collective ops, which TensorFlow allows only before its first op
    # (seeding and building the datasets are ops), so the strategy is created first.
    strategy = strategy_for(config)
    keras.utils.set_random_seed(config.seed)
    data = load_mnist() if data is None else data
    splits = make_splits(config, data)
    train_batches, validation_batches = make_datasets(config, splits)
    steps_per_epoch = math.ceil(len(splits.x_train) / config.batch_size)
    with strategy.scope():
        model = compiled_model(config, steps_per_epoch)
    if config.distribution == "multi_worker":
        build_from_local_batch(model, train_batches)
    divergence = StopOnDivergence()
    stop_callbacks: list[keras.callbacks.Callback] = [divergence]
    stopper = StopOnEvent(stop_event) if stop_event is not None else None
    if stopper is not None:
        stop_callbacks.append(stopper)
    started = time.monotonic()
    history = model.fit(
        train_batches,
        epochs=config.epochs,
        validation_data=validation_batches,
        callbacks=[*stop_callbacks, *callbacks],
        verbose=verbose,
    ).history
    seconds = time.monotonic() - started
    # Keras records the epoch that a stop cut short in the history too; only whole epochs count as completed.
    epochs_completed = len(history.get("loss", [])) - int(stopper is not None and stopper.stopped_mid_epoch)
    last_loss = history["loss"][-1] if history.get("loss") else float("nan")
    weights_finite = all(np.isfinite(weight).all() for weight in model.get_weights())
    if divergence.loss is not None or not math.isfinite(last_loss) or not weights_finite:
        exploded = divergence.loss is not None and math.isfinite(divergence.loss)
        cause = f"the loss exploded to {divergence.loss:.3g}" if exploded else "the loss became NaN"
        message = f"Training diverged ({cause}); lower the learning rate. No model was saved."
        return TrainResult(None, ModelCard(name=name), TrainingStatus.DIVERGED, message, history)
    stopped = stop_event is not None and stop_event.is_set()
    card = make_card(model, config, data, splits, name=name, seconds=seconds, epochs_completed=epochs_completed, stopped=stopped)
    status = TrainingStatus.STOPPED if stopped else TrainingStatus.FINISHED
    message = f"{'Stopped' if stopped else 'Finished'}: {card.summary()}."
    if card.metrics["test_accuracy"] < CHANCE_LEVEL:
        # Some settings (SGD at a learning rate of 1.0) kill every unit without the loss ever exploding.
        message += " The network is no better than guessing: the learning rate is probably too high."
    # Every worker of a cluster holds the same weights; the chief (worker 0) alone writes the file.
    chief = getattr(strategy.cluster_resolver, "task_id", 0) in (0, None) if config.distribution == "multi_worker" else True
    if not chief:
        message += " Worker 0 saves the model."
    path = save_model(model, card, save_to) if save_to is not None and chief else None
    return TrainResult(model, card, status, message, history, path)


def make_card(
    model: keras.Model,
    config: TrainConfig,
    data: Mnist,
    splits: Splits,
    *,
    name: str,
    seconds: float,
    epochs_completed: int,
    stopped: bool,
) -> ModelCard:
    """Evaluate on the test set and calibrate on the validation images, then describe the model."""
    from core.evaluate import fit_temperature

    test_loss, test_accuracy = model.evaluate(data.x_test[..., None] / np.float32(255), data.y_test, batch_size=512, verbose=0)
    metrics = {"test_accuracy": float(test_accuracy), "test_loss": float(test_loss), "test_n": float(len(data.x_test))}
    temperature = 1.0
    if len(splits.x_val):
        validation_probabilities = model.predict(splits.x_val[..., None] / np.float32(255), batch_size=512, verbose=0)
        metrics["val_accuracy"] = float((validation_probabilities.argmax(1) == splits.y_val).mean())
        temperature = fit_temperature(validation_probabilities, splits.y_val)
    return ModelCard(
        name=name,
        config=config.to_dict(),
        metrics=metrics,
        temperature=temperature,
        parameters=int(model.count_params()),
        epochs_completed=epochs_completed,
        training_seconds=round(seconds, 1),
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        data_source=describe(data),
        notes=_stopped_note(epochs_completed, config.epochs) if stopped else "",
        versions={"tensorflow": tf.__version__, "keras": keras.__version__},
        partial=stopped and epochs_completed < config.epochs,
    )


def _stopped_note(epochs_completed: int, epochs: int) -> str:
    if epochs_completed == 0:
        first = "its only epoch" if epochs == 1 else f"the first of {epochs} epochs"
        return f"Stopped by the user during {first}: only partly trained."
    return f"Stopped by the user after {plural(epochs_completed, 'full epoch')} of {epochs}: only partly trained."
