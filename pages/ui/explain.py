"""'Inside the network' for the Draw page: Grad-CAM, saliency, feature maps and first-layer filters."""

from __future__ import annotations

import time

import numpy as np
import streamlit as st

from pages.ui import charts
from pages.ui.models import LoadedModel


def _grid(images: np.ndarray, columns: int = 8, gap: int = 2) -> np.ndarray:
    """(n, h, w) images -> one tiled picture, `columns` per row."""
    rows = -(-len(images) // columns)
    padded = np.zeros((rows * columns, *images.shape[1:]), np.float32)
    padded[: len(images)] = images
    return charts.tile(padded.reshape(rows, columns, *images.shape[1:]), gap=gap)


def show(model: LoadedModel, model_input: np.ndarray) -> None:
    """What `model` looks at in the (28, 28) float32 `model_input`: heatmaps, feature maps and first-layer filters."""
    with st.container(key="draw-explain"):
        st.subheader("Inside the network")
        try:
            explainer = model.explainer()
        except ValueError as error:
            st.info(str(error))
            return
        started = time.perf_counter()
        explanation = explainer.explain(model_input)
        milliseconds = (time.perf_counter() - started) * 1000
        inputs, cam, saliency = st.columns(3)
        inputs.image(charts.pixels(model_input, 5), caption="Input (28x28)", clamp=True)
        cam.image(
            charts.pixels(explanation.grad_cam, 5),
            caption=f"Grad-CAM: where the evidence for {explanation.digit} lies (for a 1, often the empty space beside it)",
            clamp=True,
        )
        saliency.image(charts.pixels(explanation.saliency, 5), caption="Saliency: the strokes that moved the score most", clamp=True)
        for name, maps in explanation.feature_maps.items():
            peaks = np.maximum(maps.max(axis=(0, 1), keepdims=True), 1e-8)
            channels = np.transpose(maps / peaks, (2, 0, 1))  # (channels, h, w), each map scaled to its own maximum
            caption = f"Feature maps of {name}: {maps.shape[2]} channels of {maps.shape[0]}x{maps.shape[1]}"
            st.image(charts.pixels(_grid(channels), 3), caption=caption, clamp=True)
        filters = explainer.first_layer_filters()
        st.image(charts.pixels(_grid(filters, gap=1), 10), caption="First-layer filters", clamp=True)
        st.caption(f"Computed in {milliseconds:.0f} ms for this drawing.")
