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
from core.progress import TrainingStatus
from pages.ui import models, sessions


@dataclass
class RunRecord:
    """One finished run of this session: its config, curves and results."""

    label: str
    config: TrainConfig
    epochs: list[dict[str, float]] = field(default_factory=list)
    status: TrainingStatus = TrainingStatus.IDLE
    val_accuracy: float | None = None
    test_accuracy: float | None = None

    def row(self) -> dict[str, Any]:
        defaults = TrainConfig().to_dict()
        changed = {key: value for key, value in self.config.to_dict().items() if value != defaults[key]}
        return {
            "run": self.label,
            "status": self.status.value,
            "validation accuracy": f"{self.val_accuracy:.2%}" if self.val_accuracy is not None else "",
            "test accuracy": f"{self.test_accuracy:.2%}" if self.test_accuracy is not None else "",
            "epochs": len(self.epochs),
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
    job = _training_slot().start(config, save_to=save_to, name=name)
    if job is not None:
        st.session_state["train_job"] = job
    return job


def is_recorded(job: TrainingJob) -> bool:
    return st.session_state.get("train_recorded") is job


def finish_job(job: TrainingJob) -> None:
    """Keep the run for comparison and offer its model in the sidebar (as the active model)."""
    st.session_state["train_recorded"] = job
    runs: list[RunRecord] = st.session_state.setdefault("train_runs", [])
    result = job.result
    progress = job.progress()
    record = RunRecord(f"{job.name} #{len(runs) + 1}", job.config, progress.epoch_logs, job.status)
    if result is not None and result.model is not None:
        record.val_accuracy = result.card.metrics.get("val_accuracy")
        record.test_accuracy = result.card.metrics.get("test_accuracy")
        if result.path is not None:
            models.add_model(f"Trained: {record.label}", result.path, result.card)
    runs.append(record)
