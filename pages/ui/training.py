"""Training jobs of this server (one at a time) and the runs of this session, kept for comparison."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import streamlit as st

from core.config import TrainConfig
from core.data import load_mnist
from core.jobs import TrainingJob, TrainingSlot
from core.modelfile import unique_model_path
from core.progress import TrainingProgress, TrainingStatus
from core.wording import duration
from pages.ui import models, sessions


@dataclass
class RunRecord:
    """One ended run of this session: its config, curves and results."""

    label: str
    config: TrainConfig
    epochs: list[dict[str, float]] = field(default_factory=list)
    status: TrainingStatus = TrainingStatus.IDLE
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    batches: list[dict[str, float]] = field(default_factory=list)  # charted only when no whole epoch ran

    @property
    def chart_name(self) -> str:
        """The run's name in Compare runs, with how it ended unless it finished ("my_cnn #2 (diverged)")."""
        return self.label if self.status is TrainingStatus.FINISHED else f"{self.label} ({self.status.value})"

    def curves(self) -> tuple[str, list[dict[str, float]], list[dict[str, float]]]:
        """(name, batches, epochs) for charts.training_curves: the epochs, or the batches of a run stopped in its first."""
        return self.chart_name, [] if self.epochs else self.batches, self.epochs

    def row(self) -> dict[str, Any]:
        defaults = TrainConfig().to_dict()
        changed = {key: value for key, value in self.config.to_dict().items() if value != defaults[key]}
        return {
            "run": self.label,
            "status": self.status.value,
            "validation accuracy": f"{self.val_accuracy:.2%}" if self.val_accuracy is not None else "",
            "test accuracy": f"{self.test_accuracy:.2%}" if self.test_accuracy is not None else "",
            "epochs": f"{len(self.epochs)} of {self.config.epochs}",
            "changed from defaults": ", ".join(f"{key}={value}" for key, value in changed.items()) or "none",
        }


# NOTE: cached because the expander holding the preview runs on every rerun of Train, even closed, and the preview
# runs the Keras augmentation layers; it changes only with the settings.
@st.cache_data(max_entries=8, show_spinner=False)
def _augmentation_preview(settings: dict[str, Any]) -> np.ndarray:
    from core.augment import augmentation_preview

    return augmentation_preview(TrainConfig.from_dict(settings), load_mnist().x_train[:8], copies=5)


def augmentation_preview(config: TrainConfig) -> np.ndarray:
    """Eight MNIST training images and five random augmentations of each.  -> (8, 6, 28, 28) float32."""
    return _augmentation_preview(config.to_dict())


@st.cache_resource
def _training_slot() -> TrainingSlot:
    """The server's one training slot, shared by every session."""
    return TrainingSlot()


def current_job() -> TrainingJob | None:
    """This session's latest training job, running or ended; None before its first Start."""
    job = st.session_state.get("train_job")
    return job if isinstance(job, TrainingJob) else None


def start_job(config: TrainConfig, name: str) -> TrainingJob | None:
    """Start a run on a background thread as this session's job, or return None while another session's run goes."""
    save_to = sessions.session_folder() / unique_model_path(name).name  # this visitor's model, nobody else's
    job = _training_slot().start(config, save_to=save_to, name=name, owner_alive=sessions.owner_alive())  # ends if the tab closes
    if job is not None:
        st.session_state["train_job"] = job
    return job


def busy_message() -> str:
    """Why Start was refused, with the time the other visitor's run has left as measured, not guessed."""
    other = _training_slot().job
    refusal = "Another visitor is training a model right now, and this server trains one model at a time."
    if other is None or not other.running:
        return f"{refusal} It has just ended: press Start again."
    eta = other.progress().eta_seconds
    if other.status is TrainingStatus.STOPPING:
        return f"{refusal} It is stopping: try again in a few seconds."
    if eta is None:
        return f"{refusal} It has just started, so its time left is not measured yet: try again in a minute."
    return f"{refusal} It has {duration(eta)} left: try again then."


def progress_label(progress: TrainingProgress, status: TrainingStatus) -> str:
    """ "120/3,360 batches, about 4 minutes left", with "estimating…" until enough batches have been timed."""
    if status is TrainingStatus.STOPPING:
        return "Stopping…"
    if not progress.total_steps:
        return "Preparing the images and the network…"
    done = f"{progress.steps_done:,}/{progress.total_steps:,} batches"
    eta = progress.eta_seconds  # None once the run has ended: a stopped run has nothing left to wait for
    if eta is not None:
        return f"{done}, {duration(eta)} left"
    return f"{done}, estimating the time left…" if progress.estimating else done


def is_recorded(job: TrainingJob) -> bool:
    return st.session_state.get("train_recorded") is job


def finish_job(job: TrainingJob) -> None:
    """Keep the run for comparison and offer its model in the sidebar: as the active model only if it was trained fully."""
    st.session_state["train_recorded"] = job
    runs: list[RunRecord] = st.session_state.setdefault("train_runs", [])
    result = job.result
    progress = job.progress()
    record = RunRecord(f"{job.name} #{len(runs) + 1}", job.config, progress.epoch_logs, job.status, batches=progress.batches)
    if result is not None and result.model is not None:
        record.val_accuracy = result.card.metrics.get("val_accuracy")
        record.test_accuracy = result.card.metrics.get("test_accuracy")
        if result.path is not None:
            partial = result.card.partial
            label = f"Trained: {record.label}" + (" (partial)" if partial else "")
            st.session_state["train_model_label"] = models.add_model(label, result.path, result.card, make_active=not partial)
    runs.append(record)


def use_trained_model() -> None:
    """Make the latest run's model the active one (the button offered for a partly trained model)."""
    models.activate(st.session_state.get("train_model_label", ""))
