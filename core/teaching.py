"""Teaching on a background thread for the app: a personal model, held-out figures and progress, one teaching per server."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.modelfile import ModelCard
from core.progress import TrainingStatus

if TYPE_CHECKING:
    import keras

    from core.personalize import PersonalizeReport, Recipe

CROSS_VALIDATION_FOLDS = 3  # each fold trains a copy as long as the personal model does: three folds, four trainings
RECIPE: Recipe | None = None  # the app's recipe; None is personalize's default (tests use a shorter one)


@dataclass(frozen=True)
class TeachingResult:
    """A finished teaching: the report (held-out figures included) and where the personal model was saved."""

    report: PersonalizeReport
    path: Path
    card: ModelCard


class TeachingJob:
    """Personalise a model on a thread: the personal model first (`result`), then cross-validation over the samples,
    which fills the report's held-out figures (the card inside the saved file does not have them).

    `fraction` and `status` are for the page's progress bar; `result` or `error` is set before `status` says ended.
    Importing this module does not import TensorFlow; starting a job does.
    """

    def __init__(
        self,
        model: keras.Model,
        card: ModelCard,
        inputs: np.ndarray,
        labels: np.ndarray,
        *,
        save_to: str | os.PathLike[str],
        seed: int = 0,
        folds: int | None = None,
        recipe: Recipe | None = None,
    ) -> None:
        self.model, self.card = model, card
        self.inputs, self.labels = inputs, labels  # (n, 28, 28) float32 model inputs, (n,) int64
        self.save_to, self.seed, self.folds, self.recipe = Path(save_to), seed, folds, recipe
        self.result: TeachingResult | None = None
        self.error: str | None = None
        self._lock = threading.Lock()
        self._done, self._total = 0, 1
        self._status = TrainingStatus.IDLE
        self._thread = threading.Thread(target=self._run, name="teach", daemon=True)

    def start(self) -> TeachingJob:
        self._thread.start()
        return self

    def _progress(self, offset: int) -> Callable[[int, int], None]:
        def report(step: int, steps: int) -> None:
            with self._lock:
                self._done = offset + step

        return report

    def _run(self) -> None:
        from core.data import load_mnist
        from core.personalize import Recipe, cross_validate, personal_card, personalize, save_personal

        recipe = self.recipe or RECIPE or Recipe()
        folds = CROSS_VALIDATION_FOLDS if self.folds is None else self.folds
        folds = folds if len(self.labels) > folds else 0
        with self._lock:
            self._status, self._total = TrainingStatus.RUNNING, recipe.steps * (folds + 1)
        try:
            mnist = load_mnist()
            personal, report = personalize(
                self.model,
                self.inputs,
                self.labels,
                recipe=recipe,
                seed=self.seed,
                mnist=mnist,
                base_card=self.card,
                prepared=True,
                on_progress=self._progress(0),
            )
            path = save_personal(personal, report, self.card, self.save_to)
            # The personal model is ready: the page makes it active now, while the held-out figures are measured.
            self.result = TeachingResult(report, path, personal_card(report, self.card, personal.count_params()))
            if folds:
                held_out = cross_validate(
                    self.model,
                    self.inputs,
                    self.labels,
                    mnist=mnist,
                    recipe=recipe,
                    seed=self.seed,
                    folds=folds,
                    on_progress=self._progress(recipe.steps),
                )
                report.held_out_before, report.held_out_after = held_out
            status = TrainingStatus.FINISHED
        except Exception as error:  # reported on the page in one sentence; the server and other sessions carry on
            self.error = f"Teaching failed: {str(error).rstrip('.')}."
            status = TrainingStatus.FAILED
        with self._lock:
            self._status = status

    @property
    def status(self) -> TrainingStatus:
        with self._lock:
            return self._status

    @property
    def busy(self) -> bool:
        return not self.status.ended

    @property
    def fraction(self) -> float:
        with self._lock:
            return min(1.0, self._done / self._total)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()


class TeachingSlot:
    """One teaching at a time for a whole server (it trains for seconds, on the same cores as everyone's drawing).

    Separate from TrainingSlot: a teaching may run beside one full training, never a second full training.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job: TeachingJob | None = None

    def start(self, job: TeachingJob) -> TeachingJob | None:
        """Start `job`, or return None while another session's teaching is still running."""
        with self._lock:
            if self._job is not None and self._job.running:
                return None
            self._job = job.start()
            return job
