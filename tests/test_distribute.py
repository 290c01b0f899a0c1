"""Training past one machine: tf.distribute strategies through the same `train` function, on this CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from resources import REPO, free_port


def _train_command(output: str) -> list[str]:
    return [
        sys.executable, "-m", "core", "train", "--distribution", "multi_worker", "--epochs", "1", "--train-size", "2000",
        "--batch-size", "64", "--augment-share", "0", "--output", output,
    ]  # fmt: skip


@pytest.mark.slow
class TestMultiWorkerTraining:
    def test_two_workers_train_in_step_and_only_the_chief_saves(self, mnist, tmp_path):
        ports = [free_port(), free_port()]
        cluster = {"worker": [f"localhost:{port}" for port in ports]}
        workers = []
        for index in (0, 1):
            environment = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
            command = _train_command(str(tmp_path / f"worker{index}.keras"))
            workers.append(subprocess.Popen(command, cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        outputs = [worker.communicate(timeout=600) for worker in workers]

        for worker, (_, stderr) in zip(workers, outputs, strict=True):
            assert worker.returncode == 0, stderr[-2000:]
        # One synchronised model: both workers end with the same test accuracy, printed in their messages.
        finished = [next(line for line in stdout.splitlines() if line.startswith("Finished")) for stdout, _ in outputs]
        assert finished[0].split(";")[0] == finished[1].split(";")[0]
        assert (tmp_path / "worker0.keras").exists()
        assert not (tmp_path / "worker1.keras").exists()
        assert "Worker 0 saves the model" in outputs[1][0]
