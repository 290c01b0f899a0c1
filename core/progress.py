"""Where a training run stands: its status and live progress, without TensorFlow (pages import this at start-up)."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field


class TrainingStatus(enum.StrEnum):
    """How a training run stands. A StrEnum, so a status prints and compares as its word ("finished")."""

    IDLE = "idle"  # created, training not begun yet (data loading, the model being built)
    RUNNING = "running"
    STOPPING = "stopping"  # Stop was pressed; the current batch ends, then the partly trained model is evaluated
    FINISHED = "finished"
    STOPPED = "stopped"
    DIVERGED = "diverged"  # the loss became NaN or exploded: no model, nothing saved
    FAILED = "failed"  # an error ended the run; the job's message says which
    ABANDONED = "abandoned"  # its visitor left (the tab closed): stopped, and the partly trained model discarded

    @property
    def ended(self) -> bool:
        """True once the run is over, whichever way it ended."""
        return self in _ENDED

    @property
    def succeeded(self) -> bool:
        """True when the run ended with a model (finished, or stopped by the user)."""
        return self in (TrainingStatus.FINISHED, TrainingStatus.STOPPED)


_ENDED = frozenset(
    {TrainingStatus.FINISHED, TrainingStatus.STOPPED, TrainingStatus.DIVERGED, TrainingStatus.FAILED, TrainingStatus.ABANDONED}
)


class TrainingAbandoned(Exception):
    """Raised inside a training whose visitor has gone, so that it ends at once and nothing of it is saved."""


class MemoryCeilingReached(Exception):
    """Raised inside a training or an evaluation when the server's memory passes its ceiling, so that it ends at
    once, frees what it holds and saves nothing: the server and its other visitors carry on."""


# The first batches of a run also trace and compile the training step (seconds each, where later batches take
# milliseconds), so the time left is measured from the batch after them, once a few more batches have run.
WARM_UP_STEPS = 3
TIMED_STEPS = 5


@dataclass
class TrainingProgress:
    """A snapshot of a run for charts and progress bars (ProgressMonitor.snapshot makes one under its lock)."""

    total_steps: int = 0
    steps_done: int = 0
    epochs: int = 0
    started: float = 0.0
    batches: list[dict[str, float]] = field(default_factory=list)  # {"epoch": 1.37, "loss": .., "accuracy": ..}
    epoch_logs: list[dict[str, float]] = field(default_factory=list)  # {"epoch": 2, "loss", "accuracy", "val_loss", ...}
    status: TrainingStatus = TrainingStatus.IDLE
    message: str = ""
    timed_steps: int = 0  # steps done when timing began (after the warm-up)
    timed_since: float = 0.0  # time.monotonic() then; 0 before

    @property
    def fraction(self) -> float:
        return self.steps_done / self.total_steps if self.total_steps else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the pace measured since the warm-up; None while that is too short to tell, and once ended."""
        measured = self.steps_done - self.timed_steps
        if not self.timed_since or measured < TIMED_STEPS or self.status.ended:
            return None
        elapsed = time.monotonic() - self.timed_since
        return elapsed / measured * (self.total_steps - self.steps_done)

    @property
    def estimating(self) -> bool:
        """True while the run goes but its time left is not measured yet: the page says "estimating…"."""
        return not self.status.ended and self.eta_seconds is None
