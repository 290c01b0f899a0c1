"""Evaluations of models on the MNIST test set, computed once per model and size and shared by sessions."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

import streamlit as st

from core.data import load_mnist
from pages.ui import models, quotas

if TYPE_CHECKING:
    from core.evaluate import Evaluation


# NOTE: not st.cache_resource on the evaluation itself: its progress bar is drawn from inside the computation, and
# Streamlit refuses (CacheReplayClosureError) a cached function that writes to an element created outside it.
@st.cache_resource
def _store() -> tuple[threading.Lock, OrderedDict]:
    return threading.Lock(), OrderedDict()


def evaluation_for(choice: models.ModelChoice, count: int) -> Evaluation:
    """Evaluate on the first `count` test images with a progress bar, or reuse the stored result."""
    from core.evaluate import evaluate_model

    key = (*models.model_key(choice), count)
    lock, store = _store()
    with lock:
        if key in store:
            return store[key]
    refusal = quotas.evaluation_refusal(models.loaded(choice).recognizer.model, count)
    if refusal is not None:  # too many evaluations from this session, or the memory is not there
        st.warning(refusal)
        st.stop()
    data = load_mnist()
    bar = st.progress(0.0, text=f"Evaluating {choice.label} on {count:,} test images…")
    evaluation = evaluate_model(
        models.loaded(choice).recognizer.model,
        data.x_test[:count],
        data.y_test[:count],
        on_progress=lambda fraction: bar.progress(min(fraction, 1.0), text=f"Evaluating {choice.label}… {fraction:.0%}"),
    )
    bar.empty()
    with lock:
        store[key] = evaluation
        while len(store) > 8:
            store.popitem(last=False)
    return evaluation
