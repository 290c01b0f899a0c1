"""This visitor's handwriting samples (in their session only), the Draw page's correction control, and teaching jobs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from core.samples import SampleSet, SampleSetError
from core.teaching import TeachingJob, TeachingSlot
from pages.ui import models, sessions
from pages.ui.text import literal

if TYPE_CHECKING:
    from core.inference import DigitReading

DIGITS = [str(digit) for digit in range(10)]
GOAL_PER_DIGIT = 5  # guided collection: "write each digit 5 times"


def samples() -> SampleSet:
    """This session's samples: kept in its memory only, never on the server's disk, gone when the session ends."""
    return st.session_state.setdefault("hw_samples", SampleSet())


def add_sample(model_input: np.ndarray, label: int) -> bool:
    """Keep a sample and say so (or why not) at the next message; -> whether it was kept."""
    try:
        samples().add(model_input, label)
    except SampleSetError as error:
        st.session_state["hw_message"] = ("warning", str(error))
        return False
    count = samples().counts()[label]
    st.session_state["hw_message"] = ("success", f"Kept as a {label} ({count} of {label} in your samples).")
    return True


def show_message() -> None:
    message = st.session_state.pop("hw_message", None)
    if message:
        getattr(st, message[0])(literal(message[1]))


def _corrected(key: str, model_input: np.ndarray) -> None:
    chosen = st.session_state.get(key)
    if chosen is not None:
        add_sample(model_input, int(chosen))


def correction(digits: Sequence[DigitReading], version: int) -> None:
    """Under a reading: one click says what each digit really was, and the drawing joins this visitor's samples."""
    with st.container(key="draw-correct"):
        st.caption("Wrong, or right and worth keeping? Click what the digit really is: it joins your samples on **My handwriting**.")
        for index, digit in enumerate(digits[:6]):
            key = f"draw_correct_{version}_{index}"
            st.pills(
                f"Read as {digit.digit}. It is:",
                DIGITS,
                key=key,
                on_change=_corrected,
                args=(key, digit.model_input),
            )
        show_message()


@st.cache_resource
def _teaching_slot() -> TeachingSlot:
    """The server's one teaching slot, shared by every session."""
    return TeachingSlot()


def current_job() -> TeachingJob | None:
    job = st.session_state.get("hw_job")
    return job if isinstance(job, TeachingJob) else None


def start_teaching() -> TeachingJob | None:
    """Teach a personal copy of the active model on this session's samples; None while another visitor's teaching runs."""
    active = models.active_model()
    inputs, labels = samples().arrays()
    folder = sessions.session_folder()  # this visitor's model, nobody else's
    name = f"personal-{len(list(folder.glob('personal-*.keras'))) + 1}.keras"
    job = TeachingJob(active.recognizer.model, active.choice.card, inputs, labels, save_to=folder / name, seed=0)
    started = _teaching_slot().start(job)
    if started is not None:
        st.session_state["hw_job"] = started
        st.session_state["hw_recorded"] = None
    return started


def finish_teaching(job: TeachingJob) -> None:
    """Offer the personal model in the sidebar as the active model (once per job)."""
    if st.session_state.get("hw_recorded") is job:
        return
    st.session_state["hw_recorded"] = job
    if job.result is not None:
        models.add_model(f"Personal: {job.result.path.stem}", job.result.path, job.result.card)
