"""Model files without TensorFlow: where models live, their cards, and the checks made before Keras reads one."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import TrainConfig

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
SHIPPED_MODEL = MODELS_DIR / "mnist_cnn.keras"
USER_MODELS_ENV = "MNIST_USER_MODELS"
CARD_ENTRY = "model_card.json"  # an extra member of the .keras zip; Keras ignores members it does not know
H5_CARD_ATTRIBUTE = "model_card"
MAX_MODEL_BYTES = 50 * 1024 * 1024  # the default CNN is about 2.7 MB; anything near this is not a digit model
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
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


def user_models_dir() -> Path:
    """Where models trained by users go, never over the shipped model: $MNIST_USER_MODELS or ./user_models."""
    return Path(os.environ.get(USER_MODELS_ENV, MODELS_DIR.parent / "user_models")).expanduser()


def unique_model_path(name: str) -> Path:
    """A fresh file name in the user folder: two sessions saving under one name never touch each other's file."""
    slug = "".join(character if character.isalnum() or character in "-_" else "-" for character in name).strip("-") or "model"
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return user_models_dir() / f"{slug}-{stamp}-{uuid.uuid4().hex[:6]}.keras"


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
