"""Digit Lab: page config, navigation, the shared model sidebar; each page lives in pages/."""

import streamlit as st

from core.memory import keep_giving_back
from pages.ui import (
    models,
    routing,  # noqa: F401  (applies the Streamlit fixes before any page runs)
)

st.set_page_config(page_title="Digit Lab: handwritten digit recognition", page_icon="✍️", layout="wide")

navigation = st.navigation(
    [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/draw.py", title="Draw", icon=":material/draw:", url_path="draw"),
        st.Page("pages/webcam.py", title="Webcam", icon=":material/videocam:", url_path="webcam"),
        st.Page("pages/my_handwriting.py", title="My handwriting", icon=":material/school:", url_path="my-handwriting"),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
        st.Page("pages/evaluate.py", title="Evaluate", icon=":material/analytics:", url_path="evaluate"),
    ]
)
keep_giving_back()  # what ended sessions freed goes back to the system (once per process; see core/memory.py)
models.sidebar()
navigation.run()
