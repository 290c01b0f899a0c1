"""Routing fix for direct page URLs on a fresh server (the only place that touches Streamlit internals)."""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def ensure_app_navigation() -> None:
    """Rerun through app.py when Streamlit ran this page file on its own.

    NOTE: with a pages/ folder, the first visit to a fresh server by a direct URL (/webcam) runs the page in
    Streamlit's legacy file-based mode, skipping app.py: no sidebar, wrong navigation, and no import guard.
    The class flag below is what st.navigation itself clears; clearing it and rerunning routes the same
    URL through app.py.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
