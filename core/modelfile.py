"""Model files without TensorFlow: where models live, their cards, and the checks made before Keras reads one."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.config import TrainConfig
from core.wording import plural

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

# Limits on what a model file declares, checked before Keras builds or unpacks anything (a hostile file can declare
# gigabytes in a few kilobytes). The largest network the Train page can build (wide, 128 and 256 filters of 5x5,
# 1024 dense units) has 15.7 M parameters and 0.96 M activations per image; tests/test_robustness_hostile.py checks
# that it stays inside these limits.
MAX_PARAMETERS = 20_000_000  # 80 MB of float32 weights
MAX_ACTIVATIONS = 2_000_000  # values computed per image, summed over layers: 8 MB per image, 0.5 GB for a batch of 64
MAX_WEIGHT_BYTES = MAX_PARAMETERS * 4 + 8 * 2**20  # the weights file: parameters plus HDF5's bookkeeping
# Keras unpacks the whole archive into a temporary folder when it holds more than its three own members (a card
# makes four), so the total unpacked size is also the disk a load may write.
MAX_UNPACKED_BYTES = 96 * 2**20
MAX_ARCHIVE_MEMBERS = 16  # Keras writes 3, this app adds the card
MAX_CARD_BYTES = 64 * 1024  # a card is under 2 KB of JSON
MAX_JSON_DEPTH = 64  # a model's architecture nests about 8 deep; json.loads recurses once per level
ARCHIVE_MEMBER_LIMITS = {"config.json": MAX_CONFIG_BYTES, CARD_ENTRY: MAX_CARD_BYTES, "metadata.json": MAX_CARD_BYTES}
WEIGHTS_ENTRY = "model.weights.h5"


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
    data_source: str = ""  # what the data was (core.data.describe), never where it sat
    notes: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    partial: bool = False  # stopped before its last epoch: a partly trained network, never made active unasked

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelCard:
        """A card from stored JSON: fields of the wrong type or out of range are dropped, and the notes say which."""
        fields: dict[str, Any] = {"name": "model"}
        dropped = []
        for key, check in _CARD_SCHEMA.items():
            if key in values:
                fields[key] = check(values[key])
                if fields[key] is None or (isinstance(values[key], dict) and len(fields[key]) < len(values[key])):
                    dropped.append(key)
        card = cls(**{key: value for key, value in fields.items() if value is not None})
        if dropped:
            card.notes = f"{card.notes} Ignored invalid card fields: {', '.join(dropped)}.".strip()
        return card

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
        config = self.train_config
        if self.partial:
            planned = f" of {config.epochs}" if config is not None else ""
            parts.append(f"partly trained ({self.epochs_completed}{planned} epochs)")
        elif self.epochs_completed:
            parts.append(plural(self.epochs_completed, "epoch"))
        if config is not None:
            parts.append(f"{config.architecture} CNN, {config.optimizer}, augment: {', '.join(config.augmentations) or 'none'}")
        return "; ".join(parts)


def _text(limit: int) -> Any:
    return lambda value: value[:limit] if isinstance(value, str) else None


def _number(low: float, high: float, integer: bool = False) -> Any:
    def check(value: Any) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
            return None
        return value if math.isfinite(value) and low <= value <= high else None

    return check


def _mapping(value_check: Any, entries: int = 32) -> Any:
    def check(value: Any) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            return None
        kept = {str(key)[:40]: value_check(item) for key, item in list(value.items())[:entries]}
        return {key: item for key, item in kept.items() if item is not None}

    return check


# What a card may hold: a stored card is untrusted input, and pages format these values (an accuracy as a
# percentage, a temperature that divides the model's log-probabilities).
_CARD_SCHEMA: dict[str, Any] = {
    "name": _text(120),
    "config": lambda value: value if isinstance(value, dict) else None,
    "metrics": _mapping(_number(-1e9, 1e9)),
    "temperature": _number(0.05, 20.0),
    "parameters": _number(0, MAX_PARAMETERS * 10, integer=True),
    "epochs_completed": _number(0, 10**6, integer=True),
    "training_seconds": _number(0, 1e8),
    "created": _text(40),
    "data_source": _text(200),
    "notes": _text(500),
    "versions": _mapping(_text(40)),
    "partial": lambda value: value if isinstance(value, bool) else None,
}


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
    if location.suffix.lower() == ".keras":
        _check_archive_directory(location)
    return location


def _check_archive_directory(location: Path) -> None:
    """Refuse an archive whose members would unpack to more than a digit model needs (a zip bomb), from its directory."""
    try:
        with zipfile.ZipFile(location) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise ModelFileError(f"{location.name}: the file is truncated or damaged and cannot be read.") from error
    if len(members) > MAX_ARCHIVE_MEMBERS:
        raise ModelFileError(f"{location.name}: holds {len(members)} files, more than a digit model's {MAX_ARCHIVE_MEMBERS}.")
    for member in members:
        if member.filename.startswith("/") or ".." in member.filename.split("/"):
            raise ModelFileError(f"{location.name}: holds a file that would be unpacked outside its folder, which is refused.")
        limit = ARCHIVE_MEMBER_LIMITS.get(member.filename, MAX_WEIGHT_BYTES)
        if member.file_size > limit:
            raise ModelFileError(
                f"{location.name}: its part {member.filename[:60]!r} unpacks to {_megabytes(member.file_size)}, "
                f"over the {_megabytes(limit)} a digit model needs."
            )
    total = sum(member.file_size for member in members)
    if total > MAX_UNPACKED_BYTES:
        raise ModelFileError(
            f"{location.name}: unpacks to {_megabytes(total)}, over the {_megabytes(MAX_UNPACKED_BYTES)} a digit model needs."
        )


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.1f} MB" if size < 10 * 2**20 else f"{size / 2**20:,.0f} MB"


def _read_member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """A member's bytes, never more than `limit` whatever its directory entry says (zipfile also checks the CRC)."""
    with archive.open(name) as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise ModelFileError(f"{name} is over the {_megabytes(limit)} limit")
    return data


def _parse_json(text: bytes | str, what: str, name: str) -> Any:
    """JSON from a model file, refusing nesting deeper than any model has (json.loads recurses once per level)."""
    raw = text.encode() if isinstance(text, str) else bytes(text)
    brackets = np.frombuffer(re.sub(rb'"(?:[^"\\]|\\.)*"', b"", raw).translate(None, _NOT_BRACKETS), np.uint8)
    depth = np.cumsum(np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1))  # strings removed first
    if depth.size and depth.max() > MAX_JSON_DEPTH:
        raise ModelFileError(f"{name}: its {what} nests deeper than {MAX_JSON_DEPTH} levels, which no digit model does.")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as error:  # json.JSONDecodeError and bad UTF-8 are ValueErrors
        raise ModelFileError(f"{name}: its {what} is not valid JSON (the file is damaged).") from error


_NOT_BRACKETS = bytes(code for code in range(256) if code not in b"[]{}")


def check_weight_headers(path: str | os.PathLike[str]) -> None:
    """Refuse HDF5 weights that declare more than a digit model holds, or that read from other files, from headers only.

    A small HDF5 file can declare a dataset of any size (compressed chunks that store nothing); Keras reads each one
    whole into memory. The datasets' shapes are read here without their data.
    """
    import io

    import h5py

    location = Path(path)
    try:
        if location.suffix.lower() == ".keras":
            with zipfile.ZipFile(location) as archive:
                if WEIGHTS_ENTRY not in archive.namelist():
                    return  # Keras says what is missing
                data = _read_member(archive, WEIGHTS_ENTRY, MAX_WEIGHT_BYTES)
            with h5py.File(io.BytesIO(data), "r") as stored:
                _check_datasets(stored, location.name)
        else:
            with h5py.File(location, "r") as stored:
                _check_datasets(stored, location.name)
    except ModelFileError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise ModelFileError(f"{location.name}: its weights are truncated or damaged and cannot be read.") from error


def _check_datasets(stored: Any, name: str) -> None:
    import h5py

    total, pending = 0, [stored]
    while pending:
        group = pending.pop()
        for key in group:
            link = group.get(key, getlink=True)
            if isinstance(link, (h5py.ExternalLink, h5py.SoftLink)):
                raise ModelFileError(f"{name}: its weights link to other data ({key[:40]!r}), which is refused.")
            item = group[key]
            if isinstance(item, h5py.Group):
                pending.append(item)
                continue
            if item.external or item.is_virtual:
                raise ModelFileError(f"{name}: its weights read from other files ({key[:40]!r}), which is refused.")
            if item.dtype.kind not in "fiub":
                raise ModelFileError(f"{name}: its weights hold {item.dtype} data, not numbers.")
            total += math.prod(item.shape or (1,)) * item.dtype.itemsize
            if total > MAX_WEIGHT_BYTES:
                raise ModelFileError(
                    f"{name}: its weights declare more than {_megabytes(MAX_WEIGHT_BYTES)}, over what a digit model needs."
                )


def _is_hdf5(path: Path) -> bool:
    with open(path, "rb") as stream:
        return stream.read(8) == b"\x89HDF\r\n\x1a\n"


def read_card(path: str | os.PathLike[str]) -> ModelCard:
    """The card stored in a model file, read without TensorFlow; a bare card named after the file if there is none."""
    location = Path(path)
    values: dict[str, Any] | None = None
    try:
        text: bytes | str | None = None
        if location.suffix.lower() == ".keras":
            with zipfile.ZipFile(location) as archive:
                if CARD_ENTRY in archive.namelist():
                    text = _read_member(archive, CARD_ENTRY, MAX_CARD_BYTES)
        else:
            import h5py

            with h5py.File(location, "r") as stored:
                if H5_CARD_ATTRIBUTE in stored.attrs:
                    text = stored.attrs[H5_CARD_ATTRIBUTE]
                    if not isinstance(text, (str, bytes)) or len(text) > MAX_CARD_BYTES:
                        raise ModelFileError(f"{location.name}: its model card is not text of at most {MAX_CARD_BYTES // 1024} KB.")
        if text is not None:
            values = _parse_json(text, "model card", location.name)
    except ModelFileError as error:
        message = str(error)
        if not message.startswith(f"{location.name}: "):
            message = f"{location.name}: its model card cannot be read ({message})."
        raise ModelFileError(message) from error
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise ModelFileError(f"{location.name}: its model card cannot be read (the file is truncated or damaged).") from error
    if not isinstance(values, dict):
        return ModelCard(name=location.stem, notes="No model card: trained outside this app.")
    return ModelCard.from_dict(values)


def check_model_code(path: str | os.PathLike[str]) -> None:
    """Refuse a model whose architecture would run Python code, reading only its JSON (Keras is not involved).

    Keras's safe_mode already refuses a Lambda's pickled bytecode; this check does not depend on that, covers the
    legacy .h5 loader too, and names the reason: a Lambda layer, or a layer or function from a foreign module.
    """
    location = Path(path)
    for node in _config_nodes(read_architecture(location)):
        if node.get("class_name") in ("Lambda", "__lambda__"):
            raise ModelFileError(
                f"{location.name}: contains a Lambda layer (Python code), which is refused because loading it could run anything."
            )
        module = node.get("module")
        if isinstance(module, str) and module.split(".")[0] not in TRUSTED_MODULES:
            raise ModelFileError(
                f"{location.name}: uses code from the Python module {module!r}, which is refused because loading it could run anything."
            )


def read_architecture(path: str | os.PathLike[str]) -> Any:
    """The model's architecture JSON: config.json in a .keras archive, the model_config attribute of an .h5 file."""
    location = Path(path)
    try:
        if location.suffix.lower() == ".keras":
            with zipfile.ZipFile(location) as archive:
                if "config.json" not in archive.namelist():
                    raise ModelFileError(f"{location.name}: a zip file but not a Keras model (it has no config.json).")
                try:
                    text = _read_member(archive, "config.json", MAX_CONFIG_BYTES)
                except ModelFileError as error:
                    raise ModelFileError(f"{location.name}: its architecture is too large to be a digit model.") from error
        else:
            import h5py

            with h5py.File(location, "r") as stored:
                if "model_config" not in stored.attrs:
                    raise ModelFileError(f"{location.name}: holds weights only, not a whole model; save it with model.save(...) instead.")
                text = stored.attrs["model_config"]
            if not isinstance(text, (str, bytes)) or len(text) > MAX_CONFIG_BYTES:
                raise ModelFileError(f"{location.name}: its architecture is too large to be a digit model.")
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise ModelFileError(f"{location.name}: the file is truncated or damaged and cannot be read.") from error
    return _parse_json(text, "architecture", location.name)


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
