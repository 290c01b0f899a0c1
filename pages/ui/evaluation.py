"""Evaluations of models on the MNIST test set, computed once per model and size and shared by sessions."""

from __future__ import annotations

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
    bar = st.progress(0.0, text=f"Evaluating {_choice.label} on {count:,} test images…")
    try:
        evaluation = evaluate_model(
            model,
            data.x_test[:count],
            data.y_test[:count],
            on_progress=lambda fraction: bar.progress(min(fraction, 1.0), text=f"Evaluating {_choice.label}… {fraction:.0%}"),
            guard=StopAtMemoryCeiling(StopAtMemoryCeiling.EVALUATION),  # the server's memory passing its ceiling meanwhile
        )
    except MemoryCeilingReached as reached:
        raise quotas.Refused(str(reached)) from None
    finally:
        bar.empty()
    return evaluation
