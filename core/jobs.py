"""A training run on a background thread for the app: live progress, Stop from any thread, the result when done."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from core.config import TrainConfig
from core.data import DatasetError, Mnist
from core.progress import MemoryCeilingReached, TrainingAbandoned, TrainingProgress, TrainingStatus

if TYPE_CHECKING:
    from core.training import ProgressMonitor, TrainResult

logger = logging.getLogger(__name__)


class TrainingJob:
    """A training run on a background thread: `status` and `progress()` for the page, `stop()` from any thread.

    Importing this module does not import TensorFlow; starting a job does. `data` defaults to `load_mnist()`,
    loaded on the job's thread so that the page never waits for it. With `owner_alive` (is the visitor who started
    it still there?), a run whose owner has gone for core.watchdog.ABSENCE_SECONDS ends as ABANDONED, unsaved. A run
    during which the process's memory passes core.limits' ceiling ends as FAILED, unsaved, with a sentence saying so.
    """

    def __init__(
        self,
        config: TrainConfig,
        data: Mnist | None = None,
        *,
        save_to: str | os.PathLike[str] | None,
        name: str,
        owner_alive: Callable[[], bool] | None = None,
    ) -> None:
        from core.training import ProgressMonitor  # TensorFlow loads when someone first trains
        from core.watchdog import AbandonWhenOwnerGone, StopAtMemoryCeiling

        self.config = config
        self.name = name
        self.monitor: ProgressMonitor = ProgressMonitor()
        self._callbacks = [self.monitor, StopAtMemoryCeiling()] + ([AbandonWhenOwnerGone(owner_alive)] if owner_alive is not None else [])
        self.stop_event = threading.Event()
        self.result: TrainResult | None = None
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, args=(data, save_to, name), name=f"train-{name}", daemon=True)

    def start(self) -> TrainingJob:
        self._thread.start()
        return self

    def _run(self, data: Mnist | None, save_to: str | os.PathLike[str] | None, name: str) -> None:
        from core.training import train

        # NOTE: the result is stored before the monitor says the run ended, so that whoever sees an ended status
        # (the page's progress fragment) also sees the result or the error.
        try:
            self.result = train(self.config, data, callbacks=self._callbacks, stop_event=self.stop_event, save_to=save_to, name=name)
            self.monitor.finish(self.result.status, self.result.message)
        except TrainingAbandoned as abandoned:  # raised before anything was saved: nothing to remove
            self.error = str(abandoned)
            self.monitor.finish(TrainingStatus.ABANDONED, self.error)
            logger.warning("Training %r stopped after %d batches: its visitor left; nothing was saved.", name, self.progress().steps_done)
        except MemoryCeilingReached as reached:  # raised before anything was saved: nothing to remove
            self.error = str(reached)
            self.monitor.finish(TrainingStatus.FAILED, self.error)
            logger.warning(
                "Training %r stopped after %d batches: the server's memory passed its ceiling.", name, self.progress().steps_done
            )
        except DatasetError as error:  # already one sentence that says what to do
            self.error = str(error)
            self.monitor.finish(TrainingStatus.FAILED, self.error)
        except Exception as error:  # reported on the page; the server and other sessions carry on
            self.error = f"Training failed: {error}"
            self.monitor.finish(TrainingStatus.FAILED, self.error)

    def stop(self) -> None:
        """Ask the run to stop after the current batch (idempotent: pressing Stop twice is harmless)."""
        self.stop_event.set()

    @property
    def status(self) -> TrainingStatus:
        """RUNNING (or STOPPING once Stop is pressed) until the run ends; then how it ended."""
        ended = self.monitor.snapshot().status
        if ended.ended:
            return ended
        return TrainingStatus.STOPPING if self.stop_event.is_set() else TrainingStatus.RUNNING

    @property
    def busy(self) -> bool:
        """True until the run has ended and its result or error is in place: the page's controls stay disabled."""
        return not self.status.ended

    @property
    def message(self) -> str:
        """One sentence on how the run ended ("" while it runs): the result's summary, or what went wrong."""
        progress = self.monitor.snapshot()
        return progress.message if progress.status.ended else ""

    @property
    def running(self) -> bool:
        """True while the thread is alive (it holds the data and the model in memory)."""
        return self._thread.is_alive()

    def progress(self) -> TrainingProgress:
        return self.monitor.snapshot()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()


class TrainingSlot:
    """One training job at a time for a whole server: training is memory-hungry, and sessions share the machine."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job: TrainingJob | None = None

    @property
    def job(self) -> TrainingJob | None:
        """The latest job started here, running or ended (a refused visitor is told how long it has left)."""
        with self._lock:
            return self._job

    def start(
        self, config: TrainConfig, *, save_to: str | os.PathLike[str], name: str, owner_alive: Callable[[], bool] | None = None
    ) -> TrainingJob | None:
        """Start a job on MNIST, or return None while another job's thread is still alive."""
        with self._lock:
            if self._job is not None and self._job.running:
                return None
            self._job = TrainingJob(config, save_to=save_to, name=name, owner_alive=owner_alive).start()
            return self._job
