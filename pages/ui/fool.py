"""'Fool it' for the Draw page: the small change to a drawing that makes the network read another digit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from pages.ui import charts
from pages.ui.explain import PANEL_SCALE, STARTING_HELP, chosen
from pages.ui.models import LoadedModel

if TYPE_CHECKING:
    from core.adversarial import Attack
    from core.inference import DigitReading

METHODS = {"FGSM: one step": "fgsm", "Iterative: 12 small steps": "iterative"}
ANY_DIGIT = "any other digit"
WHY = (
    "Why this matters: a change you can barely see flips the answer, so a network that reads digits well does not see "
    "them as we do, and anyone who can reach its input can steer it."
)


def offer(model: LoadedModel, digits: Sequence[DigitReading]) -> None:
    """A switch for "Fool it", off by default: the changes need gradients, so TensorFlow, only when asked for."""
    with st.container(key="draw-fool"):
        st.subheader("Fool it")
        st.caption("The smallest change to your drawing that makes the network read another digit.")
        if st.toggle("Try to fool the network", key="draw_fool_on", help=STARTING_HELP):
            show(model, digits)


def show(model: LoadedModel, digits: Sequence[DigitReading]) -> None:
    """The controls, then the drawing, the change (amplified), the changed drawing and its probabilities."""
    try:
        with st.spinner("Starting TensorFlow to compute the change (a few seconds, once)…"):
            fooler = model.fooler()
    except ValueError as error:
        st.info(str(error))
        return
    digit = chosen(digits, "Fool which digit?", "draw_fool_digit")
    settings = st.columns(3)
    method = settings[0].radio("Method", list(METHODS), index=1, key="draw_fool_method")  # the smaller change by default
    budget = settings[1].slider(
        "Size of the change",
        0.0,
        0.5,
        0.2,
        0.01,
        key="draw_fool_budget",
        help="The most any pixel may change, from 0 (not at all) to 1 (from white to full ink).",
    )
    target = settings[2].selectbox("Make it read", [ANY_DIGIT, *range(10)], key="draw_fool_target")
    attack = fooler.fool(digit.model_input, budget, method=METHODS[method], target=None if target == ANY_DIGIT else int(target))
    pictures = [
        (charts.pixels(attack.original, PANEL_SCALE), f"Your drawing as the network sees it: a {attack.original_digit}."),
        (amplified(attack), f"The change, amplified: red adds ink, blue takes it away, up to {budget:.2f} per pixel."),
        (charts.pixels(attack.changed, PANEL_SCALE), f"The changed drawing: the network reads a {attack.digit}."),
    ]
    for column, (picture, caption) in zip(st.columns(3), pictures, strict=True):
        # PNG, not the default JPEG: its artefacts would be a change of their own, as large as the smallest budgets.
        column.image(picture, caption=caption, clamp=True, width=28 * PANEL_SCALE, output_format="PNG")
    st.markdown(verdict(attack))
    st.plotly_chart(charts.probabilities(attack.probabilities, "Probabilities of the changed drawing"), key="draw_fool_probabilities")
    st.caption(WHY)


def amplified(attack: Attack) -> np.ndarray:
    """The change scaled so that the whole budget is full colour: added ink red, removed ink blue, on white.

    -> (28*scale, 28*scale, 3) float32 RGB in [0, 1].
    """
    share = attack.change / max(attack.budget, 1e-6)  # (28, 28) in [-1, 1]
    added, removed = np.clip(share, 0.0, 1.0), np.clip(-share, 0.0, 1.0)
    colour = np.stack([1.0 - removed, 1.0 - added - removed, 1.0 - added], axis=-1)
    return np.kron(colour, np.ones((PANEL_SCALE, PANEL_SCALE, 1), np.float32)).astype(np.float32)


def verdict(attack: Attack) -> str:
    """One sentence: what the network reads now, or that it was not fooled and what to try."""
    confidence = attack.probabilities[attack.digit]
    if attack.fooled:
        return f"**Fooled:** the network now reads **{attack.digit}** ({confidence:.0%}) where it read {attack.original_digit}."
    if attack.target is not None and attack.digit != attack.original_digit:
        return f"**Partly fooled:** it reads {attack.digit} ({confidence:.0%}), not yet {attack.target}: allow a larger change."
    return f"**Not fooled:** it still reads {attack.digit} ({confidence:.0%}). Allow a larger change, or take small steps."
