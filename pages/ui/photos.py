"""A photo of handwriting (an upload on Draw, a snapshot on Webcam) read by the active model and shown with its boxes."""

from __future__ import annotations

from typing import Literal

import numpy as np
import streamlit as st

from core.imageio import ImageFileError, read_image_bytes, to_display
from core.inference import Reading, Recognizer
from core.live import draw_reading
from pages.ui import models
from pages.ui.text import literal


# NOTE: cached because every pen stroke on Draw reruns the page, and the photo below the canvas has not changed.
@st.cache_data(max_entries=16, show_spinner=False)
def _read(data: bytes, name: str, model: models.ModelKey, min_confidence: float, _recognizer: Recognizer) -> tuple[np.ndarray, Reading]:
    """-> the photo with boxes drawn (BGR) and the reading; raises ImageFileError or ValueError for a bad file."""
    photo = read_image_bytes(data, name)
    reading = _recognizer.read(photo, min_confidence=min_confidence)
    return draw_reading(to_display(photo), reading), reading


def show_reading(data: bytes, name: str, min_confidence: float, width: int | Literal["stretch", "content"] = "content") -> None:
    """Read the photo `data` and show it with boxes and the number, or one error line naming the file."""
    model = models.active_model()
    try:
        annotated, reading = _read(data, name, model.key, min_confidence, model.recognizer)
    except (ImageFileError, ValueError) as error:
        st.error(literal(str(error) if str(error).startswith(name) else f"{name}: {error}"))
        return
    st.image(annotated, channels="BGR", width=width)
    st.markdown(f"**Read:** {reading.number or 'no digits found'}")
