"""The one training function (CLI and app): tf.data pipeline, augmentation, live metrics, clean stop, atomic save."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import keras
import numpy as np
import tensorflow as tf
from keras import layers

from core import preprocess
from core.config import TrainConfig
from core.data import Mnist
from core.model import MODELS_DIR, ModelCard, build_model, save_model

USER_MODELS_ENV = "MNIST_USER_MODELS"
CHANCE_LEVEL = 0.2  # test accuracy below this (guessing scores 0.1) means the network learned nothing


def user_models_dir() -> Path:
    """Where models trained by users go, never over the shipped model: $MNIST_USER_MODELS or ./user_models."""
    return Path(os.environ.get(USER_MODELS_ENV, MODELS_DIR.parent / "user_models")).expanduser()


def unique_model_path(name: str) -> Path:
    """A fresh file name in the user folder: two sessions saving under one name never touch each other's file."""
    slug = "".join(character if character.isalnum() or character in "-_" else "-" for character in name).strip("-") or "model"
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return user_models_dir() / f"{slug}-{stamp}-{uuid.uuid4().hex[:6]}.keras"


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
    return Splits(x_train, y_train, data.x_train[validation_ids], data.y_train[validation_ids])


def squared(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, share: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Copies of a random `share` of the digits stretched to fill a square, then laid out by the recognizer's own
    preprocessing (`to_mnist`), exactly as such a scan is at inference: aspect kept, stroke width normalised.
    Stretching inside the training graph instead gives a wide digit stretched strokes, which no real scan has.
    (n, 28, 28) uint8 -> (m, 28, 28) uint8 new images and their labels.
    """
    chosen = np.flatnonzero(rng.random(len(images)) < share)
    squares, kept = [], []
    for index, image in zip(chosen, images[chosen], strict=True):
        ys, xs = np.nonzero(image > 64)
        ink = image[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] if len(xs) else image
        if max(ink.shape) > 4 * min(ink.shape):
            continue  # a plain 1 would become a solid slab
        square = cv2.resize(ink, (64, 64), interpolation=cv2.INTER_LINEAR)  # the stretch; to_mnist keeps this aspect
        squares.append((preprocess.to_mnist(square.astype(np.float32) / 255) * 255).round().astype(np.uint8))
        kept.append(index)
    if not squares:
        return np.zeros((0, 28, 28), np.uint8), np.zeros((0,), labels.dtype)
    return np.stack(squares), labels[kept]


STYLED_DIGITS = (1, 7, 9)  # the digits continental_styles adds copies of


def continental_styles(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Copies of some 1s, 7s and 9s written the continental European way: 1 with a long flag (and often a base),
    7 with a crossbar, 9 with its tail hooked back to the left. MNIST's writers were American and rarely did
    any of these, so without them a flagged 1 reads as 2 or 4, a crossed 7 as 2 and a hooked 9 as 3 or 8.
    (n, 28, 28) uint8 -> (m, 28, 28) uint8 new images and their labels.
    """
    styled, styled_labels = [], []
    for image, label in zip(images, labels, strict=True):
        if label not in STYLED_DIGITS or rng.random() > 0.5:
            continue
        large = cv2.resize(image, (112, 112), interpolation=cv2.INTER_LINEAR)  # draw at 4x, then area-average down
        rows = np.flatnonzero(large.max(axis=1) > 128)
        if len(rows) < 8:
            continue
        top, bottom = int(rows[0]), int(rows[-1])
        height = bottom - top
        thickness = int(rng.integers(7, 13))
        if label == 1:
            top_x = int(np.flatnonzero(large[top + 2] > 128).mean()) if (large[top + 2] > 128).any() else 56
            # A long flag sloping down to the left; a 7's bar is level, so slopes of 25 degrees and more stay distinct.
            angle = np.radians(rng.uniform(25, 65))
            length = height * rng.uniform(0.45, 1.0)
            end = (int(top_x - length * np.cos(angle)), int(top + 2 + length * np.sin(angle)))
            cv2.line(large, (top_x, top + 2), end, 255, thickness, cv2.LINE_AA)
            if rng.random() < 0.5:
                foot = np.flatnonzero(large[bottom - 2] > 128)
                centre = int(foot.mean()) if len(foot) else 56
                half = int(height * rng.uniform(0.2, 0.4))
                cv2.line(large, (centre - half, bottom - 2), (centre + half, bottom - 2), 255, thickness, cv2.LINE_AA)
        elif label == 9:
            tail = np.flatnonzero(large[bottom - 2] > 128)
            if len(tail) == 0:
                continue
            # From the tail's end, curve left and back up: a quadratic Bezier through a point just below it.
            length = height * rng.uniform(0.25, 0.45)
            start = np.array([tail.mean(), bottom - 2.0])
            control = start + [-0.5 * length, 0.15 * length]
            end = start + [-length, -rng.uniform(0.2, 0.5) * length]
            steps = np.linspace(0, 1, 12)[:, None]
            curve = (1 - steps) ** 2 * start + 2 * (1 - steps) * steps * control + steps**2 * end
            cv2.polylines(large, [np.clip(curve, 0, 111).round().astype(np.int32)], False, 255, thickness, cv2.LINE_AA)
        else:
            middle = top + int(height * rng.uniform(0.45, 0.6))
            stem = np.flatnonzero(large[middle] > 128)
            if len(stem) == 0:
                continue
            centre, half = int(stem.mean()), int(height * rng.uniform(0.15, 0.3))
            cv2.line(large, (centre - half, middle), (centre + half, middle), 255, thickness, cv2.LINE_AA)
        styled.append(cv2.resize(large, (28, 28), interpolation=cv2.INTER_AREA))
        styled_labels.append(label)
    if not styled:
        return np.zeros((0, 28, 28), np.uint8), np.zeros((0,), labels.dtype)
    return np.stack(styled), np.asarray(styled_labels, labels.dtype)


def augmenter(config: TrainConfig) -> keras.Sequential | None:
    """Random transforms for training batches, from the config's switches; None when all are off.

    Geometric changes (rotation, slant, aspect) are followed by FitToBox, which lays the digit out again as the
    recognizer does at inference (ink fitted into 20x20, centre of mass centred): the model then learns slanted,
    narrow and wide digits that fill the box, which is what real handwriting looks like after preprocessing.
    """
    seed = config.seed
    geometric: list[keras.layers.Layer] = []
    if config.augment_rotate:
        geometric.append(layers.RandomRotation(12 / 360, fill_mode="constant", seed=seed))
    if config.augment_shear:
        geometric.append(layers.RandomShear(x_factor=0.3, fill_mode="constant", seed=seed + 1))
    if config.augment_stretch:
        # Shrink height and width independently by up to 35% (zooming in would push ink out of the frame);
        # FitToBox then enlarges the result, so the net effect is an aspect ratio between 0.65 and 1.5 times.
        geometric.append(layers.RandomZoom((0.0, 0.35), (0.0, 0.35), fill_mode="constant", seed=seed + 2))
    steps = [*geometric, FitToBox()] if geometric else []
    if config.augment_shift:
        # Small errors in the box and the centring, as broken strokes and specks cause on real images.
        steps.append(layers.RandomTranslation(1.5 / 28, 1.5 / 28, fill_mode="constant", seed=seed + 3))
        steps.append(layers.RandomZoom((-0.1, 0.1), fill_mode="constant", seed=seed + 4))
    if config.augment_stroke:
        steps.append(RandomStroke(seed=seed + 5))
    if not steps:
        return None
    return keras.Sequential([AppliedToShare(keras.Sequential(steps), config.augment_share, seed=seed + 6)], name="augment")


class AppliedToShare(layers.Layer):
    """Apply `inner` to a random `share` of the images in each batch; the rest pass unchanged, as MNIST wrote them."""

    def __init__(self, inner: keras.layers.Layer, share: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inner, self.share = inner, share
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.inner.build(input_shape)

    def call(self, images: tf.Tensor, training: bool = True) -> tf.Tensor:  # (B, 28, 28, 1) -> same
        if not training or self.share <= 0:
            return images
        chosen = keras.random.uniform((tf.shape(images)[0], 1, 1, 1), seed=self.seed_generator) < self.share
        return tf.where(chosen, self.inner(images, training=True), images)


class FitToBox(layers.Layer):
    """MNIST's layout, vectorised: fit the ink's box into 20x20 keeping aspect, centre of mass at (14, 14)."""

    def call(self, images: tf.Tensor) -> tf.Tensor:  # (B, 28, 28, 1) float32 -> same
        count = tf.shape(images)[0]
        ink = images[..., 0] > 0.2
        positions = tf.range(28, dtype=tf.float32)

        def extent(present: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:  # (B, 28) bool -> first, last+1
            first = tf.reduce_min(tf.where(present, positions, 28.0), axis=1)
            last = tf.reduce_max(tf.where(present, positions, -1.0), axis=1) + 1.0
            return first, last

        top, bottom = extent(tf.reduce_any(ink, axis=2))
        left, right = extent(tf.reduce_any(ink, axis=1))
        side = tf.maximum(tf.maximum(bottom - top, right - left), 1.0)
        centre_y, centre_x = (top + bottom) / 2, (left + right) / 2
        # crop_and_resize samples pixel centres from box start to box end inclusive, in units of (size - 1).
        first_y = centre_y - side / 2 + 0.5 * side / 20 - 0.5
        first_x = centre_x - side / 2 + 0.5 * side / 20 - 0.5
        span = side * 19 / 20
        boxes = tf.stack([first_y, first_x, first_y + span, first_x + span], axis=1) / 27.0
        fitted = tf.image.crop_and_resize(images, boxes, tf.range(count), (20, 20))  # (B, 20, 20, 1)
        fitted = tf.pad(fitted, [[0, 0], [4, 4], [4, 4], [0, 0]])  # (B, 28, 28, 1)
        mass = tf.reduce_sum(fitted, axis=[1, 2, 3]) + 1e-6
        mass_y = tf.reduce_sum(tf.reduce_sum(fitted, axis=[2, 3]) * positions, axis=1) / mass
        mass_x = tf.reduce_sum(tf.reduce_sum(fitted, axis=[1, 3]) * positions, axis=1) / mass
        shift_y, shift_x = tf.round(14.0 - mass_y), tf.round(14.0 - mass_x)
        # Projective transforms map output to input pixels: [1, 0, -dx, 0, 1, -dy, 0, 0].
        zeros, ones = tf.zeros_like(shift_x), tf.ones_like(shift_x)
        transforms = tf.stack([ones, zeros, -shift_x, zeros, ones, -shift_y, zeros, zeros], axis=1)
        centred = tf.raw_ops.ImageProjectiveTransformV3(
            images=fitted,
            transforms=transforms,
            output_shape=tf.constant([28, 28]),
            fill_value=0.0,
            interpolation="NEAREST",
            fill_mode="CONSTANT",
        )
        empty = tf.reduce_any(ink, axis=[1, 2])[:, None, None, None]
        return tf.where(empty, centred, images)


class RandomStroke(layers.Layer):
    """Thicken or thin each image's strokes by a random fraction of one pixel (grey dilation or erosion, 3x3)."""

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images: tf.Tensor, training: bool = True) -> tf.Tensor:  # (B, 28, 28, 1) -> same
        if not training:
            return images
        count = tf.shape(images)[0]
        thick = tf.nn.max_pool2d(images, 3, 1, "SAME")
        thin = -tf.nn.max_pool2d(-images, 3, 1, "SAME")
        # amount in [-0.6, 1): negative thins, positive thickens; thinning is milder because MNIST strokes are thin.
        amount = keras.random.uniform((count, 1, 1, 1), -0.6, 1.0, seed=self.seed_generator)
        thickened = images + tf.maximum(amount, 0.0) * (thick - images)
        return thickened + tf.minimum(amount, 0.0) * (thickened - thin)


def make_datasets(config: TrainConfig, splits: Splits) -> tuple[tf.data.Dataset, tf.data.Dataset | None]:
    """Shuffled, batched, augmented and prefetched batches; the CPU prepares the next batch while the model trains."""
    augment = augmenter(config)

    def to_float(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        images = tf.cast(images[..., None], tf.float32) / 255.0  # (B, 28, 28) uint8 -> (B, 28, 28, 1) float32
        return images, tf.cast(labels, tf.int32)

    def augmented(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return tf.clip_by_value(augment(images, training=True), 0.0, 1.0), labels

    train = tf.data.Dataset.from_tensor_slices((splits.x_train, splits.y_train))
    train = train.shuffle(len(splits.x_train), seed=config.seed, reshuffle_each_iteration=True)
    train = train.batch(config.batch_size).map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
    if augment is not None:
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


def _build_from_local_batch(model: keras.Model, batches: tf.data.Dataset) -> None:
    """Let a multi-worker fit build the model from one ordinary batch (keras-team/keras#20585).

    NOTE: before training, Keras averages the first *data* batch across workers only to learn its shapes; across
    hosts that reduce fails. One local batch has the same shapes, so this model's build step is handed that.
    """
    first_batch = next(iter(batches))
    trainer_build = type(model)._maybe_symbolic_build
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: trainer_build(model, data_batch=first_batch)


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


@dataclass
class TrainingProgress:
    """A thread-safe view of a run for charts and progress bars (the app polls `snapshot()`)."""

    total_steps: int = 0
    steps_done: int = 0
    epochs: int = 0
    started: float = 0.0
    batches: list[dict[str, float]] = field(default_factory=list)  # {"epoch": 1.37, "loss": .., "accuracy": ..}
    epoch_logs: list[dict[str, float]] = field(default_factory=list)  # {"epoch": 2, "loss", "accuracy", "val_loss", ...}
    status: str = "idle"  # idle, running, finished, stopped, diverged, failed
    message: str = ""

    @property
    def fraction(self) -> float:
        return self.steps_done / self.total_steps if self.total_steps else 0.0

    @property
    def eta_seconds(self) -> float | None:
        if not self.steps_done or not self.started:
            return None
        elapsed = time.monotonic() - self.started
        return elapsed / self.steps_done * (self.total_steps - self.steps_done)


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

    def snapshot(self) -> TrainingProgress:
        """A copy that the caller may read at leisure while training continues."""
        with self._lock:
            progress = self._progress
            return dataclasses.replace(progress, batches=list(progress.batches), epoch_logs=list(progress.epoch_logs))

    def finish(self, status: str, message: str = "") -> None:
        with self._lock:
            self._progress.status, self._progress.message = status, message

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        steps, epochs = self.params.get("steps") or 0, self.params.get("epochs") or 0
        with self._lock:
            self._progress = TrainingProgress(total_steps=steps * epochs, epochs=epochs, started=time.monotonic(), status="running")

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        now = time.monotonic()
        steps = self.params.get("steps") or 1
        with self._lock:
            self._progress.steps_done = self._epoch * steps + batch + 1
            if now - self._last_record < self.interval or not logs:
                return
            self._last_record = now
            self._progress.batches.append({"epoch": self._epoch + (batch + 1) / steps, **_floats(logs)})

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
    status: str  # finished, stopped or diverged
    message: str
    history: dict[str, list[float]]
    path: Path | None = None


def train(
    config: TrainConfig,
    data: Mnist,
    *,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    stop_event: threading.Event | None = None,
    save_to: str | os.PathLike[str] | None = None,
    name: str = "mnist_cnn",
    verbose: int = 0,
) -> TrainResult:
    """Train a model from `config` on `data`, evaluate it on the test set, calibrate it, and save it atomically.

    `callbacks` are Keras callbacks (a ProgressMonitor for charts, say). Setting `stop_event` from another thread
    stops after the current batch; the partly trained model is still evaluated and returned. A loss that becomes
    NaN or explodes (past EXPLODED_LOSS) ends the run with status "diverged", no model and nothing saved.
    """
    # NOTE: MultiWorkerMirroredStrategy configures collective ops, which TensorFlow allows only before its first op
    # (seeding and building the datasets are ops), so the strategy is created first.
    strategy = strategy_for(config)
    keras.utils.set_random_seed(config.seed)
    splits = make_splits(config, data)
    train_batches, validation_batches = make_datasets(config, splits)
    steps_per_epoch = math.ceil(len(splits.x_train) / config.batch_size)
    with strategy.scope():
        model = compiled_model(config, steps_per_epoch)
    if config.distribution == "multi_worker":
        _build_from_local_batch(model, train_batches)
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
        return TrainResult(None, ModelCard(name=name), "diverged", message, history)
    stopped = stop_event is not None and stop_event.is_set()
    card = make_card(model, config, data, splits, name=name, seconds=seconds, epochs_completed=epochs_completed, stopped=stopped)
    status = "stopped" if stopped else "finished"
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
        data_source=data.source,
        notes=f"Stopped by the user after {epochs_completed} full epochs." if stopped else "",
        versions={"tensorflow": tf.__version__, "keras": keras.__version__},
    )


def augmentation_preview(config: TrainConfig, images: np.ndarray, copies: int = 4) -> np.ndarray:
    """What training sees: each image followed by `copies` random augmentations.  (n, 28, 28) uint8 -> (n, 1 + copies, 28, 28) float32."""
    originals = images.astype(np.float32)[..., None] / 255.0  # (n, 28, 28, 1)
    augment = augmenter(config.replace(augment_share=1.0))  # show every copy transformed, whatever the share
    variants = [originals]
    for _ in range(copies):
        variants.append(np.clip(augment(originals, training=True), 0.0, 1.0) if augment is not None else originals)
    return np.stack([np.asarray(variant)[..., 0] for variant in variants], axis=1)


class TrainingJob:
    """A training run on a background thread: `progress()` for charts, `stop()` from any thread, `result` when done."""

    def __init__(self, config: TrainConfig, data: Mnist, *, save_to: str | os.PathLike[str] | None, name: str) -> None:
        self.config = config
        self.name = name
        self.monitor = ProgressMonitor()
        self.stop_event = threading.Event()
        self.result: TrainResult | None = None
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, args=(data, save_to, name), name=f"train-{name}", daemon=True)

    def start(self) -> TrainingJob:
        self._thread.start()
        return self

    def _run(self, data: Mnist, save_to: str | os.PathLike[str] | None, name: str) -> None:
        try:
            self.result = train(self.config, data, callbacks=[self.monitor], stop_event=self.stop_event, save_to=save_to, name=name)
            self.monitor.finish(self.result.status, self.result.message)
        except Exception as error:  # reported on the page; the server and other sessions carry on
            self.error = f"Training failed: {error}"
            self.monitor.finish("failed", self.error)

    def stop(self) -> None:
        """Ask the run to stop after the current batch (idempotent: pressing Stop twice is harmless)."""
        self.stop_event.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def progress(self) -> TrainingProgress:
        return self.monitor.snapshot()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()
