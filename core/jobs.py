"""A training run on a background thread for the app: live progress, Stop from any thread, the result when done."""

from __future__ import annotations

import os
import threading

from core.config import TrainConfig
from core.data import Mnist
from core.training import ProgressMonitor, TrainingProgress, TrainResult, train


class TrainingJob:
    """A training run on a background thread: `progress()` for charts, `stop()` from any thread, `result` when done."""

    def __init__(self, config: TrainConfig, data: Mnist, *, save_to: str | os.PathLike[str] | None, name: str) -> None:
        self.config = config
        self.name = name
        self.monitor = ProgressMonitor()
        self.stop_event = threading.Event()
        self.result: TrainResult | None = None
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, args=(data, save_to, name), name=f"train-{name}", daemon=True)

    def start(self) -> TrainingJob:
        self._thread.start()
        return self

    def _run(self, data: Mnist, save_to: str | os.PathLike[str] | None, name: str) -> None:
        try:
            self.result = train(self.config, data, callbacks=[self.monitor], stop_event=self.stop_event, save_to=save_to, name=name)
            self.monitor.finish(self.result.status, self.result.message)
        except Exception as error:  # reported on the page; the server and other sessions carry on
            self.error = f"Training failed: {error}"
            self.monitor.finish("failed", self.error)

    def stop(self) -> None:
        """Ask the run to stop after the current batch (idempotent: pressing Stop twice is harmless)."""
        self.stop_event.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def progress(self) -> TrainingProgress:
        return self.monitor.snapshot()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()
