"""The network a TrainConfig describes, layer by layer: output shapes, parameters and multiply-adds, without TensorFlow."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from core.config import TrainConfig
from core.modelfile import MAX_ACTIVATIONS, MAX_PARAMETERS

NUM_CLASSES = 10
INPUT_SHAPE = (28, 28, 1)
# Values each optimizer keeps per weight and Keras saves in the file beside it (Adam: two running averages).
OPTIMIZER_SLOTS = {"adam": 2, "adamw": 2, "sgd": 1, "rmsprop": 1}
FILE_OVERHEAD_BYTES = 48_000  # the architecture's JSON, the card and HDF5's bookkeeping, measured on the shipped file


class ArchitectureError(ValueError):
    """A network that cannot be built or is too large for a digit model; the message is one sentence for a person."""


@dataclass(frozen=True)
class LayerSpec:
    """One Keras layer to build: its name, kind and settings, with what it computes for one image."""

    name: str  # the Keras layer name: explanations find "conv1" ... by it
    kind: str  # deslant, conv, norm, relu, maxpool, avgpool, flatten, dense, dropout
    output_shape: tuple[int, ...]  # per image, e.g. (26, 26, 32)
    parameters: int = 0  # every weight, trainable or not (what model.count_params() counts)
    multiply_adds: int = 0  # per image
    settings: dict[str, Any] = field(default_factory=dict)  # filters, kernel, strides, padding, activation, units, rate

    @property
    def shape_text(self) -> str:
        return " x ".join(str(size) for size in self.output_shape)


@dataclass(frozen=True)
class Architecture:
    """The layers a config builds, checked: every map has pixels left and the size is within a digit model's limits."""

    layers: tuple[LayerSpec, ...]

    @property
    def parameters(self) -> int:
        return sum(layer.parameters for layer in self.layers)

    @property
    def multiply_adds(self) -> int:
        return sum(layer.multiply_adds for layer in self.layers)

    @property
    def activations(self) -> int:
        """Values one image makes the layers output, as the model file's size check counts them."""
        return math.prod(INPUT_SHAPE) + sum(math.prod(layer.output_shape) for layer in self.layers)

    @property
    def last_convolution(self) -> str:
        """The name of the last convolution layer: the one Grad-CAM reads."""
        return [layer.name for layer in self.layers if layer.kind == "conv"][-1]

    def file_bytes(self, optimizer: str) -> int:
        """About how large the saved .keras file is: float32 weights, the optimizer's state beside them, bookkeeping."""
        return 4 * self.parameters * (1 + OPTIMIZER_SLOTS[optimizer]) + FILE_OVERHEAD_BYTES

    def table(self) -> list[dict[str, Any]]:
        """One row per layer for a person: name, kind, output shape, parameters, multiply-adds."""
        return [
            {
                "layer": layer.name,
                "kind": KINDS[layer.kind],
                "output": layer.shape_text,
                "parameters": layer.parameters,
                "multiply-adds": layer.multiply_adds,
            }
            for layer in self.layers
        ]


KINDS = {
    "deslant": "Deslant (no weights)",
    "conv": "Conv2D",
    "norm": "BatchNormalization",
    "relu": "ReLU",
    "maxpool": "MaxPooling2D",
    "avgpool": "AveragePooling2D",
    "flatten": "Flatten",
    "dense": "Dense",
    "dropout": "Dropout",
}


def describe(config: TrainConfig) -> Architecture:
    """The layers `config` builds with their shapes and sizes; ArchitectureError with one sentence if it cannot be built."""
    layers: list[LayerSpec] = []
    height, width, channels = INPUT_SHAPE
    if config.deslant:
        layers.append(LayerSpec("deslant", "deslant", INPUT_SHAPE))
    wide = config.architecture == "wide"
    padding = "same" if wide else config.conv_padding
    for block in range(1, config.conv_blocks + 1):
        filters, kernel = getattr(config, f"conv{block}_filters"), getattr(config, f"conv{block}_kernel")
        pooling, normalised = getattr(config, f"conv{block}_pooling"), wide or getattr(config, f"conv{block}_batchnorm")
        repeats = ("", "b") if wide else ("",)
        for repeat in repeats:
            stride = 2 if pooling == "stride" and repeat == repeats[-1] else 1
            if padding == "valid" and min(height, width) < kernel:
                raise ArchitectureError(
                    f"Block {block}'s {kernel}x{kernel} convolution does not fit the {height}x{width} map it receives: "
                    "use fewer blocks, smaller filters, less pooling or 'same' padding."
                )
            height, width = _convolved(height, kernel, stride, padding), _convolved(width, kernel, stride, padding)
            name = f"conv{block}{repeat}"
            settings = {
                "filters": filters,
                "kernel": kernel,
                "strides": stride,
                "padding": padding,
                "activation": None if normalised else "relu",
            }
            weights = kernel * kernel * channels * filters + (0 if normalised else filters)  # no bias before batch norm
            layers.append(
                LayerSpec(name, "conv", (height, width, filters), weights, height * width * kernel * kernel * channels * filters, settings)
            )
            channels = filters
            if normalised:
                layers.append(LayerSpec(f"norm{block}{repeat}", "norm", (height, width, channels), 4 * channels))
                layers.append(LayerSpec(f"relu{block}{repeat}", "relu", (height, width, channels)))
        if pooling in ("max", "avg"):
            if min(height, width) < 2:
                raise ArchitectureError(
                    f"Block {block}'s pooling would halve a {height}x{width} map to nothing: "
                    "use fewer blocks, 'none' as its pooling or 'same' padding."
                )
            height, width = height // 2, width // 2
            layers.append(LayerSpec(f"pool{block}", f"{pooling}pool", (height, width, channels)))
    features = height * width * channels
    layers.append(LayerSpec("flatten", "flatten", (features,)))
    for index in range(1, config.dense_layers + 1):
        units, rate = getattr(config, f"dense{index}_units"), getattr(config, f"dense{index}_dropout")
        suffix = "" if index == 1 else str(index)  # the seed's one dense layer is "dense", as in every saved model
        layers.append(
            LayerSpec(f"dense{suffix}", "dense", (units,), (features + 1) * units, features * units, {"units": units, "activation": "relu"})
        )
        if rate > 0:
            layers.append(LayerSpec(f"dropout{suffix}", "dropout", (units,), settings={"rate": rate}))
        features = units
    outputs = {"units": NUM_CLASSES, "activation": "softmax"}
    layers.append(LayerSpec("probabilities", "dense", (NUM_CLASSES,), (features + 1) * NUM_CLASSES, features * NUM_CLASSES, outputs))
    return _within_limits(Architecture(tuple(layers)))


def _convolved(size: int, kernel: int, stride: int, padding: str) -> int:
    """A map's side after a convolution: 'valid' loses kernel - 1 pixels, 'same' keeps them; a stride divides."""
    return -(-size // stride) if padding == "same" else (size - kernel) // stride + 1


def _within_limits(architecture: Architecture) -> Architecture:
    """Refuse a network that could be trained but never loaded again: model files over these limits are refused."""
    if architecture.parameters > MAX_PARAMETERS:
        raise ArchitectureError(
            f"This network would have {architecture.parameters:,} parameters, over the {MAX_PARAMETERS:,} a digit model may have: "
            "add pooling, or use fewer filters or units."
        )
    if architecture.activations > MAX_ACTIVATIONS:
        raise ArchitectureError(
            f"This network would compute {architecture.activations:,} values per image, over the {MAX_ACTIVATIONS:,} a digit model may: "
            "add pooling or use fewer filters."
        )
    return architecture


def problem(config: TrainConfig) -> str | None:
    """The sentence saying why `config`'s network cannot be trained, or None when it can."""
    try:
        describe(config)
    except ArchitectureError as error:
        return str(error)
    return None
