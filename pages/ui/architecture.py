"""Build your own network on the Train page: a column of controls per block and dense layer, and the live layer table."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import streamlit as st

from core.architecture import ArchitectureError, describe
from core.config import MAX_CONV_BLOCKS, MAX_DENSE_LAYERS, TrainConfig, parameters

Widget = Callable[[dataclasses.Field[Any], Any, bool], Any]
TABLE_NOTE = (
    "Each row is a layer, in the order an image goes through them. Output: the shape of what it passes on "
    "(height x width x maps). Parameters: the numbers it learns. Multiply-adds: the arithmetic it does per image."
)


def network_controls(defaults: TrainConfig, widget: Widget, disabled: bool, chosen: dict[str, Any]) -> dict[str, Any]:
    """The Network tab: overall choices, one column per convolution block and per dense layer (greyed out when unused),
    then the layer table. `chosen`: the settings of the tabs before (the optimizer sets the file size).

    Returns every Network setting, those of unused blocks included, so the config keeps them."""
    specs = {spec.name: spec for spec in parameters() if spec.metadata["group"] == "Network"}
    values: dict[str, Any] = {}
    overall = [name for name, spec in specs.items() if spec.metadata["layer"] is None and name != "dense_layers"]
    for column, name in zip(st.columns(len(overall)), overall, strict=True):
        with column:
            values[name] = widget(specs[name], getattr(defaults, name), disabled)
    st.markdown("**Convolution blocks** (each: a convolution, then its pooling)")
    _layer_columns("conv", MAX_CONV_BLOCKS, values["conv_blocks"], specs, defaults, widget, disabled, values)
    values["dense_layers"] = widget(specs["dense_layers"], defaults.dense_layers, disabled)
    _layer_columns("dense", MAX_DENSE_LAYERS, values["dense_layers"], specs, defaults, widget, disabled, values)
    layer_table(defaults.replace(**chosen, **values))
    return values


def _layer_columns(
    kind: str,
    count: int,
    used: int,
    specs: dict[str, dataclasses.Field[Any]],
    defaults: TrainConfig,
    widget: Widget,
    disabled: bool,
    values: dict[str, Any],
) -> None:
    """A column of controls for each of `count` blocks or layers; those past `used` are drawn disabled."""
    title = "Block" if kind == "conv" else "Dense layer"
    for index, column in enumerate(st.columns(count), start=1):
        with column:
            st.caption(f"{title} {index}" + ("" if index <= used else " (off)"))
            for name, spec in specs.items():
                if spec.metadata["layer"] == f"{kind}{index}":
                    values[name] = widget(spec, getattr(defaults, name), disabled or index > used)


def layer_table(config: TrainConfig) -> None:
    """The layers `config` builds with their shapes and sizes, or the sentence saying why it cannot be built."""
    with st.container(key="train-architecture"):
        try:
            architecture = describe(config)
        except ArchitectureError as error:
            st.error(str(error), icon=":material/block:")
            return
        with st.container(horizontal=True):
            st.metric("Parameters", f"{architecture.parameters:,}")
            st.metric("Multiply-adds per image", f"{architecture.multiply_adds:,}")
            st.metric("File size", f"about {architecture.file_bytes(config.optimizer) / 1e6:.1f} MB")
        st.dataframe(architecture.table(), hide_index=True, key="train_layer_table")
        st.caption(f"{TABLE_NOTE} Grad-CAM on Draw reads the last convolution, {architecture.last_convolution}.")
