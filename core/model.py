"""The CNN built from a TrainConfig; saving it with its card atomically and loading model files safely."""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
import zipfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from core.architecture import LayerSpec, describe
from core.config import TrainConfig
from core.modelfile import (  # noqa: F401  (re-exported: callers import these from core.model too)
    CARD_ENTRY,
    MAX_ACTIVATIONS,
    MAX_MODEL_BYTES,
    MAX_PARAMETERS,
    MODELS_DIR,
    SHIPPED_MODEL,
    ModelCard,
    ModelFileError,
    check_model_code,
    check_model_file,
    check_weight_headers,
    read_architecture,
    read_card,
)

NUM_CLASSES = 10
INPUT_SHAPE = (28, 28, 1)
# Input shapes a digit model may declare; the recognizer reshapes its (28, 28, 1) batches to match.
ACCEPTED_INPUT_SHAPES = ((28, 28, 1), (28, 28), (784,))


# --- Building -----------------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="digitlab")
class Deslant(layers.Layer):
    """Undo the writer's slant: shear each image about its centre of mass so its main axis is vertical.

    Moment-based deskewing, the classic MNIST normalisation: skew = mu11 / mu02 of the ink. It has no weights;
    it sits inside the model so training, model.evaluate on raw MNIST, the app and the CLI all see the same thing.
    """

    def call(self, images: tf.Tensor) -> tf.Tensor:  # (B, 28, 28, 1) float32 -> same
        ink = images[..., 0]
        positions = tf.range(28, dtype=images.dtype)
        rows, columns = positions[None, :, None], positions[None, None, :]
        mass = tf.reduce_sum(ink, axis=[1, 2]) + 1e-6
        centre_y = tf.reduce_sum(ink * rows, axis=[1, 2]) / mass
        centre_x = tf.reduce_sum(ink * columns, axis=[1, 2]) / mass
        dy, dx = rows - centre_y[:, None, None], columns - centre_x[:, None, None]
        mu11 = tf.reduce_sum(ink * dx * dy, axis=[1, 2]) / mass
        mu02 = tf.reduce_sum(ink * dy * dy, axis=[1, 2]) / mass + 1e-6
        skew = tf.clip_by_value(mu11 / mu02, -1.0, 1.0)
        # Output pixel (x, y) reads input (x + skew * (y - centre_y), y): a shear that keeps the centre in place,
        # interpolated linearly along the row, black outside the image. Written as a weighted sum rather than an
        # image transform so that XLA can compile the whole model (see Recognizer).
        source = columns + skew[:, None, None] * dy  # (B, 28, 28): the input column each output pixel reads
        weights = tf.nn.relu(1.0 - tf.abs(source[..., None] - positions))  # (B, 28, 28, 28): tent around it
        return tf.einsum("byxk,byk->byx", weights, ink)[..., None]


def build_model(config: TrainConfig) -> keras.Model:
    """The CNN `config` describes (the seed's by default), with named layers so explanations can find them; not compiled.

    The layers and their shapes come from core.architecture, which the Train page's layer table shows: what is
    built is what was shown. Raises ArchitectureError (a ValueError) with one sentence for a network that cannot be built.
    """
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")  # (28, 28, 1) float32 in [0, 1], white ink on black
    x = inputs
    for spec in describe(config).layers:
        x = _layer(spec)(x)  # shape per image: spec.output_shape, e.g. (26, 26, 32) after the seed's conv1
    return keras.Model(inputs, x, name=f"mnist_{config.architecture}_cnn")


def _layer(spec: LayerSpec) -> layers.Layer:
    """The Keras layer for one row of the layer table."""
    settings, name = spec.settings, spec.name
    if spec.kind == "conv":
        kernel, normalised = (settings["kernel"], settings["kernel"]), settings["activation"] is None
        return layers.Conv2D(
            settings["filters"],
            kernel,
            strides=settings["strides"],
            padding=settings["padding"],
            activation=settings["activation"],
            use_bias=not normalised,  # batch normalisation's shift does a bias's job
            name=name,
        )
    if spec.kind == "dense":
        return layers.Dense(settings["units"], activation=settings["activation"], name=name)
    if spec.kind == "dropout":
        return layers.Dropout(settings["rate"], name=name)
    simple = {
        "deslant": lambda: Deslant(name=name),
        "norm": lambda: layers.BatchNormalization(name=name),
        "relu": lambda: layers.Activation("relu", name=name),
        "maxpool": lambda: layers.MaxPooling2D(2, name=name),
        "avgpool": lambda: layers.AveragePooling2D(2, name=name),
        "flatten": lambda: layers.Flatten(name=name),
    }
    return simple[spec.kind]()


# --- Saving -------------------------------------------------------------------------------------------------------


def save_model(model: keras.Model, card: ModelCard, path: str | os.PathLike[str]) -> Path:
    """Write the model and its card beside `path`, then rename over it: a crash never leaves half a file."""
    target = Path(path)
    if target.suffix != ".keras":
        raise ValueError(f"Models are saved in the .keras format; {target.name} should end in .keras.")
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(target)
    handle, temporary_name = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=".keras", dir=target.parent)
    os.close(handle)
    temporary = Path(temporary_name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes the file private; a model is an ordinary file
    try:
        model.save(temporary, include_optimizer=False)
        with zipfile.ZipFile(temporary, "a", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(CARD_ENTRY, card.to_json())
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, target)  # atomic on POSIX and Windows when both are on one filesystem
        _fsync_directory(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return target


def _remove_stale_partials(target: Path, age_seconds: float = 3600.0) -> None:
    """Delete half-written files that a killed process left beside `target` (an hour old: no save takes that long)."""
    cutoff = time.time() - age_seconds
    for partial in target.parent.glob(f".{target.stem}-*.keras"):
        with contextlib.suppress(OSError):
            if partial.stat().st_mtime < cutoff:
                partial.unlink()


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX only; Windows has no directory handles to sync)."""
    if os.name == "posix":
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


# --- Loading ------------------------------------------------------------------------------------------------------


def load_model(path: str | os.PathLike[str]) -> tuple[keras.Model, ModelCard]:
    """Load a digit model safely: sizes checked from headers, code refused, Keras safe_mode on, shapes verified."""
    location = check_model_file(path)
    check_model_code(location)
    check_declared_size(location)
    check_weight_headers(location)
    card = read_card(location)
    try:
        model = keras.models.load_model(location, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many kinds for bad archives; the user needs one sentence.
        raise ModelFileError(f"{location.name}: cannot be loaded as a Keras model ({_reason(error)}).") from error
    check_model_shapes(model, location.name)
    check_finite_weights(model, location.name)
    return model, card


def declared_size(architecture: dict, legacy: bool = False) -> tuple[int, int]:
    """(parameters, activations per image) an architecture declares, found without allocating any weight.

    NOTE: inside a StatelessScope that does not initialise variables, Keras builds every layer with its real shapes
    but defers each weight's memory; a Dense layer declared 30000x30000 costs nothing here.
    """
    from keras.src.backend.common import global_state

    pending = global_state.get_global_attribute("uninitialized_variables", [], set_to_default=True)
    already = len(pending)
    try:
        with keras.StatelessScope(initialize_variables=False):
            if legacy:
                from keras.src.legacy.saving import saving_utils

                model = saving_utils.model_from_config(architecture)
            else:
                model = keras.saving.deserialize_keras_object({**architecture, "compile_config": None}, safe_mode=True)
    finally:
        del pending[already:]  # the deferred weights are never initialised: forget them
    parameters = sum(math.prod(weight.shape) for weight in model.weights)
    return parameters, sum(_activations(layer) for layer in _all_layers(model))


def _all_layers(model: keras.Layer) -> list[keras.Layer]:
    found, pending = [], [model]
    while pending:
        layer = pending.pop()
        found.append(layer)
        pending.extend(getattr(layer, "layers", []))
    return found


def _activations(layer: keras.Layer) -> int:
    """Values one image makes this layer output, over every call of it (a shared layer runs once per call)."""
    total = 0
    for node in getattr(layer, "_inbound_nodes", []):
        for output in node.outputs:
            sizes = output.shape[1:]
            total += math.prod(size for size in sizes if size is not None)
    return total


def check_declared_size(path: str | os.PathLike[str]) -> None:
    """Refuse a model whose architecture declares more parameters or activations than any digit model needs."""
    location = Path(path)
    try:
        parameters, activations = declared_size(read_architecture(location), legacy=location.suffix.lower() != ".keras")
    except ModelFileError:
        raise
    except Exception as error:  # NOTE: untrusted JSON reaches Keras's deserialiser; any failure is a bad file
        raise ModelFileError(f"{location.name}: cannot be loaded as a Keras model ({_reason(error)}).") from error
    if parameters > MAX_PARAMETERS:
        raise ModelFileError(f"{location.name}: declares {parameters:,} parameters, over the {MAX_PARAMETERS:,} limit for a digit model.")
    if activations > MAX_ACTIVATIONS:
        raise ModelFileError(
            f"{location.name}: declares layers computing {activations:,} values per image, over the {MAX_ACTIVATIONS:,} limit for a digit model."
        )


def check_finite_weights(model: keras.Model, name: str) -> None:
    """A weight that is NaN or infinite makes every answer NaN: refuse the file rather than show 'nan%'."""
    for weight in model.weights:
        if not np.isfinite(keras.ops.convert_to_numpy(weight)).all():
            raise ModelFileError(f"{name}: its weights contain NaN or infinite values, so it cannot give answers.")


def check_model_shapes(model: keras.Model, name: str) -> None:
    """A digit model takes one 28x28 image and returns 10 class scores."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelFileError(
            f"{name}: a digit model has one input and one output, this one has {len(model.inputs)} and {len(model.outputs)}."
        )
    input_shape = tuple(model.inputs[0].shape[1:])
    if input_shape not in ACCEPTED_INPUT_SHAPES:
        raise ModelFileError(f"{name}: takes input of shape {input_shape}, not a 28x28 image.")
    output_shape = tuple(model.outputs[0].shape[1:])
    if output_shape != (NUM_CLASSES,):
        raise ModelFileError(f"{name}: returns shape {output_shape}, not 10 digit classes.")


def _reason(error: BaseException) -> str:
    """Why Keras could not load a file, said plainly: its own messages are long, internal and may quote the file."""
    text = str(error)
    if "safe_mode" in text:
        return "it would run Python code, which is refused because it could run anything"
    if isinstance(error, (KeyError, IndexError)) or "shape" in text or "expected" in text.lower():
        return "its weights do not match its architecture"
    if isinstance(error, (TypeError, AttributeError)) or "Could not locate" in text or "Unknown" in text:
        return "its architecture is not one Keras can build"
    return "the file is damaged or not a complete Keras model"
