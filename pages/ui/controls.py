"""Widgets for every TrainConfig field, generated from the dataclass's metadata (no second list of hyperparameters)."""

from __future__ import annotations

import dataclasses
from typing import Any

import streamlit as st

from core.config import TrainConfig, parameters
from pages.ui import architecture

LEARNING_RATES = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
GROUP_ORDER = ("Training", "Network", "Data", "Augmentation", "Scale")


def _widget(spec: dataclasses.Field[Any], default: Any, disabled: bool) -> Any:
    meta, key, label = spec.metadata, f"train_{spec.name}", spec.metadata["label"]
    common = {"help": meta["help"], "key": key, "disabled": disabled}
    st.session_state.setdefault(key, default)
    if isinstance(default, bool):
        return st.toggle(label, **common)
    if meta["choices"] is not None:
        return st.selectbox(label, meta["choices"], **common)
    if meta["log"]:
        return st.select_slider(label, LEARNING_RATES, format_func=lambda value: f"{value:g}", **common)
    if spec.name == "seed":
        return int(st.number_input(label, int(meta["low"]), int(meta["high"]), step=1, **common))
    kind = type(default)
    return st.slider(label, kind(meta["low"]), kind(meta["high"]), step=kind(meta["step"] or 1), **common)


def config_controls(defaults: TrainConfig, *, disabled: bool = False) -> TrainConfig:
    """A control per TrainConfig field, grouped in tabs; returns the config the user set."""
    fields = parameters()
    values: dict[str, Any] = {}
    tabs = st.tabs(list(GROUP_ORDER))
    for group, tab in zip(GROUP_ORDER, tabs, strict=True):
        with tab:
            if group == "Network":  # a column per convolution block and dense layer, not two columns of controls
                values |= architecture.network_controls(defaults, _widget, disabled, chosen=values)
                continue
            members = [spec for spec in fields if spec.metadata["group"] == group]
            columns = st.columns(2)
            for index, spec in enumerate(members):
                with columns[index % 2]:
                    values[spec.name] = _widget(spec, getattr(defaults, spec.name), disabled)
    return TrainConfig(**values)


def apply_preset(values: dict[str, Any]) -> None:
    """Set several controls at once (call before they are drawn, e.g. from a button's on_click)."""
    for name, value in values.items():
        st.session_state[f"train_{name}"] = value
