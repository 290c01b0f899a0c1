"""Visitors' strings shown as text, and visitors' models kept apart and removed after their session ends."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from resources import REPO
from streamlit.testing.v1 import AppTest

from core.model import ModelCard, save_model

# What a visitor could name a file or write in a card: an image fetched from another host (a tracking pixel),
# a link, HTML, a formula, Streamlit's coloured text and an emoji code.
HOSTILE_TEXT = "![t](http://127.0.0.1:9/track.png) [click me](http://127.0.0.1:9/) <img src=x> $\\frac{1}{0}$ :red[red] :smile: *em* `code`"
# Any of these unescaped would be interpreted ("://" is a bare link in GitHub-flavoured Markdown).
RENDERED_MARKUP = ("](", "<img", "$\\frac", ":red[", "*em*", "`code`", "://")


def shown_text(markdown: str) -> str:
    """What Markdown displays for `markdown` once backslash escapes are resolved (the only escaping literal uses)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def unescaped_markup(markdown: str) -> list[str]:
    plain = re.sub(r"\\[!-/:-@\[-`{-~]", "", markdown)  # escaped characters are literal: drop them
    return [markup for markup in RENDERED_MARKUP if markup in plain]


def markdown_bodies(app: AppTest) -> list[str]:
    """The source of every element that Streamlit renders as Markdown, in the page and the sidebar."""
    bodies = []
    for kind in ("markdown", "caption", "success", "error", "info", "warning", "subheader", "title"):
        bodies += [element.value for element in getattr(app, kind)]
    return bodies


@pytest.fixture(scope="module")
def small_model_file(tmp_path_factory) -> Path:
    from test_robustness_hostile import dense_model

    path = tmp_path_factory.mktemp("models") / "small.keras"
    save_model(dense_model(), ModelCard(name=HOSTILE_TEXT, notes=f"Notes: {HOSTILE_TEXT}"), path)
    return path


def new_app() -> AppTest:
    return AppTest.from_file(str(REPO / "app.py"), default_timeout=300).run()


def upload(app: AppTest, name: str, content: bytes) -> AppTest:
    return app.sidebar.file_uploader(key="models_upload").set_value((name, content, "application/octet-stream")).run()


class TestNamesAreText:
    def test_a_model_and_its_card_named_with_markup_are_shown_as_typed_everywhere(self, small_model_file):
        name = f"{HOSTILE_TEXT}.keras"
        app = upload(new_app(), name, small_model_file.read_bytes())
        bodies = markdown_bodies(app)
        bodies += markdown_bodies(app.run())  # the upload becomes the active model, its card shown, on the next run
        assert not app.exception
        assert f"Loaded {name}." in [shown_text(body) for body in bodies]
        assert f"Notes: {HOSTILE_TEXT}" in [shown_text(body) for body in bodies]  # the card's notes
        assert [body for body in bodies if unescaped_markup(body)] == []

    def test_a_refused_file_named_with_markup_is_named_as_typed(self):
        name = f"{HOSTILE_TEXT}.h5"
        app = upload(new_app(), name, b"not a model")

        (error,) = app.sidebar.error
        assert shown_text(error.value) == f"{name}: not a valid HDF5 model file (truncated or not a model)."
        assert unescaped_markup(error.value) == []

    def test_chart_labels_cannot_carry_html(self):
        from pages.ui import charts

        figure = charts.training_curves([("<a href='http://127.0.0.1:9/'>x</a>", [], [{"epoch": 1, "loss": 1.0, "accuracy": 0.5}])])

        assert all("<a" not in trace.name for trace in figure.data)


class TestVisitorsApart:
    def test_an_upload_is_kept_only_in_its_own_sessions_folder_and_memory(self, small_model_file):
        first, second = upload(new_app(), "mine.keras", small_model_file.read_bytes()).run(), new_app()

        (stored,) = [path for path in (Path(os.environ["MNIST_USER_MODELS"]) / "sessions").rglob("*") if path.is_file()]
        assert "Uploaded: mine.keras" in first.sidebar.selectbox(key="models_active").options
        assert "Uploaded: mine.keras" not in second.sidebar.selectbox(key="models_active").options
        assert str(stored) in str(first.session_state["models"]["Uploaded: mine.keras"].path)
        # Its recognizer lives in the uploader's session state, which Streamlit drops with the session.
        assert [path for path, _ in first.session_state["models_recognizers"]] == [str(stored)]
        assert "models_recognizers" not in second.session_state

    def test_an_ended_sessions_folder_and_old_temporary_files_are_removed(self, tmp_path, monkeypatch):
        from pages.ui import sessions

        ended, connected = sessions.sessions_dir() / "ended-session", sessions.sessions_dir() / "connected-session"
        for folder in (ended, connected):
            folder.mkdir(parents=True)
            (folder / "model.keras").write_bytes(b"x")
        killed_save = sessions.user_models_dir() / ".my_cnn-abc123.keras"
        killed_save.write_bytes(b"half a model")
        fresh_save = sessions.user_models_dir() / ".other-def456.keras"
        fresh_save.write_bytes(b"being written now")
        os.utime(killed_save, (time.time() - 2 * sessions.PARTIAL_AGE_SECONDS,) * 2)
        monkeypatch.setattr(sessions.routing, "session_is_connected", lambda session: session == "connected-session")

        assert sessions.sweep() == [killed_save]  # the ended session is still within its grace period
        removed = sessions.sweep(now=time.time() + sessions.GRACE_SECONDS + 1)

        assert removed == [ended] and not ended.exists()
        assert (connected / "model.keras").exists() and fresh_save.exists()
