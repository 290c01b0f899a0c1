"""Teaching a personal copy of a digit model a person's handwriting from a few samples, without forgetting MNIST."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from core.augment import FitToBox, RandomStroke
from core.data import Mnist, load_mnist
from core.model import ModelCard, save_model
from core.samples import NUM_CLASSES, SampleError, sample_inputs

MNIST_CHECK_SIZE = 10_000  # the whole MNIST test set: a personal model's forgetting is measured, not guessed


@dataclass(frozen=True)
class Recipe:
    """How a personal copy is trained; the defaults were chosen by measurement (README, "Teach it your handwriting")."""

    # Which layers learn: "all", "conv2" (the second convolution and the dense layers), "dense" (the two dense
    # layers; the convolutions stay as MNIST made them) or "head" (the last layer only).
    trainable: str = "dense"
    steps: int = 300
    batch_size: int = 64
    # Share of each batch drawn from MNIST's training set: the replay that keeps MNIST accuracy from falling.
    replay_share: float = 0.25
    learning_rate: float = 1e-3
    # Random changes to the person's samples: with five examples of a digit, the network would otherwise learn those
    # five images, not the writer's style. "shape": turn, slant, aspect, position, stroke width; "light": the same
    # without aspect and slant (a writer's proportions are part of their style); "none".
    augment: str = "light"
    # Class-balanced replay: each batch slot is a digit drawn uniformly, filled by the person's sample of that digit or
    # by MNIST. Without it, teaching three digits makes the network answer those three more often (MNIST fell 1.5
    # points in a test teaching 1s, 4s and 7s).
    balanced: bool = True

    def __post_init__(self) -> None:
        if self.trainable not in TRAINABLE:
            raise ValueError(f"trainable must be one of {', '.join(TRAINABLE)}, not {self.trainable!r}.")
        if not 0.0 <= self.replay_share < 1.0:
            raise ValueError(f"replay_share must be in [0, 1), not {self.replay_share}.")
        if self.augment not in AUGMENTATIONS:
            raise ValueError(f"augment must be one of {', '.join(AUGMENTATIONS)}, not {self.augment!r}.")
        if self.steps < 1 or self.batch_size < 2:
            raise ValueError("A recipe needs at least one step and a batch of at least two images.")


# Layers that learn under each choice of Recipe.trainable (layer names from core.model.build_model).
TRAINABLE = {"all": None, "conv2": ("conv2", "dense", "probabilities"), "dense": ("dense", "probabilities"), "head": ("probabilities",)}
AUGMENTATIONS = ("shape", "light", "none")


@dataclass
class PersonalizeReport:
    """What teaching did: samples per digit, accuracy on the samples and on MNIST test before and after, time taken."""

    base_model: str
    samples_per_digit: list[int]  # (10,)
    seed: int
    recipe: dict[str, object]
    samples_before: float  # accuracy of the base model on the taught samples
    samples_after: float  # of the personal model on the same samples (it has seen them: not a held-out figure)
    mnist_before: float | None = None  # MNIST test accuracy (None when MNIST was not checked)
    mnist_after: float | None = None
    mnist_count: int = 0
    training_seconds: float = 0.0
    held_out_before: float | None = None  # cross-validation over the samples (see cross_validate)
    held_out_after: float | None = None
    extra: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: what was taught, and the figures that say whether it helped."""
        parts = [f"{sum(self.samples_per_digit)} samples ({min(self.samples_per_digit)}-{max(self.samples_per_digit)} per digit)"]
        if self.held_out_before is not None and self.held_out_after is not None:
            parts.append(f"held-out samples {self.held_out_before:.0%} -> {self.held_out_after:.0%}")
        parts.append(f"taught samples {self.samples_before:.0%} -> {self.samples_after:.0%}")
        if self.mnist_before is not None and self.mnist_after is not None:
            parts.append(f"MNIST test {self.mnist_before:.2%} -> {self.mnist_after:.2%}")
        parts.append(f"{self.training_seconds:.1f} s")
        return "; ".join(parts)


def checked_labels(labels: np.ndarray | list[int], count: int) -> np.ndarray:
    """Labels as int64 in 0-9, one per sample; SampleError otherwise."""
    values = np.asarray(labels)
    if values.shape != (count,):
        raise SampleError(f"{count} samples need {count} labels, not {values.size}.")
    if values.size and (not np.issubdtype(values.dtype, np.integer) or values.min() < 0 or values.max() >= NUM_CLASSES):
        raise SampleError("Labels must be digits from 0 to 9.")
    return values.astype(np.int64)


# --- Teaching -----------------------------------------------------------------------------------------------------


def accuracy(model: keras.Model, inputs: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> float:
    """Share of `inputs` whose most likely class is the label.  (n, 28, 28) float32, (n,) -> float (0.0 when n = 0)."""
    if len(inputs) == 0:
        return 0.0
    return float(np.mean(predict(model, inputs, batch_size).argmax(axis=1) == labels))


def predict(model: keras.Model, inputs: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """The model's probabilities in inference mode.  (n, 28, 28) float32 -> (n, 10) float32."""
    input_shape = tuple(model.inputs[0].shape[1:])
    batches = [
        np.asarray(model(tf.reshape(inputs[start : start + batch_size].astype(np.float32), (-1, *input_shape)), training=False))
        for start in range(0, len(inputs), batch_size)
    ]
    return np.concatenate(batches) if batches else np.zeros((0, NUM_CLASSES), np.float32)


def personal_copy(model: keras.Model, recipe: Recipe, seed: int) -> keras.Model:
    """A copy of `model` with its own weights (the shared model is never changed) and only the recipe's layers trainable."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    learning = TRAINABLE[recipe.trainable]
    for index, layer in enumerate(copy.layers):
        layer.trainable = learning is None or layer.name in learning
        generator = getattr(layer, "seed_generator", None)
        if generator is not None:  # Dropout: its masks follow the seed, so the same seed gives the same model
            generator.state.assign(np.array([seed + index, 0], dtype=generator.state.dtype))
    return copy


def _augmenter(kind: str, seed: int) -> keras.layers.Pipeline | None:
    """Small changes a writer makes from one digit to the next (see Recipe.augment); None for "none"."""
    layers = keras.layers
    if kind == "none":
        return None
    steps: list[keras.layers.Layer] = [layers.RandomRotation(10 / 360, fill_mode="constant", seed=seed)]
    if kind == "shape":
        steps.append(layers.RandomShear(x_factor=0.2, fill_mode="constant", seed=seed + 1))
        steps.append(layers.RandomZoom((0.0, 0.25), (0.0, 0.25), fill_mode="constant", seed=seed + 2))
    steps.append(FitToBox())  # laid out again as the recognizer lays out every digit
    steps.append(layers.RandomTranslation(1 / 28, 1 / 28, fill_mode="constant", seed=seed + 3))
    steps.append(RandomStroke(seed=seed + 4))
    return layers.Pipeline(steps, name="personal_augment")


def personalize(
    model: keras.Model,
    images: list[np.ndarray] | np.ndarray,
    labels: np.ndarray | list[int],
    *,
    recipe: Recipe | None = None,
    seed: int = 0,
    mnist: Mnist | None = None,
    check_mnist: bool = True,
    base_card: ModelCard | None = None,
    prepared: bool = False,
    on_progress: Callable[[int, int], object] | None = None,
    stop_event: threading.Event | None = None,
    save_to: str | os.PathLike[str] | None = None,
) -> tuple[keras.Model, PersonalizeReport]:
    """Fine-tune a personal copy of `model` on a person's samples, with MNIST replayed so it keeps reading MNIST.

    images: any images of one digit each, passed through the recognizer's preprocessing (`sample_input`); with
    prepared=True they are already model inputs, (n, 28, 28) float32. labels: (n,) digits. `mnist` defaults to
    load_mnist() (its training set is replayed, its test set checks forgetting unless check_mnist is False).
    `on_progress(step, steps)` is called after each step; `stop_event` ends training early. The same seed, samples
    and recipe give the same weights. With `save_to`, the model and its card are saved atomically there.
    """
    recipe = recipe or Recipe()
    inputs = np.asarray(images, np.float32) if prepared else sample_inputs(images)  # (n, 28, 28)
    targets = checked_labels(labels, len(inputs))
    if len(inputs) == 0:
        raise SampleError("There are no samples to teach.")
    mnist = mnist if mnist is not None else load_mnist()
    base_name = base_card.name if base_card is not None else model.name

    personal = personal_copy(model, recipe, seed)
    samples_before = accuracy(model, inputs, targets)
    started = time.perf_counter()
    _train(personal, inputs, targets, mnist, recipe, seed, on_progress, stop_event)
    seconds = time.perf_counter() - started

    report = PersonalizeReport(
        base_model=base_name,
        samples_per_digit=np.bincount(targets, minlength=NUM_CLASSES).tolist(),
        seed=seed,
        recipe=asdict(recipe),
        samples_before=samples_before,
        samples_after=accuracy(personal, inputs, targets),
        training_seconds=seconds,
    )
    if check_mnist:
        test_inputs = mnist.x_test[:MNIST_CHECK_SIZE].astype(np.float32) / 255.0  # (10000, 28, 28)
        test_labels = mnist.y_test[:MNIST_CHECK_SIZE].astype(np.int64)
        # Measured, not read from the base card: `mnist` may be a subset, and a card is only what a file says.
        report.mnist_before = accuracy(model, test_inputs, test_labels)
        report.mnist_after = accuracy(personal, test_inputs, test_labels)
        report.mnist_count = len(test_inputs)
    if save_to is not None:
        save_model(personal, personal_card(report, base_card, personal.count_params()), save_to)
    return personal, report


def _train(
    model: keras.Model,
    inputs: np.ndarray,
    targets: np.ndarray,
    mnist: Mnist,
    recipe: Recipe,
    seed: int,
    on_progress: Callable[[int, int], object] | None,
    stop_event: threading.Event | None,
) -> None:
    """The recipe's steps: each batch mixes augmented samples with MNIST training images, drawn from a seeded generator."""
    rng = np.random.default_rng(seed)
    draw = _BatchDrawer(inputs, targets, mnist, recipe)
    augment = _augmenter(recipe.augment, seed)
    optimizer = keras.optimizers.Adam(learning_rate=recipe.learning_rate)
    loss_function = keras.losses.SparseCategoricalCrossentropy()
    input_shape = tuple(model.inputs[0].shape[1:])
    weights = model.trainable_weights

    @tf.function
    def step(images: tf.Tensor, labels: tf.Tensor, personal: tf.Tensor) -> tf.Tensor:  # (B, 28, 28, 1), (B,), (B,) bool
        if augment is not None:  # only the person's samples are varied; MNIST is replayed as it was written
            varied = tf.clip_by_value(augment(images, training=True), 0.0, 1.0)
            images = tf.where(personal[:, None, None, None], varied, images)
        with tf.GradientTape() as tape:
            loss = loss_function(labels, model(tf.reshape(images, (-1, *input_shape)), training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights, strict=True))
        return loss

    for number in range(1, recipe.steps + 1):
        if stop_event is not None and stop_event.is_set():
            break
        step(*(tf.constant(array) for array in draw(rng)))
        if on_progress is not None:
            on_progress(number, recipe.steps)


class _BatchDrawer:
    """Batches of the person's samples and MNIST replay, as the recipe mixes them."""

    def __init__(self, inputs: np.ndarray, targets: np.ndarray, mnist: Mnist, recipe: Recipe) -> None:
        self.inputs, self.targets, self.mnist, self.recipe = inputs, targets, mnist, recipe
        self.own_by_digit = [np.flatnonzero(targets == digit) for digit in range(NUM_CLASSES)]
        self.mnist_by_digit = [np.flatnonzero(mnist.y_train == digit) for digit in range(NUM_CLASSES)]

    def __call__(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """-> images (B, 28, 28, 1) float32, labels (B,) int64, personal (B,) bool."""
        size, share = self.recipe.batch_size, 1.0 - self.recipe.replay_share
        if self.recipe.balanced:
            # Each slot is a digit drawn uniformly, then the person's sample of it (when they gave that digit) or an
            # MNIST image of it. Teaching only some digits then never tilts the network towards those digits.
            digits = rng.integers(0, NUM_CLASSES, size)
            personal = np.array([len(self.own_by_digit[d]) > 0 for d in digits]) & (rng.random(size) < share)
            chosen = [rng.choice(self.own_by_digit[d] if own else self.mnist_by_digit[d]) for d, own in zip(digits, personal, strict=True)]
        else:
            own = int(round(size * share))
            personal = np.arange(size) < own
            chosen = list(rng.integers(0, len(self.inputs), own)) + list(rng.integers(0, len(self.mnist.x_train), size - own))
        images = np.empty((size, 28, 28, 1), np.float32)
        labels = np.empty(size, np.int64)
        for slot, (index, own) in enumerate(zip(chosen, personal, strict=True)):
            if own:
                images[slot, ..., 0], labels[slot] = self.inputs[index], self.targets[index]
            else:
                images[slot, ..., 0], labels[slot] = self.mnist.x_train[index] / np.float32(255), self.mnist.y_train[index]
        return images, labels, personal


def personal_card(report: PersonalizeReport, base_card: ModelCard | None, parameters: int) -> ModelCard:
    """The card saved inside a personal model: the base model, samples per digit, before/after, the recipe."""
    metrics: dict[str, float] = {"samples_before": report.samples_before, "samples_after": report.samples_after}
    if report.mnist_after is not None:
        metrics["test_accuracy"] = report.mnist_after  # the sidebar shows this like any model's MNIST figure
    if report.mnist_before is not None:
        metrics["base_test_accuracy"] = report.mnist_before
    if report.held_out_before is not None and report.held_out_after is not None:
        metrics["held_out_before"], metrics["held_out_after"] = report.held_out_before, report.held_out_after
    per_digit = ", ".join(f"{digit}: {count}" for digit, count in enumerate(report.samples_per_digit))
    return ModelCard(
        name=f"{report.base_model} (personal)",
        config=dict(base_card.config) if base_card is not None else {},
        metrics=metrics,
        temperature=base_card.temperature if base_card is not None else 1.0,
        parameters=parameters,
        epochs_completed=0,
        training_seconds=report.training_seconds,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        data_source=f"personal samples ({per_digit}) + MNIST replay",
        notes=f"Personalised from {report.base_model}, seed {report.seed}, recipe {report.recipe}: {report.summary()}.",
        versions=dict(base_card.versions) if base_card is not None else {},
    )


def cross_validate(
    model: keras.Model,
    inputs: np.ndarray,
    labels: np.ndarray,
    *,
    mnist: Mnist,
    recipe: Recipe | None = None,
    seed: int = 0,
    folds: int = 5,
    on_progress: Callable[[int, int], object] | None = None,
) -> tuple[float, float]:
    """Accuracy on samples it was not taught, before and after: each fold taught on the others.  -> (before, after).

    inputs are model inputs, (n, 28, 28) float32. Each sample is held out once; a fold is skipped when holding it
    out would leave nothing to teach.
    """
    recipe = recipe or Recipe()
    order = np.random.default_rng(seed).permutation(len(inputs))
    parts = [part for part in np.array_split(order, min(folds, len(inputs))) if len(part) and len(part) < len(inputs)]
    right_before = right_after = counted = 0
    for number, held in enumerate(parts):
        taught = np.setdiff1d(order, held)
        personal = personal_copy(model, recipe, seed)
        total = recipe.steps * len(parts)
        done = number * recipe.steps

        def progress(step: int, steps: int, done: int = done, total: int = total) -> object:
            return on_progress(done + step, total) if on_progress is not None else None

        _train(personal, inputs[taught], labels[taught], mnist, recipe, seed, progress, None)
        right_before += int(round(accuracy(model, inputs[held], labels[held]) * len(held)))
        right_after += int(round(accuracy(personal, inputs[held], labels[held]) * len(held)))
        counted += len(held)
    if not counted:
        raise SampleError("Cross-validation needs at least two samples.")
    return right_before / counted, right_after / counted


def save_personal(model: keras.Model, report: PersonalizeReport, base_card: ModelCard | None, path: str | os.PathLike[str]) -> Path:
    """Save a personal model with its card, atomically (see core.model.save_model)."""
    return save_model(model, personal_card(report, base_card, model.count_params()), path)


def teach_folder(
    samples_dir: str | os.PathLike[str],
    output: str | os.PathLike[str],
    model_path: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
    folds: int = 3,
    mnist: Mnist | None = None,
    recipe: Recipe | None = None,
) -> PersonalizeReport:
    """What `python -m core personalize --samples DIR [--model P] --output OUT.keras` does, for the CLI to call.

    Reads DIR/0 ... DIR/9 (SampleSetError, one sentence, for a bad folder or file), cross-validates over the samples
    for the held-out figures, teaches a personal copy of the model (the shipped one by default) and saves it with
    its card at `output`. -> the report (samples per digit, held-out before/after, MNIST test, seconds).
    """
    from core.model import SHIPPED_MODEL, load_model
    from core.samples import SampleSet, read_sample_folder

    images, labels, names = read_sample_folder(samples_dir)
    inputs, targets = SampleSet.from_images(images, labels, names).arrays()
    model, card = load_model(model_path if model_path is not None else SHIPPED_MODEL)
    mnist = mnist if mnist is not None else load_mnist()
    held_out = None
    if folds > 1 and len(targets) > folds:
        held_out = cross_validate(model, inputs, targets, mnist=mnist, recipe=recipe, seed=seed, folds=folds)
    personal, report = personalize(model, inputs, targets, recipe=recipe, seed=seed, mnist=mnist, base_card=card, prepared=True)
    if held_out is not None:
        report.held_out_before, report.held_out_after = held_out
    save_personal(personal, report, card, output)
    return report
