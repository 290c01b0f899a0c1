"""The only place that touches Streamlit internals: direct page URLs on a fresh server, Keras's global state, and
pandas kept out of a server that shows no table."""

import sys
from collections.abc import Callable

import streamlit as st
from streamlit.components.v1 import custom_component
from streamlit.components.v2.bidi_component import serialization
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import script_runner

_PLAIN = (str, int, float, bool, type(None), list, tuple, dict)


def _close_matplotlib_only() -> None:
    """Streamlit's after-run clean-up, minus `keras.backend.clear_session()`.

    NOTE: Streamlit calls clear_session() after every script and fragment run. Here that is every 0.5 s (the
    webcam readout and training chart refresh), and it resets Keras's global state under the models other
    sessions are using and a training job's thread, while holding the GIL for up to a second (the live webcam
    fell to under 1 frame per second). This app builds models only in core, deliberately, so it opts out.
    tests/test_streamlit_internals.py fails, saying what to do, when an upgrade changes what this relies on.
    """
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")


script_runner._clean_problem_modules = _close_matplotlib_only


def _plain_data_is_not_a_dataframe(is_dataframe_like: Callable[[object], bool]) -> Callable[[object], bool]:
    """Streamlit's `is_dataframe_like`, answering False at once for a dict, list or tuple of plain values.

    NOTE: Streamlit asks this of every argument of a component (the canvas's drawing, the webcam's settings), and
    asking imports pandas and pyarrow: 75 MB of a serving process that shows no table (Draw, Webcam), a quarter of
    it. Plain Python data is never dataframe-like to Streamlit (it answers False for all of it, after importing);
    anything else still goes to Streamlit. tests/test_streamlit_internals.py checks both answers agree.
    """

    def plain_or_streamlits(value: object) -> bool:
        if isinstance(value, dict):
            items: object = value.values()
        elif isinstance(value, (list, tuple)):
            items = value
        else:
            return is_dataframe_like(value)
        if all(isinstance(item, _PLAIN) for item in items):  # type: ignore[attr-defined]
            return False
        return is_dataframe_like(value)

    plain_or_streamlits.streamlits = is_dataframe_like  # type: ignore[attr-defined]
    return plain_or_streamlits


for _module in (custom_component, serialization):
    if not hasattr(_module.is_dataframe_like, "streamlits"):  # once per process, whatever reimports this file
        setattr(_module, "is_dataframe_like", _plain_data_is_not_a_dataframe(getattr(_module, "is_dataframe_like")))  # noqa: B009, B010


def ensure_app_navigation() -> None:
    """Rerun through app.py when Streamlit ran this page file on its own.

    NOTE: with a pages/ folder, the first visit to a fresh server by a direct URL (/webcam) runs the page in
    Streamlit's legacy file-based mode, skipping app.py: no sidebar, wrong navigation, and no import guard.
    The class flag below is what st.navigation itself clears; clearing it and rerunning routes the same
    URL through app.py. tests/test_streamlit_internals.py checks that the detour is still needed and still works.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def session_id() -> str:
    """This visitor's Streamlit session id (stable across reruns and page changes, new for a new tab)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    context = get_script_run_ctx()
    return context.session_id if context is not None else "no-session"


def session_is_connected(session_id: str) -> bool:
    """Whether a browser is connected to the session now; True where no server runs (AppTest, scripts).

    NOTE: a closed tab's session is kept for server.disconnectedSessionTTL in case it reconnects; it is not
    connected meanwhile, which is what decides here.
    """
    from streamlit.runtime import Runtime

    return not Runtime.exists() or Runtime.instance().is_active_session(session_id)


def disconnected_sessions() -> list[str]:
    """Ids of the sessions the server keeps for a browser that may reconnect (no browser connected now)."""
    from streamlit.runtime import Runtime

    if not Runtime.exists():
        return []
    manager = getattr(Runtime.instance(), "_session_mgr", None)  # NOTE: the runtime lists only active sessions publicly
    if manager is None or not hasattr(manager, "list_sessions"):  # AppTest's stand-in runtime
        return []
    return [info.session.id for info in manager.list_sessions() if not manager.is_active_session(info.session.id)]


def close_session(session_id: str) -> None:
    """Shut a session down for good: its session state and its media files (download links) are dropped."""
    from streamlit.runtime import Runtime

    if Runtime.exists():
        Runtime.instance().close_session(session_id)
