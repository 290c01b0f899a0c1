"""Inside the network: Grad-CAM and stroke saliency over the 28x28 input, feature maps, and the first layer's filters."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import keras
import numpy as np
import tensorflow as tf

SMOOTHGRAD_COPIES = 15  # noisy copies averaged for the saliency map
SMOOTHGRAD_NOISE = 0.15  # their noise level, on the 0..1 pixel scale


@dataclass(frozen=True)
class Explanation:
    digit: int  # the class explained (the model's answer)
    grad_cam: np.ndarray  # (28, 28) float32 in [0, 1]: where the last convolution's evidence for `digit` lies
    saliency: np.ndarray  # (28, 28) float32 in [0, 1]: how much each stroke pixel moves the score of `digit`
    feature_maps: dict[str, np.ndarray]  # layer name -> (h, w, channels) activations
    grad_cam_layer: str = ""  # the convolution Grad-CAM was computed on: the last one


class Explainer:
    """Explanations for one model, compiled once; the model itself is only read, never changed."""

    def __init__(self, model: keras.Model) -> None:
        self.model = model  # read by other views that need gradients through the same network (core.adversarial)
        self.convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
        if not self.convolutions:
            raise ValueError("This model has no convolution layers to show.")
        self.last_convolution = self.convolutions[-1].name  # the layer Grad-CAM reads, named in the page's caption
        self.input_shape = tuple(model.inputs[0].shape[1:])
        last = model.layers[-1]
        # Explain the score before the softmax: a confident softmax is flat, so its gradients vanish to noise.
        # For the usual last layer (Dense with softmax) the score is recomputed from that layer's input.
        scores_from_input = isinstance(last, keras.layers.Dense) and last.activation is keras.activations.softmax
        head = last.input if scores_from_input else model.outputs[0]
        # A second view of the same layers that also returns every convolution's output (no weights are copied).
        probe = keras.Model(model.inputs, [*(_block_output(model, layer) for layer in self.convolutions), head])

        @tf.function(input_signature=[tf.TensorSpec([1, 28, 28, 1], tf.float32)])
        def explain(image: tf.Tensor) -> tuple[tf.Tensor, ...]:
            # The image and SMOOTHGRAD_COPIES noisy copies in one batch: averaging their gradients (SmoothGrad)
            # turns a CNN's speckled pixel gradients into a readable map.
            noise = tf.random.stateless_normal((SMOOTHGRAD_COPIES, 28, 28, 1), seed=(1, 2), stddev=SMOOTHGRAD_NOISE)
            batch = tf.concat([image, tf.clip_by_value(image + noise, 0.0, 1.0)], axis=0)  # (1 + copies, 28, 28, 1)
            shaped = tf.reshape(batch, (-1, *self.input_shape))
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(shaped)
                *maps, features = probe(shaped, training=False)
                scores = tf.matmul(features, last.kernel) + last.bias if scores_from_input else tf.math.log(features + 1e-9)
                digit = tf.argmax(scores[0])
                probability = tf.nn.softmax(scores[0])[digit]
                score_sum = tf.reduce_sum(scores[:, digit])
            # Grad-CAM on the clean image's probability: evidence for this digit against the other nine.
            last_map_gradient = tape.gradient(probability, maps[-1])[:1]  # (1, h, w, c)
            input_gradient = tape.gradient(score_sum, shaped)  # (1 + copies, ...)
            saliency = tf.abs(tf.reduce_mean(tf.reshape(input_gradient, (-1, 28, 28)), axis=0))  # (28, 28): noise cancels in the mean
            return (digit, last_map_gradient, saliency, *(feature_map[:1] for feature_map in maps))

        self._explain = explain.get_concrete_function()
        self._filters = self.convolutions[0].get_weights()[0]  # (k, k, 1, filters)

    def explain(self, model_input: np.ndarray) -> Explanation:
        """model_input: (28, 28) float32 in [0, 1] as the recognizer prepares it."""
        image = tf.convert_to_tensor(np.asarray(model_input, np.float32).reshape(1, 28, 28, 1))
        digit, gradient, saliency, *maps = self._explain(image)
        last = maps[-1].numpy()[0]  # (h, w, c)
        weights = gradient.numpy()[0].mean(axis=(0, 1))  # (c,): how much each channel raises the probability
        cam = np.maximum(last @ weights, 0.0)  # (h, w)
        cam = _unit(cv2.resize(cam, (28, 28), interpolation=cv2.INTER_LINEAR))
        feature_maps = {layer.name: activation.numpy()[0] for layer, activation in zip(self.convolutions, maps, strict=True)}
        # Gradient x input: pixel gradients of a small CNN are speckled even after SmoothGrad; weighting them by
        # the ink (spread one pixel) shows which strokes drove the answer.
        ink = cv2.dilate(np.asarray(model_input, np.float32), np.ones((3, 3), np.uint8))
        return Explanation(int(digit.numpy()), cam, _unit(saliency.numpy() * ink), feature_maps, self.last_convolution)

    def first_layer_filters(self) -> np.ndarray:
        """The first convolution's kernels, each scaled to [0, 1] for display.  -> (filters, k, k)."""
        kernels = np.transpose(self._filters[:, :, 0, :], (2, 0, 1))
        low = kernels.min(axis=(1, 2), keepdims=True)
        high = kernels.max(axis=(1, 2), keepdims=True)
        return ((kernels - low) / np.maximum(high - low, 1e-8)).astype(np.float32)


def _block_output(model: keras.Model, convolution: keras.layers.Layer) -> tf.Tensor:
    """What a convolution block passes on: the convolution's output, or, when batch normalisation and the activation
    follow it as separate layers, the activated output after them (a raw pre-activation map is not what fires)."""
    output = convolution.output
    following = {id(layer.input): layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)}
    while id(output) in following and isinstance(following[id(output)], (keras.layers.BatchNormalization, keras.layers.Activation)):
        output = following[id(output)].output
    return output


def _unit(values: np.ndarray) -> np.ndarray:
    peak = float(values.max())
    return (values / peak).astype(np.float32) if peak > 0 else np.zeros_like(values, np.float32)


def quadrant_share(heatmap: np.ndarray, row: int, column: int) -> float:
    """Fraction of a (28, 28) heatmap's mass in one 14x14 quadrant (row, column in {0, 1})."""
    total = float(heatmap.sum())
    part = heatmap[row * 14 : row * 14 + 14, column * 14 : column * 14 + 14].sum()
    return float(part) / total if total > 0 else 0.0
