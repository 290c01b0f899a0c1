"""What pages/ui/routing.py relies on inside Streamlit: each test says what to change when an upgrade moves it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
from streamlit.runtime import Runtime
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.runtime import RuntimeConfig
from streamlit.runtime.scriptrunner import script_runner
from streamlit.testing.v1 import AppTest

from pages.ui import routing

APP = Path(__file__).resolve().parent.parent / "app.py"
RUN_TIMEOUT = 300  # seconds per script run: the first run imports TensorFlow on a shared 2-core machine
ROUTING = "pages/ui/routing.py"

# Streamlit's own clean-up, run in a fresh process where routing.py has not replaced it; prints Keras's next uid.
STREAMLITS_CLEAN_UP = """
import keras
from streamlit.runtime.scriptrunner import script_runner
keras.backend.get_uid("probe"); keras.backend.get_uid("probe")
script_runner._clean_problem_modules()
print(keras.backend.get_uid("probe"))
"""


class TestTheCleanUpAfterEveryRun:
    """routing.py replaces script_runner._clean_problem_modules, which calls keras.backend.clear_session()."""

    def test_streamlits_own_clean_up_still_clears_keras(self):
        # Measured on this machine: one clear_session() takes 0.2-0.6 s (it ends in gc.collect()) with the shipped
        # model loaded, and Streamlit runs it after every run, every 0.5 s while the webcam or a training chart is live.
        ran = subprocess.run([sys.executable, "-c", STREAMLITS_CLEAN_UP], capture_output=True, text=True, timeout=300, check=False)
        assert ran.returncode == 0, f"Streamlit's clean-up could not be called: {ran.stderr[-2000:]}"

        next_uid = int(ran.stdout.split()[-1])
        assert next_uid == 1, (
            f"Streamlit's _clean_problem_modules no longer resets Keras's state (uid {next_uid}, not 1): the patch in "
            f"{ROUTING} may no longer be needed; check what Streamlit does after a run and remove it if nothing touches Keras."
        )

    def test_routing_replaces_the_function_streamlit_calls_after_a_run(self):
        assert hasattr(script_runner, "_clean_problem_modules"), (
            f"streamlit.runtime.scriptrunner.script_runner has no _clean_problem_modules any more: {ROUTING} now patches "
            "nothing, and Streamlit may clear Keras's session after every run again; find its new clean-up and patch that."
        )
        assert script_runner._clean_problem_modules is routing._close_matplotlib_only

    def test_the_script_runner_calls_it_after_every_run(self):
        calls: list[str] = []
        with mock.patch.object(script_runner, "_clean_problem_modules", lambda: calls.append("cleaned")):
            at = AppTest.from_string("import streamlit as st\nst.write('one run')", default_timeout=RUN_TIMEOUT)
            at.run()
            at.run()

        assert not at.exception
        assert calls == ["cleaned", "cleaned"], (
            "Streamlit's script runner no longer calls script_runner._clean_problem_modules after a run: the patch in "
            f"{ROUTING} does nothing now; find what it calls instead (it used to clear Keras's session) and patch that."
        )

    def test_the_replacement_still_closes_matplotlib_figures(self, monkeypatch):
        closed: list[str] = []  # matplotlib is not installed here: a stand-in records what Streamlit's clean-up did to it
        monkeypatch.setitem(sys.modules, "matplotlib.pyplot", SimpleNamespace(close=closed.append))

        routing._close_matplotlib_only()

        assert closed == ["all"]


@pytest.mark.usefixtures("mnist")
class TestLegacyPagesMode:
    """routing.ensure_app_navigation clears PagesManager.uses_pages_directory and reruns a page through app.py."""

    def test_the_flag_is_still_a_class_attribute_of_the_pages_manager(self):
        assert "uses_pages_directory" in vars(PagesManager), (
            "streamlit.runtime.pages_manager.PagesManager has no class flag uses_pages_directory any more: "
            f"ensure_app_navigation in {ROUTING} fails on every page; check whether a first visit by a direct URL "
            "still skips app.py (tests/browser/test_browser_journeys.py) and remove or rewrite the reroute."
        )

    def test_st_navigation_still_clears_the_flag(self):
        script = (
            "import streamlit as st\n"
            "from streamlit.runtime.pages_manager import PagesManager\n"
            "PagesManager.uses_pages_directory = True\n"
            "st.navigation([st.Page(lambda: None, title='Only')])\n"
            "st.write(f'flag: {PagesManager.uses_pages_directory}')\n"
        )
        at = AppTest.from_string(script, default_timeout=RUN_TIMEOUT).run()

        assert not at.exception
        assert at.markdown[0].value == "flag: False", (
            f"st.navigation no longer clears PagesManager.uses_pages_directory, which {ROUTING} relies on being "
            "the switch out of the legacy pages/ mode; read streamlit/commands/navigation.py and update the reroute."
        )

    def test_without_the_reroute_a_page_runs_without_app_py(self):
        # AppTest starts every run as a fresh server starts its first one: the flag unset, so with a pages/ folder
        # Streamlit runs the page file alone. Only app.py draws the model picker in the sidebar. Measured on a real
        # server too (Streamlit 1.67, Chromium at /draw, the reroute switched off): no picker, navigation "app, draw, ...".
        with mock.patch.object(routing, "ensure_app_navigation", lambda: None):
            at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)
            at.run()
            at.switch_page("pages/home.py").run()

        assert not at.exception
        assert at.title[0].value == "✍️ Digit Lab"
        assert [box.key for box in at.sidebar.selectbox] == [], (
            "A page opened on a fresh server now runs through app.py without help: Streamlit no longer falls back "
            f"to its legacy pages/ mode, and ensure_app_navigation in {ROUTING} (and its call in every page) can go."
        )

    def test_with_the_reroute_the_same_page_runs_through_app_py(self):
        at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)
        at.run()
        at.switch_page("pages/home.py").run()

        assert not at.exception
        assert at.title[0].value == "✍️ Digit Lab"
        assert at.sidebar.selectbox(key="models_active").value == "Shipped: mnist_cnn.keras"


class TestSessionsTheRuntimeKeeps:
    """routing.disconnected_sessions reads the runtime's private session manager, the only list of kept sessions."""

    def test_the_runtime_still_keeps_its_session_manager_as_session_mgr(self):
        import inspect

        assert "self._session_mgr = " in inspect.getsource(Runtime.__init__), (
            f"streamlit.runtime.Runtime no longer keeps its session manager in _session_mgr: disconnected_sessions in "
            f"{ROUTING} now finds no closed tab, so their files and models are never swept; find the new attribute."
        )

    @pytest.mark.parametrize("method", ["list_sessions", "is_active_session"])
    def test_the_servers_session_manager_still_offers(self, method):
        assert callable(getattr(RuntimeConfig.session_manager_class, method, None)), (
            f"Streamlit's SessionManager no longer has {method}(): disconnected_sessions in {ROUTING} returns nothing, "
            "so closed tabs' files and models are never swept; rewrite it against the new session manager."
        )


# A fresh process: is pandas imported when a component's plain arguments are checked, by Streamlit's own check or
# by routing.py's? Prints True or False.
PANDAS_AFTER_THE_CHECK = """
import sys
{setup}
from streamlit.components.v2.bidi_component import serialization
serialization.is_dataframe_like({{"objects": [{{"type": "path", "path": [["M", 1, 2], ["L", 3, 4]]}}], "background": "#fff"}})
print("pandas" in sys.modules)
"""


class TestPandasKeptOutOfTheServer:
    """routing.py answers Streamlit's `is_dataframe_like` for plain data, which Streamlit imported pandas to answer."""

    def pandas_imported(self, setup: str) -> bool:
        ran = subprocess.run(
            [sys.executable, "-c", PANDAS_AFTER_THE_CHECK.format(setup=setup)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            cwd=APP.parent,
        )
        assert ran.returncode == 0, ran.stderr
        return ran.stdout.strip() == "True"

    def test_streamlits_own_check_still_imports_pandas(self):
        # If this fails, Streamlit no longer imports pandas for plain data: remove the replacement from routing.py.
        assert self.pandas_imported(setup="")

    def test_with_routing_the_check_leaves_pandas_out(self):
        assert not self.pandas_imported(setup="from pages.ui import routing")

    def test_both_components_modules_use_the_replacement(self):
        from streamlit.components.v1 import custom_component
        from streamlit.components.v2.bidi_component import serialization

        for module in (custom_component, serialization):
            assert hasattr(module.is_dataframe_like, "streamlits"), module.__name__

    def test_the_replacement_answers_as_streamlit_does(self):
        import numpy as np
        import pandas as pd
        from streamlit import dataframe_util

        replacement = routing._plain_data_is_not_a_dataframe(dataframe_util.is_dataframe_like)
        values = [
            {"objects": [{"type": "path"}], "background": "#000"},  # the canvas's drawing
            {"iceServers": [{"urls": ["stun:stun.l.google.com:19302"]}]},  # the webcam's settings
            {"video": True, "audio": False},
            [1, 2, 3],
            [[1, 2], [3, 4]],
            ({"a": 1},),
            {},
            "text",
            None,
            np.zeros((3, 3)),
            [np.zeros(3)],
            {"a": np.zeros(3)},
            {"a": pd.Series([1, 2])},
            pd.DataFrame({"a": [1, 2]}),
        ]
        answers = [replacement(value) for value in values]

        assert answers == [dataframe_util.is_dataframe_like(value) for value in values]
        assert any(answers) and not all(answers)  # both answers occur among these
