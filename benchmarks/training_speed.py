"""Training speed: a bare model.fit against the app's training loop (its callbacks) on the same model and tf.data pipeline."""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.plan import Plan, milliseconds

# --- Training: bare model.fit vs the app's training loop ------------------------------------------------------------


def _epoch_timer() -> Any:
    """A Keras callback recording wall and CPU seconds of each epoch (`.wall`, `.cpu`).

    Epoch hooks only, and async_safe: Keras keeps dispatching batch hooks asynchronously, as in a bare fit.
    """
    import keras

    class EpochTimer(keras.callbacks.Callback):
        async_safe = True

        def __init__(self) -> None:
            super().__init__()
            self.wall: list[float] = []
            self.cpu: list[float] = []
            self._began = (0.0, 0.0)

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._began = (time.perf_counter(), _cpu_seconds())

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.wall.append(time.perf_counter() - self._began[0])
            self.cpu.append(_cpu_seconds() - self._began[1])

    return EpochTimer()


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def app_callbacks() -> list[Any]:
    """The callbacks core.training.train runs for the Train page: divergence guard, Stop button, live chart monitor."""
    from core.training import ProgressMonitor, StopOnDivergence, StopOnEvent

    return [StopOnDivergence(), StopOnEvent(threading.Event()), ProgressMonitor()]


@dataclass
class TrainingPair:
    """Two models built alike by compiled_model, and the app's training pipeline (make_splits, make_datasets)."""

    bare: Any  # keras.Model trained by a bare model.fit
    app: Any  # keras.Model trained with the app's callbacks
    dataset: Any  # tf.data.Dataset of augmented (B, 28, 28, 1) float32 batches


def training(pair: TrainingPair, plan: Plan) -> dict[str, Any]:
    """Seconds per step of a bare model.fit vs the app's fit (its callbacks), same model config and tf.data pipeline."""
    timings: dict[str, list[float]] = {"bare": [], "app": []}
    cpu: dict[str, list[float]] = {"bare": [], "app": []}
    paired, chart_points, chart_seconds = [], 0, 0.0
    for round_index in range(plan.train_rounds):
        round_best = {}
        for side in ("bare", "app") if round_index % 2 == 0 else ("app", "bare"):
            callbacks = app_callbacks() if side == "app" else []
            began = time.perf_counter()
            wall, cpu_seconds = _timed_fit(pair.bare if side == "bare" else pair.app, pair.dataset, callbacks, plan.train_epochs, plan)
            timings[side] += wall
            cpu[side] += cpu_seconds
            # The fastest epoch of each fit: a shared machine's noise only ever adds time (as timeit takes the min).
            round_best[side] = min(wall)
            if side == "app":
                chart_points += len(callbacks[-1].snapshot().batches)
                chart_seconds += time.perf_counter() - began
        # Each round's two fits ran minutes apart at most: their ratio cancels slow changes in the machine's load.
        paired.append(round_best["app"] / round_best["bare"])
    pipeline = _pipeline_seconds_per_batch(pair.dataset, plan.train_steps * 2)
    bare_cpu, app_cpu = float(np.median(cpu["bare"])), float(np.median(cpu["app"]))
    return {
        "train_size": plan.train_size,
        "steps_timed": plan.train_steps * plan.train_epochs * plan.train_rounds,
        "bare_ms_per_step": milliseconds(timings["bare"]),
        "app_ms_per_step": milliseconds(timings["app"]),
        "overhead": round(float(np.median(paired)) - 1, 4),
        "overhead_per_round": [round(ratio - 1, 4) for ratio in paired],
        "bare_cpu_ms_per_step": round(bare_cpu * 1000, 2),
        "app_cpu_ms_per_step": round(app_cpu * 1000, 2),
        "cpu_overhead": round(app_cpu / bare_cpu - 1, 4),
        "cpu_busy_cores": round(app_cpu / float(np.median(timings["app"])), 2),
        "pipeline_ms_per_batch": round(pipeline * 1000, 2),
        "chart_points_per_second": round(chart_points / max(chart_seconds, 1e-9), 2),
    }


def training_pair(data: Any, plan: Plan) -> TrainingPair:
    """The Train page's default config on `plan.train_size` images; both models' train steps traced already."""
    import keras

    from core.config import TrainConfig
    from core.training import compiled_model, make_datasets, make_splits

    config = TrainConfig(train_size=plan.train_size)  # every other setting is the Train page's default
    keras.utils.set_random_seed(config.seed)
    splits = make_splits(config, data)
    dataset, _ = make_datasets(config, splits)
    steps_per_epoch = math.ceil(len(splits.x_train) / config.batch_size)
    needed = plan.train_steps * (plan.train_epochs + 1)
    if needed > steps_per_epoch:
        raise ValueError(f"The bench plan needs {needed} batches per fit but the pipeline yields {steps_per_epoch}.")
    bare, app = compiled_model(config, steps_per_epoch), compiled_model(config, steps_per_epoch)
    for model, callbacks in ((bare, []), (app, app_callbacks())):
        model.fit(dataset, epochs=1, steps_per_epoch=2, callbacks=callbacks, verbose=0)  # traces the train step
    return TrainingPair(bare, app, dataset)


def _timed_fit(model: Any, dataset: Any, callbacks: list[Any], epochs: int, plan: Plan) -> tuple[list[float], list[float]]:
    """One fit() of 1 + `epochs` short epochs; the first (iterator start-up, shuffle buffer) is not counted.

    -> seconds per step and CPU seconds per step of each counted epoch.
    """
    timer = _epoch_timer()
    model.fit(dataset, epochs=epochs + 1, steps_per_epoch=plan.train_steps, callbacks=[*callbacks, timer], verbose=0)
    steps = plan.train_steps
    return [wall / steps for wall in timer.wall[1:]], [cpu / steps for cpu in timer.cpu[1:]]


def _pipeline_seconds_per_batch(dataset: Any, batches: int) -> float:
    """How fast the input pipeline alone delivers batches (after the first): compare with seconds per training step."""
    iterator = iter(dataset)
    next(iterator)
    began = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return (time.perf_counter() - began) / batches
