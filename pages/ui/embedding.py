"""The space a model learns: the map of 5,000 test digits (Evaluate), computed once per model, and drawings placed on it (Draw)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import streamlit as st

from core.data import REMEDY, load_mnist, mnist_available
from pages.ui import charts, models, quotas, sessions
from pages.ui.evaluation import progress_bar

if TYPE_CHECKING:
    from core.embedding import LearnedSpace
    from core.inference import DigitReading

MAP_COUNT = 5000  # test images on the map: enough for every digit's cloud, few enough to draw at once in a browser
SHOWN_NEIGHBOURS = 7
ABOUT = (
    "Each dot is one test image, placed by what the network's last hidden layer makes of it: its numbers squeezed "
    "to two with PCA (the two directions along which they vary most). The network has learned to pull each digit "
    "into its own cloud; the crosses are the images it reads wrong. Click a dot to see its digit."
)


@dataclass(frozen=True)
class DigitMap:
    """A model's learned space over the test digits, and how well two dimensions keep the digits apart."""

    space: LearnedSpace
    neighbour_accuracy: float  # the share of digits whose nearest other digit on the map is the same digit


def map_for(choice: models.ModelChoice) -> DigitMap | None:
    """The map of `choice`'s learned space, with a progress bar while it is computed; None (and a warning) if refused.

    The shipped model's map is shared by every session; a session's own model's map goes with the session.
    """
    compute = _own_map if sessions.owns(choice.path) else _shared_map
    try:
        return compute(*models.model_key(choice), choice)
    except quotas.Refused as refusal:  # too many evaluations from this session, or the memory is not there
        st.warning(str(refusal))
        return None


# NOTE: the progress bar is made inside the cached functions; see the NOTE in pages/ui/evaluation.py.
@st.cache_resource(max_entries=4, show_spinner=False)
def _shared_map(path: str, modified: float, _choice: models.ModelChoice) -> DigitMap:
    return _digit_map(_choice)


@st.cache_resource(max_entries=1, show_spinner=False, scope="session")  # one at a time: a map holds its model's graph
def _own_map(path: str, modified: float, _choice: models.ModelChoice) -> DigitMap:
    return _digit_map(_choice)


def _digit_map(choice: models.ModelChoice) -> DigitMap:
    from core.embedding import LearnedSpace, nearest_neighbour_accuracy

    model = models.loaded(choice).recognizer.model
    refusal = quotas.evaluation_refusal(model, MAP_COUNT)
    if refusal is not None:
        raise quotas.Refused(refusal)
    data = load_mnist()
    with progress_bar(f"Placing {MAP_COUNT:,} test digits in {choice.label}'s learned space…", "Placing the test digits…") as on_progress:
        space = LearnedSpace(model, data.x_test[:MAP_COUNT], data.y_test[:MAP_COUNT], on_progress=on_progress)
    return DigitMap(space, nearest_neighbour_accuracy(space.points, space.labels))


def selected_indices(selection: Mapping[str, Any]) -> list[int]:
    """The test images picked on the map (customdata[0] of each selected point), in the order they were picked."""
    picked = [_first(point["customdata"]) for point in selection.get("points", []) if point.get("customdata")]
    return list(dict.fromkeys(picked))


def _first(values: list[Any] | dict[str, Any]) -> int:
    # NOTE: numpy customdata reaches the browser packed as typed arrays, and a typed array row comes back from the
    # browser as an object keyed "0", "1", ... rather than as a list.
    return int(values[0] if isinstance(values, list) else values["0"])


def offer(choice: models.ModelChoice) -> None:
    """The learned space, off by default: it runs 5,000 test digits through the network (TensorFlow) when shown."""
    with st.container(key="eval-embedding"):
        st.subheader("The space it learns")
        if st.toggle(f"Show the map of {MAP_COUNT:,} test digits", key="eval_embedding_on", help="Takes a few seconds, once per model."):
            show(choice)


def show(choice: models.ModelChoice) -> None:
    digit_map = map_for(choice)
    if digit_map is None:
        return
    space = digit_map.space
    st.caption(ABOUT)
    figure = charts.learned_space(space.points, space.labels, space.predictions, space.confidences, space.projection.explained)
    event = st.plotly_chart(figure, key="eval_embedding_map", on_select="rerun", selection_mode="points")
    st.caption(
        f"On this map {digit_map.neighbour_accuracy:.0%} of the digits have a nearest neighbour of their own digit "
        "(10% by chance): two dimensions keep most, not all, of what the network tells apart."
    )
    picked = selected_indices(event.selection) if event else []
    if picked:
        show_digit(space, picked[0])


def show_digit(space: LearnedSpace, index: int) -> None:
    """A test image picked on the map, and its nearest neighbours there."""
    images = load_mnist().x_test
    nearest = [int(other) for other in space.neighbours(space.points[index], SHOWN_NEIGHBOURS + 1) if other != index][:SHOWN_NEIGHBOURS]
    columns = st.columns(SHOWN_NEIGHBOURS + 1)
    for column, shown in zip(columns, [index, *nearest], strict=False):
        label, read = int(space.labels[shown]), int(space.predictions[shown])
        caption = f"#{shown}: a {label}" + ("" if read == label else f", read {read}")
        column.image(charts.pixels(images[shown] / 255.0, 3), caption=caption, clamp=True)
    st.caption(f"Test image #{index} (first) and its {SHOWN_NEIGHBOURS} nearest neighbours on the map.")


def offer_placing(model: models.LoadedModel, digits: Sequence[DigitReading]) -> None:
    """Draw's drawings placed on the map of the active model's learned space, off by default (TensorFlow, 5,000 images)."""
    with st.container(key="draw-map"):
        st.subheader("Where your drawing lies")
        question = f"Place my drawing on the map of {MAP_COUNT:,} test digits"
        if not st.toggle(question, key="draw_map_on", help="The map from the Evaluate page; a few seconds the first time."):
            return
        if not mnist_available():
            st.info(f"The map needs the MNIST test images. {REMEDY}")
            return
        digit_map = map_for(model.choice)
        if digit_map is None:
            return
        show_drawings(digit_map.space, digits)


def show_drawings(space: LearnedSpace, digits: Sequence[DigitReading]) -> None:
    """The map with a star for each drawing, and the test digits nearest to each."""
    names = [f"your {digit.digit}" if len(digits) == 1 else f"#{index + 1}: {digit.digit}" for index, digit in enumerate(digits)]
    placed = [(name, space.place(digit.model_input)) for name, digit in zip(names, digits, strict=True)]
    figure = charts.learned_space(space.points, space.labels, space.predictions, space.confidences, space.projection.explained, placed)
    st.plotly_chart(figure, key="draw_map_chart")
    for name, point in placed:
        nearest = ", ".join(str(label) for label in space.labels[space.neighbours(point, 10)])
        st.caption(f"The star *{name}*: the 10 test digits nearest to it on the map are {nearest}.")
