"""Train: every hyperparameter, live loss and accuracy charts, Stop at any moment, and a comparison of runs."""

from pages.ui.routing import ensure_app_navigation

# First, before the heavy imports below: on a fresh server's first direct visit this reruns through app.py.
ensure_app_navigation()

import streamlit as st

from core.architecture import problem
from core.config import TrainConfig
from core.data import REMEDY, DatasetError, mnist_available
from pages.ui import charts, controls, quotas
from pages.ui.links import read_link, write_link
from pages.ui.text import literal
from pages.ui.training import (
    RunRecord,
    augmentation_preview,
    busy_message,
    current_job,
    finish_job,
    is_recorded,
    progress_label,
    start_job,
    use_trained_model,
)

QUICK = {"epochs": 2, "train_size": 6000, "batch_size": 128}
CURVES_NOTE = (
    "Thin line: the latest batches; dots: whole epochs. Validation may score better than training, because dropout "
    "and augmentation make training harder and are switched off when validating."
)
PARTIAL_NOTE = "It is only partly trained, so the active model has not changed; it waits in the sidebar's list."


st.title("Train")
st.caption("Choose the network and how to train it, then watch it learn. Models you train appear in the sidebar.")
if not mnist_available():
    st.info(f"Training needs the MNIST images. {REMEDY}", icon=":material/dataset:")
    st.stop()

job = current_job()
busy = job is not None and job.busy
runs: list[RunRecord] = st.session_state.setdefault("train_runs", [])

st.button("Quick demo settings (2 epochs on 6,000 images)", on_click=controls.apply_preset, args=(QUICK,), disabled=busy, key="train_quick")
read_link()  # a link a teacher sent sets the controls
link_notes = st.container()  # what the link carried that could not be used, said once the controls are drawn
config = controls.config_controls(TrainConfig(), disabled=busy)
for link_problem in write_link(config):
    link_notes.warning(link_problem, icon=":material/link_off:")
refused = problem(config)  # a network that cannot be built is refused here, before training

name = st.text_input("Model name", "my_cnn", max_chars=40, key="train_name", disabled=busy)
buttons = st.container(horizontal=True)  # each button as wide as its label: a narrow column cut "Start training" short
if buttons.button("Start training", type="primary", icon=":material/play_arrow:", disabled=busy or refused is not None, key="train_start"):
    refusal = quotas.training_refusal(config)  # too many runs, or not enough memory: one sentence
    if refusal is not None:
        st.warning(refusal)
    elif start_job(config, name) is None:
        st.warning(busy_message())
    else:
        st.rerun()  # the controls and Start above were drawn enabled; redraw them disabled while the run goes
if buttons.button("Stop", icon=":material/stop:", disabled=not busy, key="train_stop") and job is not None:
    job.stop()
if refused is not None:
    st.warning(f"{refused} (Network tab)", icon=":material/block:")


@st.fragment(run_every=0.5 if busy else None)
def live_progress() -> None:
    current = current_job()
    if current is None:
        return
    progress, status = current.progress(), current.status
    st.progress(min(progress.fraction, 1.0), text=progress_label(progress, status))
    with st.container(key="train-chart"):
        curves = charts.training_curves([(current.name, progress.batches, progress.epoch_logs)], planned_epochs=current.config.epochs)
        st.plotly_chart(curves, key="train_live_chart")
        st.caption(CURVES_NOTE)
    if status.ended and not is_recorded(current):
        finish_job(current)
        st.rerun(scope="app")


live_progress()
if job is not None and is_recorded(job):
    outcome = job.result
    if not job.status.succeeded:
        st.error(literal(job.message))
    elif outcome is not None:
        if outcome.card.partial:
            with st.container(key="train-partial"):
                st.warning(f"{literal(job.message)} {PARTIAL_NOTE}")
                st.button("Use this partly trained model", on_click=use_trained_model, key="train_use_partial")
        else:
            st.success(literal(job.message))
        if outcome.path is not None:
            st.download_button(
                "Download the model (.keras, card included)", outcome.path.read_bytes(), file_name=outcome.path.name, key="train_download"
            )

if runs:
    st.subheader("Compare runs")
    st.plotly_chart(charts.training_curves([run.curves() for run in runs]), key="train_compare_chart")
    st.dataframe([run.row() for run in runs], hide_index=True)

with st.expander("What augmentation does to the training images"):
    try:
        grid = augmentation_preview(config)  # (8, 6, 28, 28)
        st.image(
            charts.pixels(charts.tile(grid), 3),
            caption="Left column: originals; then random augmentations with the current settings.",
            clamp=True,
        )
    except DatasetError as error:
        st.error(str(error))
