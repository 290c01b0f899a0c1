"""Webcam: digits held up to a camera are read live, boxed and labelled on the video; a snapshot fallback."""

from pages.ui.routing import ensure_app_navigation

# First, before the heavy imports below: on a fresh server's first direct visit this reruns through app.py.
ensure_app_navigation()

import av
import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from core.live import STEADY_FRAMES, LiveReader
from pages.ui import models, photos, webrtc
from pages.ui.webrtc import ICE_SERVERS_VARIABLE, rtc_configuration, turn_configured

st.title("Webcam")
st.caption("Hold the sheet flat and close, so it fills the frame; any pen or pencil, plain, squared or ruled paper.")
recognizer = models.active_model().recognizer
if recognizer.note:
    st.caption(recognizer.note)  # a model the light runtime cannot run: said once, in one line
threshold = st.slider(
    "Confidence threshold", 0.0, 1.0, 0.6, 0.05, key="webcam_threshold", help="Shapes read with less confidence are shown as grey boxes."
)
show_ink = st.toggle(
    "Show the ink found",
    key="webcam_show_ink",
    help=(
        "What the reader took for ink is shown in orange, the rest dimmed. Shapes at the frame's edge are ignored; "
        "if a shadow or the paper's lines turn orange near your digits, hold the sheet flatter and closer."
    ),
)

previous = st.session_state.get("webcam_reader")
reader = previous if previous is not None and previous.recognizer is recognizer else LiveReader(recognizer)
st.session_state["webcam_reader"] = reader
reader.min_confidence = threshold
reader.show_ink = show_ink


def read_frame(frame: av.VideoFrame) -> av.VideoFrame:
    # NOTE: runs on streamlit-webrtc's worker thread; with async processing it only ever sees the newest frame,
    # so a slow frame makes it skip stale ones instead of falling behind.
    return av.VideoFrame.from_ndarray(reader.process(frame.to_ndarray(format="bgr24")), format="bgr24")


video_column, readout_column = st.columns([3, 2], gap="large")
with video_column:
    streamer = webrtc_streamer(
        key="webcam-stream",
        mode=WebRtcMode.SENDRECV,
        rtc_configuration=rtc_configuration(),
        media_stream_constraints={"video": {"width": 640, "height": 480}, "audio": False},
        video_frame_callback=read_frame,
        async_processing=True,
    )


@st.fragment(run_every=0.5)
def show_readout() -> None:
    readout = reader.readout() if streamer.state.playing else None
    with st.container(key="webcam-number"):
        if readout is not None and readout.number:
            st.markdown(f"<p style='font-size:4rem;font-weight:700;margin:0'>{readout.number}</p>", unsafe_allow_html=True)
    if readout is None:
        st.info("Press START and allow the camera.")
        return
    if readout.confidences:
        st.caption("Confidence " + ", ".join(f"{c:.0%}" for c in readout.confidences))
    else:
        st.caption("No digits in view.")
    st.caption(
        f"{readout.fps:.1f} frames per second read; last frame took {readout.milliseconds:.0f} ms. The number shown is "
        f"the one read most often in the last {STEADY_FRAMES} frames"
        + ("." if readout.latest == readout.number else f"; the last frame alone read {readout.latest or 'no digit'}.")
    )


with readout_column:
    show_readout()

if not turn_configured() and not webrtc.on_this_computer():
    # Visitors of a shared app: live video may not get through their network without a TURN server.
    st.info("If the live video stays black, your network may be blocking it: take a snapshot below instead.", icon=":material/info:")
    with st.expander("For the app's owner: live video from anywhere"):
        st.markdown(
            "No TURN server is configured, so live video works only when the browser and this app are on the same "
            "computer or network. To use it from Streamlit Community Cloud, add `TWILIO_ACCOUNT_SID` and "
            "`TWILIO_AUTH_TOKEN` (or `CLOUDFLARE_TURN_KEY_ID` and `CLOUDFLARE_TURN_KEY_API_TOKEN`) to the app's "
            f"secrets, or a JSON list of ICE servers in `{ICE_SERVERS_VARIABLE}`."
        )

# NOTE: the camera input is created only when asked for: mounted, it opens a second live preview of the camera.
if st.toggle("No live video? Take a snapshot instead", key="webcam_snapshot_on"):
    snapshot = st.camera_input("Snapshot", key="webcam_snapshot")
    if snapshot is not None:
        photos.show_reading(snapshot.getvalue(), "snapshot", threshold)
