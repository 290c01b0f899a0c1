"""Fool it: the small change to a drawing that makes the network read another digit (FGSM and its iterative version)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf

if TYPE_CHECKING:
    import keras

METHODS = ("fgsm", "iterative")
ITERATIVE_STEPS = 12  # small steps, each pushed back inside the budget: finds changes one big FGSM step misses
STEP_SHARE = 0.25  # each iterative step moves pixels by a quarter of the budget, so that 12 steps can go there and back


@dataclass(frozen=True)
class Attack:
    """A drawing, its changed copy and what the network reads in each."""

    original: np.ndarray  # (28, 28) float32 in [0, 1]: the drawing as the network sees it
    changed: np.ndarray  # (28, 28) float32 in [0, 1]: the drawing after the change
    original_probabilities: np.ndarray  # (10,) float32
    probabilities: np.ndarray  # (10,) float32: of the changed drawing
    budget: float  # the largest change allowed to any pixel, on the 0..1 scale
    method: str  # fgsm or iterative
    target: int | None  # the digit it was pushed towards, or None for "any other digit"

    @property
    def change(self) -> np.ndarray:
        """(28, 28) float32 in [-budget, budget]: what was added to each pixel."""
        return self.changed - self.original

    @property
    def original_digit(self) -> int:
        return int(np.argmax(self.original_probabilities))

    @property
    def digit(self) -> int:
        """What the network reads in the changed drawing."""
        return int(np.argmax(self.probabilities))

    @property
    def fooled(self) -> bool:
        """The network now reads the target digit, or, without a target, any digit other than before."""
        return self.digit == self.target if self.target is not None else self.digit != self.original_digit


class Fooler:
    """Changes to drawings that fool one model, with gradients through that same model (read, never changed)."""

    def __init__(self, model: keras.Model) -> None:
        import keras

        self.input_shape = tuple(model.inputs[0].shape[1:])
        last = model.layers[-1]
        # As for the explanations: push the scores before the softmax, whose gradients vanish when it is confident.
        scores_from_input = isinstance(last, keras.layers.Dense) and last.activation is keras.activations.softmax
        probe = keras.Model(model.inputs, last.input if scores_from_input else model.outputs[0])

        def scores(images: tf.Tensor) -> tf.Tensor:  # (B, 28, 28, 1) -> (B, 10)
            features = probe(tf.reshape(images, (-1, *self.input_shape)), training=False)
            return tf.matmul(features, last.kernel) + last.bias if scores_from_input else tf.math.log(features + 1e-9)

        @tf.function(
            input_signature=[
                tf.TensorSpec([1, 28, 28, 1], tf.float32),
                tf.TensorSpec([], tf.float32),
                tf.TensorSpec([], tf.int32),
                tf.TensorSpec([], tf.int32),
            ]
        )
        def attack(image: tf.Tensor, budget: tf.Tensor, steps: tf.Tensor, target: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
            before = tf.nn.softmax(scores(image))[0]  # (10,)
            # Without a target (-1): raise the loss of the digit read now. With one: lower the loss of the target.
            targeted = target >= 0
            label = tf.where(targeted, target, tf.cast(tf.argmax(before), tf.int32))[None]
            direction = tf.where(targeted, -1.0, 1.0)
            step = tf.where(steps == 1, budget, budget * STEP_SHARE)  # FGSM is one step of the whole budget
            changed = image
            for _ in tf.range(steps):
                with tf.GradientTape() as tape:
                    tape.watch(changed)
                    loss = tf.keras.losses.sparse_categorical_crossentropy(label, scores(changed), from_logits=True)
                gradient = tape.gradient(loss, changed)
                changed = changed + direction * step * tf.sign(gradient)
                changed = tf.clip_by_value(tf.clip_by_value(changed, image - budget, image + budget), 0.0, 1.0)
            return changed, before, tf.nn.softmax(scores(changed))[0]

        self._attack = attack.get_concrete_function()

    def fool(self, model_input: np.ndarray, budget: float, *, method: str = "iterative", target: int | None = None) -> Attack:
        """Change each pixel of `model_input` ((28, 28) float32 in [0, 1]) by at most `budget` to make the network
        read another digit (or `target`). The changed drawing stays in [0, 1]."""
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}.")
        if not 0.0 <= budget <= 1.0:
            raise ValueError(f"The size of the change must be between 0 and 1, not {budget}.")
        if target is not None and target not in range(10):
            raise ValueError(f"The target must be a digit from 0 to 9, not {target}.")
        original = np.clip(np.asarray(model_input, np.float32).reshape(28, 28), 0.0, 1.0)
        steps = 1 if method == "fgsm" else ITERATIVE_STEPS
        target_index = tf.constant(-1 if target is None else int(target), tf.int32)
        changed, before, after = self._attack(
            tf.constant(original[None, :, :, None]), tf.constant(budget, tf.float32), tf.constant(steps), target_index
        )
        return Attack(original, changed.numpy()[0, :, :, 0], before.numpy(), after.numpy(), budget, method, target)
