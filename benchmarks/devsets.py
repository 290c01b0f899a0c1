"""The two non-MNIST handwriting sets used only to measure: USPS test scans and Semeion, from ../shared/devsets."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

ENV_VAR = "DEVSETS_PATH"
DEFAULT_LOCATION = Path(__file__).resolve().parent.parent.parent / "shared" / "devsets"


def devsets_dir() -> Path:
    """$DEVSETS_PATH, else ../shared/devsets beside the repository."""
    return Path(os.environ.get(ENV_VAR, DEFAULT_LOCATION)).expanduser()


def load_usps(split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """USPS envelope scans: (n, 16, 16) uint8 with dark ink on white paper, and (n,) labels."""
    path = devsets_dir() / "usps" / f"zip.{split}.gz"
    with gzip.open(path, "rt") as stream:
        rows = np.loadtxt(stream, dtype=np.float32)
    labels = rows[:, 0].astype(np.int64)
    ink = (rows[:, 1:].reshape(-1, 16, 16) + 1.0) / 2.0  # -1 background .. +1 ink -> 0 .. 1
    return np.round((1.0 - ink) * 255).astype(np.uint8), labels


def load_semeion() -> tuple[np.ndarray, np.ndarray]:
    """Semeion scans, stretched to 16x16 and thresholded: (n, 16, 16) uint8 dark ink on white, and (n,) labels."""
    rows = np.loadtxt(devsets_dir() / "semeion" / "semeion.data", dtype=np.float32)
    labels = rows[:, 256:].argmax(axis=1).astype(np.int64)
    ink = rows[:, :256].reshape(-1, 16, 16)
    return np.round((1.0 - ink) * 255).astype(np.uint8), labels
