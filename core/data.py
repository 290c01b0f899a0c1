"""MNIST as uint8 arrays, from MNIST_PATH (an .npz or a folder of the four IDX .gz files) or Keras's downloader."""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import struct
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

ENV_VAR = "MNIST_PATH"
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
REMEDY = (
    f"Set {ENV_VAR} to an MNIST .npz with Keras's keys ({', '.join(NPZ_KEYS)}) or to a folder holding the four "
    f"official IDX files ({', '.join(IDX_FILES.values())}), e.g. `export {ENV_VAR}=../shared/data/mnist.npz`, "
    "or connect to the internet so Keras can download MNIST."
)


class DatasetError(RuntimeError):
    """MNIST could not be found or is not valid; the message says what to do."""


class Mnist(NamedTuple):
    x_train: np.ndarray  # (60000, 28, 28) uint8, white ink on black
    y_train: np.ndarray  # (60000,) uint8 in 0..9
    x_test: np.ndarray  # (10000, 28, 28) uint8
    y_test: np.ndarray  # (10000,) uint8
    source: str  # where the arrays came from, for messages (a card records describe(), not this)


def load_mnist(path: str | os.PathLike[str] | None = None) -> Mnist:
    """Load MNIST from `path`, else from $MNIST_PATH, else through Keras; raise DatasetError with the remedy."""
    chosen = path if path is not None else os.environ.get(ENV_VAR)
    if chosen:
        return _load_cached(str(Path(chosen).expanduser().resolve()))
    return _load_from_keras()


def describe(data: Mnist) -> str:
    """What the data was, for a model card: the set, its sizes and a fingerprint of the pixels, never where it sat.

    The same arrays give the same fingerprint whether they came from an .npz, the IDX files or Keras's download.
    """
    digest = hashlib.sha256()
    for array in (data.x_train, data.y_train, data.x_test, data.y_test):
        digest.update(np.ascontiguousarray(array).tobytes())
    return f"MNIST: {len(data.x_train):,} training and {len(data.x_test):,} test images (arrays' sha256 {digest.hexdigest()[:16]})"


def mnist_available(path: str | os.PathLike[str] | None = None) -> bool:
    """True when load_mnist would find a local copy without downloading (pages use it to decide what to show)."""
    chosen = path if path is not None else os.environ.get(ENV_VAR)
    if chosen:
        return Path(chosen).expanduser().exists()
    return (Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "mnist.npz").exists()


@functools.lru_cache(maxsize=2)
def _load_cached(resolved: str) -> Mnist:
    """Parse once per process: the arrays are read-only and shared by every caller."""
    location = Path(resolved)
    if not location.exists():
        raise DatasetError(f"{ENV_VAR} points to {location}, which does not exist. {REMEDY}")
    arrays = _read_idx_folder(location) if location.is_dir() else _read_npz(location)
    return _validated(arrays, source=str(location))


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in NPZ_KEYS if key not in archive.files]
            if missing:
                raise DatasetError(f"{path} lacks the arrays {', '.join(missing)}. {REMEDY}")
            return {key: archive[key] for key in NPZ_KEYS}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DatasetError(f"{path} is not a readable .npz file ({error}). {REMEDY}") from error


def _read_idx_folder(folder: Path) -> dict[str, np.ndarray]:
    missing = [name for name in IDX_FILES.values() if not (folder / name).exists()]
    if missing:
        raise DatasetError(f"{folder} lacks {', '.join(missing)}. {REMEDY}")
    return {key: _read_idx(folder / name) for key, name in IDX_FILES.items()}


def _read_idx(path: Path) -> np.ndarray:
    """Read one gzipped IDX file: magic (0, 0, 8 = uint8, ndim), big-endian dimension sizes, then the bytes."""
    try:
        with gzip.open(path, "rb") as stream:
            raw = stream.read()
    except (OSError, EOFError) as error:
        raise DatasetError(f"{path} is not a readable gzip file ({error}). {REMEDY}") from error
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetError(f"{path} is not an IDX file of unsigned bytes. {REMEDY}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise DatasetError(f"{path} is truncated or padded: {len(raw)} bytes where the header promises {expected}. {REMEDY}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


@functools.lru_cache(maxsize=1)
def _load_from_keras() -> Mnist:
    """Keras's own copy (downloaded once into ~/.keras), parsed once per process like `_load_cached`."""
    try:
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as error:  # Keras raises several kinds when offline; all mean the same to the user.
        raise DatasetError(f"MNIST is not available: {ENV_VAR} is not set and Keras could not download it ({error}). {REMEDY}") from error
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    return _validated(arrays, source="keras.datasets.mnist")


def _validated(arrays: dict[str, np.ndarray], source: str) -> Mnist:
    """Check dtypes, shapes and labels so a wrong file fails here, not halfway through training."""
    for split, count in (("train", 60_000), ("test", 10_000)):
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if images.dtype != np.uint8 or labels.dtype != np.uint8:
            raise DatasetError(f"{source}: {split} arrays must be uint8, found {images.dtype} and {labels.dtype}. {REMEDY}")
        if images.shape != (count, 28, 28) or labels.shape != (count,):
            raise DatasetError(
                f"{source}: {split} arrays must have shapes ({count}, 28, 28) and ({count},), "
                f"found {images.shape} and {labels.shape}. {REMEDY}"
            )
        if labels.max() > 9:
            raise DatasetError(f"{source}: {split} labels must be digits 0-9, found {labels.max()}. {REMEDY}")
    frozen = {key: _read_only(value) for key, value in arrays.items()}
    return Mnist(**frozen, source=source)


def _read_only(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.flags.writeable = False
    return array
