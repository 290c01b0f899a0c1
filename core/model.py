"""The CNN built from a TrainConfig, and model files that carry their own card (config, metrics, calibration)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf
from keras import layers

from core.config import TrainConfig

NUM_CLASSES = 10
INPUT_SHAPE = (28, 28, 1)
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
SHIPPED_MODEL = MODELS_DIR / "mnist_cnn.keras"
CARD_ENTRY = "model_card.json"  # an extra member of the .keras zip; Keras ignores members it does not know
H5_CARD_ATTRIBUTE = "model_card"
MAX_MODEL_BYTES = 50 * 1024 * 1024  # the default CNN is about 2.7 MB; anything near this is not a digit model
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
# Input shapes a digit model may declare; the recognizer reshapes its (28, 28, 1) batches to match.
ACCEPTED_INPUT_SHAPES = ((28, 28, 1), (28, 28), (784,))
MAX_CONFIG_BYTES = 5 * 1024 * 1024  # a model's architecture is a few kilobytes of JSON; more is not a digit model
# Modules a layer, initializer or function in a model's architecture may come from: Keras itself and this project
# (the Deslant layer). Anything else would make Keras import and run that module's code.
TRUSTED_MODULES = ("keras", "core")


class ModelFileError(ValueError):
    """A model file that cannot be used; the message names the file and the reason."""


@dataclass
class ModelCard:
    """How a model was made and how well it does: saved inside the model file."""

    name: str
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # test_accuracy, test_loss, val_accuracy, ...
    temperature: float = 1.0  # divides log-probabilities before the softmax; fitted on the validation images
    parameters: int = 0
    epochs_completed: int = 0
    training_seconds: float = 0.0
    created: str = ""
    data_source: str = ""
    notes: str = ""
    versions: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelCard:
        known = cls.__dataclass_fields__
        return cls(**{key: value for key, value in values.items() if key in known})

    @property
    def train_config(self) -> TrainConfig | None:
        """The TrainConfig that built this model, or None for a model made elsewhere."""
        try:
            return TrainConfig.from_dict(self.config) if self.config else None
        except (TypeError, ValueError):
            return None

    def summary(self) -> str:
        """One line for a sidebar or a CLI: accuracy, size and how it was trained."""
        accuracy = self.metrics.get("test_accuracy")
        parts = [f"{accuracy:.2%} on MNIST test" if accuracy is not None else "not evaluated"]
        if self.parameters:
            parts.append(f"{self.parameters:,} parameters")
        if self.epochs_completed:
            parts.append(f"{self.epochs_completed} epochs")
        config = self.train_config
        if config is not None:
            parts.append(f"{config.architecture} CNN, {config.optimizer}, augment: {', '.join(config.augmentations) or 'none'}")
        return "; ".join(parts)


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
        zeros, ones = tf.zeros_like(skew), tf.ones_like(skew)
        # Output pixel (x, y) reads input (x + skew * (y - centre_y), y): a shear that keeps the centre in place.
        transforms = tf.stack([ones, skew, -skew * centre_y, zeros, ones, zeros, zeros, zeros], axis=1)
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=images,
            transforms=transforms,
            output_shape=tf.constant([28, 28]),
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode="CONSTANT",
        )


def build_model(config: TrainConfig) -> keras.Model:
    """The seed CNN (or the wider variant) with named layers, so explanations can find them; not compiled."""
    kernel = (config.kernel_size, config.kernel_size)
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")  # (28, 28, 1) float32 in [0, 1], white ink on black
    x = Deslant(name="deslant")(inputs) if config.deslant else inputs
    if config.architecture == "seed":
        x = layers.Conv2D(config.conv1_filters, kernel, activation="relu", name="conv1")(x)  # (26, 26, 32)
        x = layers.MaxPooling2D(2, name="pool1")(x)  # (13, 13, 32)
        x = layers.Conv2D(config.conv2_filters, kernel, activation="relu", name="conv2")(x)  # (11, 11, 64)
        x = layers.MaxPooling2D(2, name="pool2")(x)  # (5, 5, 64)
    else:
        for block, filters in ((1, config.conv1_filters), (2, config.conv2_filters)):
            for repeat in ("", "b"):
                x = layers.Conv2D(filters, kernel, padding="same", use_bias=False, name=f"conv{block}{repeat}")(x)
                x = layers.BatchNormalization(name=f"norm{block}{repeat}")(x)
                x = layers.Activation("relu", name=f"relu{block}{repeat}")(x)
            x = layers.MaxPooling2D(2, name=f"pool{block}")(x)  # (14, 14) then (7, 7)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(config.dense_units, activation="relu", name="dense")(x)
    x = layers.Dropout(config.dropout, name="dropout")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=f"mnist_{config.architecture}_cnn")


# --- Saving -------------------------------------------------------------------------------------------------------


def save_model(model: keras.Model, card: ModelCard, path: str | os.PathLike[str]) -> Path:
    """Write the model and its card beside `path`, then rename over it: a crash never leaves half a file."""
    target = Path(path)
    if target.suffix != ".keras":
        raise ValueError(f"Models are saved in the .keras format; {target.name} should end in .keras.")
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary_name = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=".keras", dir=target.parent)
    os.close(handle)
    temporary = Path(temporary_name)
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


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX only; Windows has no directory handles to sync)."""
    if os.name == "posix":
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


# --- Loading ------------------------------------------------------------------------------------------------------


def check_model_file(path: str | os.PathLike[str]) -> Path:
    """Cheap checks before any byte is parsed: exists, suffix, size limit, container format."""
    location = Path(path)
    if not location.is_file():
        raise ModelFileError(f"{location.name}: no such model file.")
    if location.suffix.lower() not in MODEL_SUFFIXES:
        raise ModelFileError(f"{location.name}: not a Keras model file (expected .keras or .h5).")
    size = location.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise ModelFileError(f"{location.name}: {size / 2**20:.0f} MB is over the {MAX_MODEL_BYTES // 2**20} MB limit for a digit model.")
    if location.suffix.lower() == ".keras" and not zipfile.is_zipfile(location):
        raise ModelFileError(f"{location.name}: not a valid .keras archive (it is not a zip file; truncated or not a model).")
    if location.suffix.lower() != ".keras" and not _is_hdf5(location):
        raise ModelFileError(f"{location.name}: not a valid HDF5 model file (truncated or not a model).")
    return location


def _is_hdf5(path: Path) -> bool:
    with open(path, "rb") as stream:
        return stream.read(8) == b"\x89HDF\r\n\x1a\n"


def read_card(path: str | os.PathLike[str]) -> ModelCard:
    """The card stored in a model file, read without TensorFlow; a bare card named after the file if there is none."""
    location = Path(path)
    values: dict[str, Any] | None = None
    try:
        if location.suffix.lower() == ".keras":
            with zipfile.ZipFile(location) as archive:
                if CARD_ENTRY in archive.namelist():
                    values = json.loads(archive.read(CARD_ENTRY))
        else:
            import h5py

            with h5py.File(location, "r") as stored:
                if H5_CARD_ATTRIBUTE in stored.attrs:
                    values = json.loads(stored.attrs[H5_CARD_ATTRIBUTE])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise ModelFileError(f"{location.name}: its model card cannot be read ({error}).") from error
    if not isinstance(values, dict):
        return ModelCard(name=location.stem, notes="No model card: trained outside this app.")
    return ModelCard.from_dict(values)


def load_model(path: str | os.PathLike[str]) -> tuple[keras.Model, ModelCard]:
    """Load a digit model safely: size-checked first, code refused, Keras safe_mode on, shapes verified."""
    location = check_model_file(path)
    check_model_code(location)
    card = read_card(location)
    try:
        model = keras.models.load_model(location, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many kinds for bad archives; the user needs one sentence.
        raise ModelFileError(f"{location.name}: cannot be loaded as a Keras model ({_first_line(error)}).") from error
    check_model_shapes(model, location.name)
    return model, card


def check_model_code(path: str | os.PathLike[str]) -> None:
    """Refuse a model whose architecture would run Python code, reading only its JSON (Keras is not involved).

    Keras's safe_mode already refuses a Lambda's pickled bytecode; this check does not depend on that, covers the
    legacy .h5 loader too, and names the reason: a Lambda layer, or a layer or function from a foreign module.
    """
    location = Path(path)
    for node in _config_nodes(_architecture(location)):
        if node.get("class_name") in ("Lambda", "__lambda__"):
            raise ModelFileError(
                f"{location.name}: contains a Lambda layer (Python code), which is refused because loading it could run anything."
            )
        module = node.get("module")
        if isinstance(module, str) and module.split(".")[0] not in TRUSTED_MODULES:
            raise ModelFileError(
                f"{location.name}: uses code from the Python module {module!r}, which is refused because loading it could run anything."
            )


def _architecture(location: Path) -> Any:
    """The model's architecture JSON: config.json in a .keras archive, the model_config attribute of an .h5 file."""
    try:
        if location.suffix.lower() == ".keras":
            with zipfile.ZipFile(location) as archive:
                if "config.json" not in archive.namelist():
                    raise ModelFileError(f"{location.name}: a zip file but not a Keras model (it has no config.json).")
                if archive.getinfo("config.json").file_size > MAX_CONFIG_BYTES:
                    raise ModelFileError(f"{location.name}: its architecture is too large to be a digit model.")
                text = archive.read("config.json")
        else:
            import h5py

            with h5py.File(location, "r") as stored:
                if "model_config" not in stored.attrs:
                    raise ModelFileError(f"{location.name}: holds weights only, not a whole model; save it with model.save(...) instead.")
                text = stored.attrs["model_config"]
        return json.loads(text)
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ModelFileError(f"{location.name}: the file is truncated or damaged and cannot be read.") from error
    except (ValueError, TypeError) as error:  # json.JSONDecodeError is a ValueError
        raise ModelFileError(f"{location.name}: its architecture is not valid JSON (the file is damaged).") from error


def _config_nodes(config: Any) -> list[dict[str, Any]]:
    """Every JSON object inside a model's architecture, nested models and layers included."""
    nodes, pending = [], [config]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            nodes.append(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return nodes


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


def _first_line(error: BaseException) -> str:
    text = str(error).strip().strip("'\"").splitlines()  # a KeyError's message comes quoted
    message = text[0] if text else type(error).__name__
    if "safe_mode" in str(error) or "Lambda" in str(error):
        return "it contains Python code (a Lambda layer), which is refused because it could run anything"
    return message[:200]
