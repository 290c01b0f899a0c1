"""Keras callbacks that end a run between batches, saving nothing: its visitor has gone, or memory passed its ceiling."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import keras

from core import limits
from core.progress import MemoryCeilingReached, TrainingAbandoned

# A dropped connection that comes back within this keeps its training (a reload, a phone waking up).
ABSENCE_SECONDS = 10.0
CHECK_SECONDS = 2.0  # how often, at most, the owner is asked after (a lock in Streamlit's runtime) or memory read (a system call)


class _CheckedBetweenBatches(keras.callbacks.Callback):
    """A callback whose `check` runs when a run and each of its batches begin (training, validation, prediction):
    Keras always calls these hooks on the run's own thread, so what `check` raises ends the run there."""

    async_safe = True

    def check(self) -> None:
        raise NotImplementedError

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.check()

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.check()

    def on_test_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.check()

    def on_predict_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.check()


class AbandonWhenOwnerGone(_CheckedBetweenBatches):
    """Raise TrainingAbandoned once `owner_alive()` has answered False for ABSENCE_SECONDS, between batches.

    NOTE: raising (not `stop_training`) skips what `train` does after fit: evaluating and calibrating the partly
    trained model and saving it. The check runs when a batch begins, which Keras always calls on the training thread:
    its batch-end hooks run on a callback thread whose queue, with small batches on a busy machine, falls minutes
    behind the training.
    """

    def __init__(self, owner_alive: Callable[[], bool], absence: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.owner_alive, self.clock = owner_alive, clock
        self.absence = ABSENCE_SECONDS if absence is None else absence
        self._checked = float("-inf")
        self._gone_since: float | None = None

    def check(self) -> None:
        """Raise TrainingAbandoned if the owner has been gone long enough (asks at most every CHECK_SECONDS)."""
        now = self.clock()
        if now - self._checked < min(CHECK_SECONDS, self.absence):
            return
        self._checked = now
        if self.owner_alive():
            self._gone_since = None
        elif self._gone_since is None:
            self._gone_since = now
        if self._gone_since is not None and now - self._gone_since >= self.absence:
            raise TrainingAbandoned("The visitor who started this training left, so it was stopped and its model discarded.")


class StopAtMemoryCeiling(_CheckedBetweenBatches):
    """Raise MemoryCeilingReached, between batches, once the process's memory passes the server's ceiling; `work`
    ends the sentence that says so (TRAINING or EVALUATION).

    A training or an Evaluate is refused before it starts when its estimate would not fit (core.limits); this
    catches what an estimate cannot foresee while it runs: other visitors' work growing beside it, or an estimate
    that was wrong. `rss` and `ceiling` are read at most every CHECK_SECONDS (reading /proc costs a system call).
    Resident memory seldom shrinks once TensorFlow has freed it: after the server passed its ceiling, the checks
    before a run usually refuse it first, and one that gets through is stopped at its first check.
    """

    TRAINING = "training, so it was stopped and its model discarded; try again when fewer people are training, or lower the batch size or the network's size."
    EVALUATION = "evaluation, so it was stopped; try again in a few minutes, or use fewer test images."

    def __init__(
        self,
        work: str = TRAINING,
        rss: Callable[[], int] = limits.process_rss,
        ceiling: Callable[[], int] = limits.ceiling_bytes,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.work, self.rss, self.ceiling, self.clock = work, rss, ceiling, clock
        self._checked = float("-inf")

    def check(self) -> None:
        now = self.clock()
        if now - self._checked < CHECK_SECONDS:
            return
        self._checked = now
        ceiling = self.ceiling()
        if self.rss() > ceiling:
            raise MemoryCeilingReached(
                f"The server's memory passed its ceiling of {ceiling // limits.MB} MB ({limits.CEILING_ENV}) during this {self.work}"
            )
