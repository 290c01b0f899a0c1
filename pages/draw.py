"""Draw: write digits on a canvas (mouse or finger) and see the prediction after every stroke; or upload a photo."""

from pages.ui.routing import ensure_app_navigation

# First, before the heavy imports below: on a fresh server's first direct visit this reruns through app.py.
ensure_app_navigation()

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from core.inference import MIN_CONFIDENCE, Reading
from pages.ui import charts, embedding, explain, fool, handwriting, models, photos
from pages.ui.canvas import keep_toolbar_clear, on_a_phone

CANVAS_SIZES = {"Wide (numbers)": (560, 280), "Narrow (phone)": (320, 240)}

st.title("Draw")
st.caption("Write a digit, or a few side by side, with the mouse or a finger. The prediction updates after every stroke.")
model = models.active_model()
if model.recognizer.note:
    st.caption(model.recognizer.note)  # a model the light runtime cannot run: said once, in one line
st.session_state.setdefault("draw_canvas_version", 0)


# NOTE: a fragment: a stroke or Clear reruns only the canvas and its results, not the page's title, the sidebar or
# the photo upload below (a whole page's rerun cost the server about 50 ms of CPU per stroke).
@st.fragment
def drawing() -> None:
    settings = st.columns(3)
    stroke_width = settings[0].slider("Pen width", 4, 40, 18, key="draw_stroke_width")
    st.session_state.setdefault("draw_canvas_size", "Narrow (phone)" if on_a_phone() else "Wide (numbers)")  # 560 px overflowed a phone
    size_name = settings[1].radio("Canvas", list(CANVAS_SIZES), horizontal=True, key="draw_canvas_size")
    width, height = CANVAS_SIZES[size_name]
    if settings[2].button("Clear", icon=":material/delete:", key="draw_clear"):
        st.session_state["draw_canvas_version"] += 1  # a new key mounts a fresh, empty canvas

    # NOTE: a wrapping row, not st.columns: a column narrower than the canvas (a laptop with the sidebar open) hid the
    # canvas's right part; here the result sits beside the canvas when there is room and below it when there is not.
    with st.container(horizontal=True, gap="large"):
        canvas_column, result_column = st.container(width=width), st.container()
    with canvas_column:
        keep_toolbar_clear()
        canvas = st_canvas(
            stroke_width=stroke_width,
            stroke_color="#000000",
            background_color="#FFFFFF",
            width=width,
            height=height,
            drawing_mode="freedraw",
            return_image_data=True,
            key=f"draw_canvas_{st.session_state['draw_canvas_version']}",
        )
    image = canvas.image_data  # (H, W, 4) uint8 RGBA, read-only, or None before the first stroke
    has_strokes = bool(canvas.json_data and canvas.json_data.get("objects"))
    reading = model.recognizer.read(image) if image is not None and has_strokes else Reading("", ())

    with result_column:
        with st.container(key="draw-digit"):
            if reading.number:
                st.markdown(f"<p style='font-size:4.5rem;font-weight:700;margin:0'>{reading.number}</p>", unsafe_allow_html=True)
        if not has_strokes:
            st.info("Draw a digit on the canvas.")
        elif not reading.number:
            st.warning("No digit: that does not look like a digit the model can read. Try writing it larger and clearer.")
        else:
            confidences = ", ".join(f"{digit.digit}: {digit.confidence:.0%}" for digit in reading.digits)
            st.caption(f"Confidence {confidences}")
            handwriting.correction(reading.digits, st.session_state["draw_canvas_version"])

    shown = reading.digits[:6]
    if shown:
        chart_column, seen_column = st.columns([3, 1])
        chart_column.plotly_chart(charts.digit_probabilities(shown), key="draw_probabilities")  # every digit, one figure
        seen_column.image(
            charts.pixels(charts.side_by_side([digit.model_input for digit in shown])), caption="What the model sees (28x28)", clamp=True
        )
        explain.offer(model, reading.digits)  # the network's insides, computed only when the visitor asks
        fool.offer(model, reading.digits)  # the smallest change that makes it read another digit, also on request
        embedding.offer_placing(model, reading.digits)  # the drawing on Evaluate's map of the learned space


drawing()

st.divider()
st.subheader("Or upload a photo of handwriting")
upload = st.file_uploader(
    "A photo or scan with one or more digits", type=["png", "jpg", "jpeg", "bmp", "webp", "tif", "tiff"], key="draw_upload"
)
if upload is not None:
    photos.show_reading(upload.getvalue(), upload.name, MIN_CONFIDENCE, width=560)
