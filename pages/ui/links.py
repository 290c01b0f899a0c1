"""The Train page's settings in its URL, so that a teacher can send a link that opens the same network and training."""

from __future__ import annotations

import streamlit as st

from core.config import TrainConfig, from_query, parameters, to_query
from pages.ui.controls import LEARNING_RATES


def read_link() -> None:
    """Put the settings a newly opened link carries into the controls (call before they are drawn).

    A link is read once: the URL the page itself wrote on the previous run is not read back. What it carried that
    could not be used is kept for write_link to report.
    """
    query = st.query_params.to_dict()
    if query == st.session_state.get("train_link_written"):
        return
    config, problems = from_query(query)
    if config.learning_rate not in LEARNING_RATES:  # the control offers a ladder of rates, not every number
        ladder = ", ".join(f"{rate:g}" for rate in LEARNING_RATES)
        problems.append(
            f"The link's learning_rate={query['learning_rate'][:40]} was not used, so it is the default 0.001: it should be one of {ladder}."
        )
        config = config.replace(learning_rate=TrainConfig().learning_rate)
    for spec in parameters():
        if spec.name in query:
            st.session_state[f"train_{spec.name}"] = getattr(config, spec.name)
    st.session_state["train_link_problems"] = problems


def write_link(config: TrainConfig) -> list[str]:
    """Show the settings that differ from the defaults in the URL (other parameters in it are kept).

    Returns one sentence per value the opened link carried that could not be used (its control kept the default),
    until the visitor changes a setting.
    """
    names = {spec.name for spec in parameters()}
    others = {key: value for key, value in st.query_params.to_dict().items() if key not in names}
    query = {**others, **to_query(config)}
    if query != st.query_params.to_dict():
        st.query_params.from_dict(query)
    written = st.session_state.get("train_link_written")
    if written is not None and query != written:
        st.session_state["train_link_problems"] = []  # the visitor changed a setting: the link's problems are past
    st.session_state["train_link_written"] = query
    return st.session_state.get("train_link_problems", [])
