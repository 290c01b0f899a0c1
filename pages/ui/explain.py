"""'Inside the network' for the Draw page: a guided view, each panel the same size with one plain sentence."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from pages.ui import charts
from pages.ui.models import LoadedModel

if TYPE_CHECKING:
    from core.explain import Explanation
    from core.inference import DigitReading

PANEL_SCALE = 6  # every 28x28 panel is shown 168 px wide
STARTING_HELP = "Gradients need TensorFlow: the first time on this server it takes a few seconds to start."


def _grid(images: np.ndarray, columns: int = 8, gap: int = 2) -> np.ndarray:
    """(n, h, w) images -> one tiled picture, `columns` per row."""
    rows = -(-len(images) // columns)
    padded = np.zeros((rows * columns, *images.shape[1:]), np.float32)
    padded[: len(images)] = images
    return charts.tile(padded.reshape(rows, columns, *images.shape[1:]), gap=gap)


def chosen(digits: Sequence[DigitReading], question: str = "Explain which digit?", key: str = "draw_explain_digit") -> DigitReading:
    """The digit to look at: the only one, or the one the visitor picks (the first by default)."""
    if len(digits) == 1:
        return digits[0]
    names = [f"#{index + 1}: {digit.digit}" for index, digit in enumerate(digits)]  # in reading order
    chosen = st.segmented_control(question, names, default=names[0], key=key)
    return digits[names.index(chosen)] if chosen in names else digits[0]


def panels(model_input: np.ndarray, explanation: Explanation) -> list[tuple[np.ndarray, str]]:
    """The three heatmap panels, each (168, 168) or (168, 168, 3) with one plain sentence: input, Grad-CAM, saliency."""
    seen = explanation.digit
    hint = ", often the empty space beside the stroke" if seen == 1 else ""  # a 1 is told apart by what is not there
    return [
        (
            charts.pixels(model_input, PANEL_SCALE),
            "What the network sees: your digit shrunk to 28x28 pixels and centred, as MNIST's are.",
        ),
        (
            charts.overlay(model_input, explanation.grad_cam, PANEL_SCALE),
            f"Grad-CAM: the hotter an area (red, then yellow), the more it counted as evidence for {seen}{hint}.",
        ),
        (
            charts.overlay(model_input, explanation.saliency, PANEL_SCALE),
            f"Saliency: the hotter a stroke, the more changing it would change the score for {seen}.",
        ),
    ]


def offer(model: LoadedModel, digits: Sequence[DigitReading]) -> None:
    """A switch for the network's insides, off by default: they are computed, and TensorFlow started, only when shown."""
    with st.container(key="draw-explain"):
        st.subheader("Inside the network")
        if st.toggle("Show what the network looks at", key="draw_explain_on", help=STARTING_HELP):
            show(model, digits)


def show(model: LoadedModel, digits: Sequence[DigitReading]) -> None:
    """What `model` looks at in one of the digits read: heatmaps over it, feature maps and first-layer filters."""
    try:
        # NOTE: gradients need TensorFlow, which the light runtime that reads the digits does without. Its first
        # start on a server takes seconds; the spinner (shown only for waits over half a second) says so.
        with st.spinner("Starting TensorFlow to look inside the network (a few seconds, once)…"):
            explainer = model.explainer()
    except ValueError as error:
        st.info(str(error))
        return
    digit = chosen(digits)
    started = time.perf_counter()
    explanation = explainer.explain(digit.model_input)
    milliseconds = (time.perf_counter() - started) * 1000
    for column, (picture, caption) in zip(st.columns(3), panels(digit.model_input, explanation), strict=True):
        column.image(picture, caption=caption, clamp=True, width=28 * PANEL_SCALE)
    layers = ("The first convolution", "The second convolution")
    for index, maps in enumerate(explanation.feature_maps.values()):
        peaks = np.maximum(maps.max(axis=(0, 1), keepdims=True), 1e-8)
        channels = np.transpose(maps / peaks, (2, 0, 1))  # (channels, h, w), each map scaled to its own maximum
        layer = layers[index] if index < len(layers) else f"Convolution {index + 1}"
        what = "simple marks: edges, line ends, curves" if index == 0 else "larger parts of digits, built from the first layer's marks"
        caption = f"{layer}: {maps.shape[2]} maps of {maps.shape[0]}x{maps.shape[1]}, each lit where its filter finds {what}."
        st.image(charts.pixels(_grid(channels), 3), caption=caption, clamp=True)
    filters = explainer.first_layer_filters()
    filter_size = f"{filters.shape[1]}x{filters.shape[2]}"
    st.image(
        charts.pixels(_grid(filters, gap=1), 10),
        caption=f"The {len(filters)} patterns the first convolution looks for, {filter_size} pixels each: light where ink makes it fire, dark where ink holds it back.",
        clamp=True,
    )
    st.caption(f"Computed in {milliseconds:.0f} ms for this drawing.")
