"""What one visitor may start in the app: uploads per session, trainings and evaluations that fit in memory, a session's
stored models capped, and a closed session's state dropped."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from test_app import PAGES, open_app, png_bytes, routed  # noqa: F401  (routed is a fixture)

from core import limits
from core.model import ModelCard, save_model


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory) -> bytes:
    from test_robustness_hostile import dense_model

    path = tmp_path_factory.mktemp("models") / "small.keras"
    save_model(dense_model(), ModelCard(name="small"), path)
    return path.read_bytes()


def stored_models() -> list[Path]:
    return [path for path in (Path(os.environ["MNIST_USER_MODELS"]) / "sessions").rglob("*") if path.is_file()]


@pytest.mark.usefixtures("routed", "mnist")
class TestVisitorLimitsInTheApp:
    def test_an_upload_over_the_sessions_allowance_is_refused_saying_when_to_try_again(self, model_bytes, monkeypatch):
        monkeypatch.setattr(limits, "UPLOADS", limits.Allowance("uploaded a model", 1, 600.0, "10 minutes"))
        app = open_app()
        app.sidebar.file_uploader(key="models_upload").upload("first.keras", model_bytes, "application/octet-stream").run()
        app.sidebar.file_uploader(key="models_upload").upload("second.keras", model_bytes + b"", "application/octet-stream").run()

        (error,) = app.sidebar.error
        assert error.value.startswith("second.keras: you have uploaded a model 1 time in the last 10 minutes")
        assert error.value.endswith("try again in about 10 minutes.")
        assert len(stored_models()) == 1 and not app.exception

    def test_a_training_over_the_memory_ceiling_is_refused_before_it_starts(self, monkeypatch):
        monkeypatch.setenv(limits.CEILING_ENV, "64")
        app = open_app(PAGES["Train"])
        app.button(key="train_start").click().run()

        assert [warning.value for warning in app.warning if limits.CEILING_ENV in warning.value]
        assert "train_job" not in app.session_state and not app.exception

    def test_an_evaluation_the_memory_cannot_hold_is_refused_in_one_sentence(self, monkeypatch):
        from pages.ui.evaluation import _evaluation

        _evaluation.clear()  # no evaluation kept from another test
        monkeypatch.setenv(limits.CEILING_ENV, "64")
        app = open_app(PAGES["Evaluate"])

        (warning,) = app.warning
        assert warning.value.startswith("Evaluating needs about") and "fewer test images" in warning.value
        assert not app.exception and not app.main.metric  # the page stopped before its figures

    def test_a_photo_is_kept_in_its_own_sessions_byte_bounded_cache(self, mnist):
        photo = np.zeros((3000, 4000, 3), np.uint8) + 255  # 12 MP: 36 MB decoded
        photo[1400:1600, 1900:2100] = 0
        app = open_app(PAGES["Draw"])
        app.file_uploader(key="draw_upload").upload("page.png", png_bytes(photo), "image/png").run()
        other = open_app(PAGES["Draw"])

        cache = app.session_state["photos_cache"]
        assert 0 < cache.bytes <= 2000 * 1500 * 3 + 2**20  # shown at 2000 px at most, not 36 MB
        assert "photos_cache" not in other.session_state


class TestStoredModelsCapped:
    def test_the_oldest_models_beyond_a_sessions_cap_are_removed(self, monkeypatch):
        from pages.ui import sessions

        folder = sessions.sessions_dir() / "busy-session"
        folder.mkdir(parents=True)
        for index in range(sessions.MAX_SESSION_MODELS + 2):
            path = folder / f"model-{index}.keras"
            path.write_bytes(b"x" * 1000)
            os.utime(path, (time.time() - 100 + index,) * 2)

        removed = sessions.enforce_caps()

        assert sorted(path.name for path in removed) == ["model-0.keras", "model-1.keras"]
        assert len(list(folder.iterdir())) == sessions.MAX_SESSION_MODELS

    def test_the_oldest_models_go_first_when_the_server_total_is_over_its_cap(self, monkeypatch):
        from pages.ui import sessions

        monkeypatch.setattr(sessions, "MAX_SERVER_BYTES", 2500)
        for index, session in enumerate(("first", "second", "third")):
            folder = sessions.sessions_dir() / session
            folder.mkdir(parents=True)
            (folder / "model.keras").write_bytes(b"x" * 1000)
            os.utime(folder / "model.keras", (time.time() - 100 + index,) * 2)

        assert [path.parent.name for path in sessions.enforce_caps()] == ["first"]

    def test_a_session_without_a_browser_is_closed_after_the_grace_period(self, monkeypatch):
        from pages.ui import sessions

        closed: list[str] = []
        monkeypatch.setattr(sessions.routing, "disconnected_sessions", lambda: ["gone"])
        monkeypatch.setattr(sessions.routing, "close_session", closed.append)
        now = time.time()

        assert sessions.close_absent_sessions(now) == [] and closed == []
        assert sessions.close_absent_sessions(now + sessions.GRACE_SECONDS) == ["gone"] and closed == ["gone"]
