"""A photo of handwriting (an upload on Draw, a snapshot on Webcam) read by the active model and shown with its boxes."""

from __future__ import annotations

import hashlib
from typing import Literal

import cv2
import numpy as np
import streamlit as st

from core.imageio import ImageFileError, read_image_bytes, to_display
from core.inference import Reading
from core.limits import ByteBoundedCache
from core.live import draw_reading
from pages.ui import models
from pages.ui.text import literal

DISPLAY_SIDE = 2000  # the annotated photo is shown at most this many pixels wide or tall (a 40 MP photo is 120 MB)
PHOTO_CACHE_BYTES = 48 * 2**20  # per session, in its session state: a closed session's photos go with it


# NOTE: cached because every pen stroke on Draw reruns the page, and the photo below the canvas has not changed. Not
# st.cache_data: that is shared by every session, bounded only in entries, and outlives the session that filled it.
def _read(data: bytes, name: str, model: models.LoadedModel, min_confidence: float) -> tuple[np.ndarray, Reading]:
    """-> the photo with boxes drawn (BGR) and the reading; raises ImageFileError or ValueError for a bad file."""
    cache: ByteBoundedCache[tuple[np.ndarray, Reading]] = st.session_state.setdefault("photos_cache", ByteBoundedCache(PHOTO_CACHE_BYTES))
    key = (hashlib.sha256(data).hexdigest(), name, model.key, min_confidence)
    hit = cache.get(key)
    if hit is not None:
        return hit
    photo = read_image_bytes(data, name)
    reading = model.recognizer.read(photo, min_confidence=min_confidence)
    annotated = draw_reading(to_display(photo), reading)  # (H, W, 3) uint8 BGR
    scale = DISPLAY_SIDE / max(annotated.shape[:2])
    if scale < 1:
        annotated = cv2.resize(annotated, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return cache.put(key, (annotated, reading))


def show_reading(data: bytes, name: str, min_confidence: float, width: int | Literal["stretch", "content"] = "content") -> None:
    """Read the photo `data` and show it with boxes and the number, or one error line naming the file."""
    model = models.active_model()
    try:
        annotated, reading = _read(data, name, model, min_confidence)
    except (ImageFileError, ValueError) as error:
        st.error(literal(str(error) if str(error).startswith(name) else f"{name}: {error}"))
        return
    st.image(annotated, channels="BGR", width=width)
    st.markdown(f"**Read:** {reading.number or 'no digits found'}")
