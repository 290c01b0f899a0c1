"""Evaluations of models on the MNIST test set, computed once per model and size and shared by sessions."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import streamlit as st

from core.data import load_mnist
from pages.ui import models, quotas

if TYPE_CHECKING:
    from core.evaluate import Evaluation


def evaluation_for(choice: models.ModelChoice, count: int) -> Evaluation:
    """Evaluate on the first `count` test images with a progress bar, or reuse the stored result."""
    try:
        return _evaluation(*models.model_key(choice), count, choice)
    except quotas.Refused as refusal:  # too many evaluations from this session, or the memory is not there
        st.warning(str(refusal))
        st.stop()


# NOTE: the progress bar is made inside the cached function. Streamlit replays what a cached function drew on every
# hit (here a bar already emptied), and refuses (CacheReplayClosureError) one that drew in an element made outside
# it. A refusal is raised, not returned: Streamlit caches no exception, so the next try computes again.
@st.cache_resource(max_entries=8, show_spinner=False)
def _evaluation(path: str, modified: float, count: int, _choice: models.ModelChoice) -> Evaluation:
    from core.evaluate import evaluate_model
    from core.progress import MemoryCeilingReached
    from core.watchdog import StopAtMemoryCeiling

    model = models.loaded(_choice).recognizer.model
    refusal = quotas.evaluation_refusal(model, count)
    if refusal is not None:
        raise quotas.Refused(refusal)
    data = load_mnist()
    try:
        with progress_bar(f"Evaluating {_choice.label} on {count:,} test images…", f"Evaluating {_choice.label}…") as on_progress:
            return evaluate_model(
                model,
                data.x_test[:count],
                data.y_test[:count],
                on_progress=on_progress,
                guard=StopAtMemoryCeiling(StopAtMemoryCeiling.EVALUATION),  # the server's memory passing its ceiling meanwhile
            )
    except MemoryCeilingReached as reached:
        raise quotas.Refused(str(reached)) from None


@contextlib.contextmanager
def progress_bar(starting: str, running: str) -> Iterator[Callable[[float], object]]:
    """A progress bar for work on the test set inside a cached function, emptied however the work ends. Yields the
    work's `on_progress` (a fraction done, 0..1), shown after `running`."""
    bar = st.progress(0.0, text=starting)
    try:
        yield lambda fraction: bar.progress(min(fraction, 1.0), text=f"{running} {fraction:.0%}")
    finally:
        bar.empty()
