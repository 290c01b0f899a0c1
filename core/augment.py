"""Augmentation of training batches: Keras layers that rotate, slant, stretch, refit and restroke digits, and a preview of them."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from core.config import TrainConfig


def augmenter(config: TrainConfig) -> layers.Pipeline | None:
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
    return layers.Pipeline([AppliedToShare(layers.Pipeline(steps), config.augment_share, seed=seed + 6)], name="augment")


class AppliedToShare(layers.Layer):
    """Apply `inner` to a random `share` of the images in each batch; the rest pass unchanged, as MNIST wrote them."""

    def __init__(self, inner: keras.layers.Layer, share: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inner, self.share = inner, share
        self.seed_generator = keras.random.SeedGenerator(seed)

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


def augmentation_preview(config: TrainConfig, images: np.ndarray, copies: int = 4) -> np.ndarray:
    """What training sees: each image followed by `copies` random augmentations.  (n, 28, 28) uint8 -> (n, 1 + copies, 28, 28) float32."""
    originals = images.astype(np.float32)[..., None] / 255.0  # (n, 28, 28, 1)
    augment = augmenter(config.replace(augment_share=1.0))  # show every copy transformed, whatever the share
    variants = [originals]
    for _ in range(copies):
        variants.append(np.clip(augment(originals, training=True), 0.0, 1.0) if augment is not None else originals)
    return np.stack([np.asarray(variant)[..., 0] for variant in variants], axis=1)
