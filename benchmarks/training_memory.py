"""A training's peak memory measured in a fresh process, beside core.limits' estimate of it.

    MNIST_PATH=../shared/data/mnist.npz python -m benchmarks.training_memory '{"train_size": 6000}' '{"batch_size": 512}'

Each argument is a JSON object of TrainConfig fields (over `epochs=1`); each runs in its own process, which reports
its resident memory after TensorFlow and MNIST are loaded, its peak (VmHWM) once the training and its card are done,
and the estimate. The growth is what the estimate stands for.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from benchmarks.children import run_child


def measure(overrides: dict[str, Any]) -> dict[str, Any]:
    """Train once with `overrides` in a fresh process; -> its memory before, its peak and the estimate (bytes)."""
    return run_child("training_estimate", {"overrides": overrides}, timeout=1800)


def main() -> None:
    for argument in sys.argv[1:]:
        report = measure(json.loads(argument))
        growth = report["peak"] - report["before"]
        mb = 2**20
        print(
            f"{argument}: before {report['before'] / mb:.0f} MB, peak {report['peak'] / mb:.0f} MB, "
            f"growth {growth / mb:.0f} MB, estimate {report['estimate'] / mb:.0f} MB "
            f"({', '.join(f'{name} {size / mb:.0f}' for name, size in report['parts'].items())})",
            flush=True,
        )


if __name__ == "__main__":
    main()
