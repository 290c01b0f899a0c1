"""Hostile model files, generated small: they declare gigabytes (layers, zip members, HDF5 datasets) in kilobytes.

A plain module (like resources.py) so that tests and the memory probe below share it. Run as a script, it is the
probe: it loads each file given with `core.model.load_model` in this fresh process and prints, per file, the
one-line refusal, the process's peak memory and the most temporary disk seen while loading, as JSON.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

CHUNK = bytes(2**20)  # 1 MB of zeros: one deflate block repeated, so a bomb costs milliseconds to write
BOMB_BYTES = 400 * 2**20  # what each bomb inflates to: over the +300 MB bound, so a bomb that got through would show


# --- Writing zip files by hand ------------------------------------------------------------------------------------
# zipfile cannot write a member whose directory entry lies, and it would compress every byte of a bomb; both need
# the raw format: local header, deflate data, central directory, end record.


class Member:
    """One member: its deflate stream, the CRC and size of what that stream inflates to, and the size declared."""

    def __init__(self, name: str, deflated: bytes, crc: int, size: int, declared_size: int | None = None):
        self.name, self.deflated, self.crc, self.size = name.encode(), deflated, crc, size
        self.declared_size = size if declared_size is None else declared_size


def deflated(data: bytes) -> Member:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return Member("", compressor.compress(data) + compressor.flush(), zlib.crc32(data), len(data))


def padded(prefix: bytes, padding: bytes, total: int) -> Member:
    """`prefix` followed by `padding` repeated up to `total` bytes, deflated without ever holding `total` bytes."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = padding * (len(CHUNK) // len(padding))
    # After a full flush the compressor's history is empty, so one compressed block can be repeated as it is.
    repeated = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    count = -(-(total - len(prefix)) // len(block))  # rounded up: at least `total` bytes
    crc = zlib.crc32(prefix)
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    return Member("", head + repeated * count + compressor.flush(), crc, len(prefix) + count * len(block))


def write_zip(path: Path, members: dict[str, Member]) -> Path:
    local, central = bytearray(), bytearray()
    for name, member in members.items():
        member.name = name.encode()
        offset = len(local)
        sizes = (member.crc, len(member.deflated), member.declared_size, len(member.name), 0)
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, *sizes) + member.name + member.deflated
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, *sizes, 0, 0, 0, 0, offset)
        central += member.name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(local), 0)
    path.write_bytes(bytes(local + central + end))
    return path


def members_of(path: Path) -> dict[str, Member]:
    with zipfile.ZipFile(path) as archive:
        return {name: deflated(archive.read(name)) for name in archive.namelist()}


# --- Editing a real model's architecture ----------------------------------------------------------------------------


def with_config(source: Path, target: Path, change: Callable[[dict], None]) -> Path:
    """A copy of a .keras file whose config.json was passed through `change` (layers and their build shapes)."""
    members = members_of(source)
    with zipfile.ZipFile(source) as archive:
        config = json.loads(archive.read("config.json"))
    change(config)
    members["config.json"] = deflated(json.dumps(config).encode())
    return write_zip(target, members)


def resize_layers(class_name: str, key: str, old: int, new: int) -> Callable[[dict], None]:
    """Set `key` (units, filters) of every `class_name` layer from `old` to `new`, and the build shapes that follow."""

    def change(config: dict) -> None:
        for layer in config["config"]["layers"]:
            if layer["class_name"] == class_name and layer["config"][key] == old:
                layer["config"][key] = new
            shape = (layer.get("build_config") or {}).get("input_shape")
            if shape and shape[-1] == old:
                shape[-1] = new

    return change


# --- HDF5 datasets declared huge ----------------------------------------------------------------------------------


def declare_huge_dataset(stored, shape: tuple[int, ...] = (30_000, 30_000)) -> None:
    """Replace the largest dataset in an open HDF5 file by one of `shape`: compressed chunks, nothing written."""
    import h5py

    datasets: list[tuple[str, h5py.Dataset]] = []
    stored.visititems(lambda name, item: datasets.append((name, item)) if isinstance(item, h5py.Dataset) else None)
    name, _ = max(datasets, key=lambda entry: entry[1].size)
    del stored[name]
    stored.create_dataset(name, shape=shape, dtype="float32", chunks=(1000, 1000), compression="gzip")


def with_huge_weights(source: Path, target: Path) -> Path:
    """A .keras copy whose model.weights.h5 declares a 3.6 GB kernel in a few kilobytes."""
    import h5py

    members = members_of(source)
    with zipfile.ZipFile(source) as archive:
        buffer = io.BytesIO(archive.read("model.weights.h5"))
    with h5py.File(buffer, "a") as stored:
        declare_huge_dataset(stored)
    members["model.weights.h5"] = deflated(buffer.getvalue())
    return write_zip(target, members)


# --- The probe ----------------------------------------------------------------------------------------------------


def _disk_bytes(folders: list[Path]) -> int:
    import contextlib
    import os

    total = 0
    for folder in folders:
        for root, _, files in os.walk(folder):
            for name in files:
                with contextlib.suppress(OSError):  # removed while we looked
                    total += os.lstat(os.path.join(root, name)).st_size
    return total


def _load_watching_disk(path: Path, load: Callable[[Path], object], folders: list[Path]) -> tuple[str, float]:
    """Load `path`; -> (the refusal, or "accepted"; the most bytes added to `folders` meanwhile, in MB)."""
    import threading
    import time

    before, most, done = _disk_bytes(folders), 0, threading.Event()

    def watch() -> None:
        nonlocal most
        while not done.is_set():
            most = max(most, _disk_bytes(folders) - before)
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        load(path)
        message = "accepted"
    except ValueError as error:  # ModelFileError; anything else is a failure the test should see as a traceback
        message = str(error)
    finally:
        done.set()
        watcher.join()
    return message, max(most, _disk_bytes(folders) - before) / 2**20


def _probe(paths: list[str]) -> None:
    import resource
    import tempfile

    import core  # noqa: F401  (first, as everywhere: see core/__init__.py)
    from core.model import SHIPPED_MODEL, load_model

    def peak_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    load_model(SHIPPED_MODEL)  # TensorFlow and Keras's loading code warmed up: the baseline every file is measured from
    print(json.dumps({"file": "baseline", "peak_mb": peak_mb()}), flush=True)
    for path in map(Path, paths):
        # Keras unpacks archives into the temporary folder and beside the file: watch both while it loads.
        message, disk_mb = _load_watching_disk(path, load_model, [Path(tempfile.gettempdir()), path.parent])
        print(json.dumps({"file": path.name, "message": message, "peak_mb": peak_mb(), "disk_mb": disk_mb}), flush=True)


if __name__ == "__main__":
    import sys

    _probe(sys.argv[1:])
