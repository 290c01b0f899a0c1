"""Evaluate: accuracy on the MNIST test set, confusion matrix, per-class scores, mistakes, two models compared, the learned space."""

from pages.ui.routing import ensure_app_navigation

# First, before the heavy imports below: on a fresh server's first direct visit this reruns through app.py.
ensure_app_navigation()

import numpy as np
import streamlit as st

from core.data import REMEDY, DatasetError, load_mnist, mnist_available
from pages.ui import charts, embedding, models
from pages.ui.evaluation import evaluation_for
from pages.ui.text import literal

SIZES = [500, 1000, 2000, 5000, 10000]
SCORES = {
    "precision": "Of the images the model read as this digit, the share that really were it.",
    "recall": "Of the images of this digit, the share the model read right.",
    "f1": "Precision and recall in one number (their harmonic mean): high only when both are.",
}
SCORES_NOTE = (
    "**Precision**: when the model says 7, how often it is a 7. **Recall**: of all the 7s, how many it finds. "
    "**F1** balances the two. **Support**: how many test images show the digit."
)

st.title("Evaluate")
if not mnist_available():
    st.info(f"Evaluation needs the MNIST test images. {REMEDY}", icon=":material/dataset:")
    st.stop()

choice = models.active()
count = st.select_slider("Test images", SIZES, value=10000, key="eval_count", help="The first N of the 10,000 MNIST test images.")
try:
    data = load_mnist()
    evaluation = evaluation_for(choice, count)
except DatasetError as error:
    st.error(literal(str(error)))
    st.stop()


def gallery(indices: np.ndarray, captions: list[str]) -> None:
    """MNIST test images, eight to a row, each with its caption (not Plotly facets: see the NOTE above charts.tile)."""
    columns = st.columns(8)
    for position, (index, caption) in enumerate(zip(indices, captions, strict=True)):
        columns[position % 8].image(charts.pixels(data.x_test[index] / 255.0, 3), caption=caption, clamp=True)


with st.container(key="eval-metrics", horizontal=True):
    st.metric("Accuracy", f"{evaluation.accuracy:.2%}")
    st.metric("Loss", f"{evaluation.loss:.4f}")
    st.metric("Test images", f"{evaluation.n:,}")
    st.metric("Mistakes", f"{len(evaluation.misclassified):,}")

matrix_tab, classes_tab, mistakes_tab, confidence_tab, compare_tab = st.tabs(
    ["Confusion matrix", "Per digit", "Mistakes", "Confidence", "Compare models"]
)
with matrix_tab:
    st.plotly_chart(charts.confusion(evaluation.confusion), key="eval_confusion")
with classes_tab:
    st.caption(SCORES_NOTE)
    st.dataframe(
        [{**row, **{name: row[name] * 100 for name in SCORES}} for row in evaluation.per_class()],
        hide_index=True,
        column_config={name: st.column_config.NumberColumn(name, help=text, format="%.2f%%") for name, text in SCORES.items()},
    )
with mistakes_tab:
    digit = st.selectbox("True digit", ["all", *range(10)], key="eval_mistake_digit")
    wrong = evaluation.misclassified
    if digit != "all":
        wrong = wrong[evaluation.labels[wrong] == digit]
    st.caption(f"{len(wrong)} mistakes, most confident first (showing up to 48).")
    gallery(
        wrong[:48],
        [f"true {evaluation.labels[i]}, read {evaluation.predictions[i]} ({evaluation.confidences[i]:.0%})" for i in wrong[:48]],
    )
with confidence_tab:
    correct = evaluation.predictions == evaluation.labels
    st.plotly_chart(charts.confidence_histogram(evaluation.confidences, correct), key="eval_confidence")
    st.caption("Green: answers that were right; red: wrong. A good model is rarely confident when it is wrong.")

with compare_tab:
    st.file_uploader(
        "Upload a model to compare (.keras or .h5); the active model stays as it is",
        type=["keras", "h5"],
        key="eval_compare_upload",
    )
    uploaded = models.take_upload("eval_compare_upload", make_active=False)
    if uploaded is not None:
        kind, message, label = uploaded
        getattr(st, kind)(literal(message))  # it names the visitor's file
        if label is not None:
            st.session_state["eval_compare_b"] = label  # compare the new model, before its selectbox is drawn
    options = models.choices()
    if len(options) < 2:
        st.info("Upload a model here, or train one, to compare it with the shipped model.")
    else:
        labels = list(options)
        first_label = st.selectbox("Model A", labels, index=0, key="eval_compare_a")
        second_label = st.selectbox("Model B", labels, index=len(labels) - 1, key="eval_compare_b")
        first, second = evaluation_for(options[first_label], count), evaluation_for(options[second_label], count)
        left, right = st.columns(2)
        left.metric(f"A: {first_label}", f"{first.accuracy:.2%}")
        right.metric(f"B: {second_label}", f"{second.accuracy:.2%}", delta=f"{(second.accuracy - first.accuracy) * 100:+.2f} points vs A")
        recall_a = [row["recall"] * 100 for row in first.per_class()]
        recall_b = [row["recall"] * 100 for row in second.per_class()]
        st.dataframe(
            [{"digit": d, "recall A": recall_a[d], "recall B": recall_b[d], "B - A": recall_b[d] - recall_a[d]} for d in range(10)],
            hide_index=True,
            column_config={
                "recall A": st.column_config.NumberColumn(help=SCORES["recall"], format="%.2f%%"),
                "recall B": st.column_config.NumberColumn(help=SCORES["recall"], format="%.2f%%"),
                "B - A": st.column_config.NumberColumn(help="Recall of B minus recall of A, in percentage points.", format="%+.2f"),
            },
            key="eval_compare_table",
        )
        disagree = np.flatnonzero(first.predictions != second.predictions)
        st.caption(f"The models disagree on {len(disagree)} of {count:,} test images (showing up to 32).")
        gallery(disagree[:32], [f"true {first.labels[i]}: A {first.predictions[i]}, B {second.predictions[i]}" for i in disagree[:32]])

st.divider()
embedding.offer(choice)  # the map of the space the model learns, computed only when the visitor asks
