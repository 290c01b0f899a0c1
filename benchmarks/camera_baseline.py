"""Today's method as the baseline of the camera benchmark: an earlier commit's reader run on the same frames.

`baseline_readings(ref, images)` copies `core/` and `models/` as they were at git commit `ref` into a temporary
folder and reads the frames there, in a separate Python process whose `core` is that old one. Run as a script,
this file is that process: it imports nothing from the current tree.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parent.parent
BASELINE_REF = "63afb1a"  # the last commit before the realistic camera work: today's method in the README's table


def baseline_readings(images: np.ndarray, ref: str = BASELINE_REF) -> list[str]:
    """The numbers the reader of commit `ref` reads from `images` ((n, H, W, 3) uint8 BGR frames), in order."""
    with tempfile.TemporaryDirectory(prefix="digit-lab-baseline-") as folder:
        root = Path(folder)
        archive = subprocess.run(["git", "archive", ref, "core", "models"], cwd=REPOSITORY, capture_output=True, check=True).stdout
        (root / "old.tar").write_bytes(archive)
        with tarfile.open(root / "old.tar") as bundle:
            bundle.extractall(root / "tree", filter="data")
        np.save(root / "frames.npy", images)
        # NOTE: a separate process, so that `import core` finds the old engine and never the current one.
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), str(root / "frames.npy")],
            cwd=root / "tree",
            env={"PYTHONPATH": str(root / "tree"), "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"},
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])


def _read_with_this_core(frames_path: str) -> None:
    """In the baseline process: read every frame with the `core` found on the path, print the numbers as JSON."""
    from core.inference import Recognizer  # the old engine: this process's path starts with its folder

    recognizer = Recognizer.load()
    print(json.dumps([recognizer.read(frame).number for frame in np.load(frames_path)]))


if __name__ == "__main__":
    _read_with_this_core(sys.argv[1])
