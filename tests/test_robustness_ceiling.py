"""The server's memory ceiling while a training runs: it is stopped, and nothing saved, once the process passes it."""

from __future__ import annotations

import pytest
from test_app import routed  # noqa: F401  (a fixture)

from core import limits, watchdog
from core.config import TrainConfig
from core.jobs import TrainingJob
from core.progress import MemoryCeilingReached, TrainingStatus
from tests.resources import FakeClock

MB = limits.MB


class TestStopAtMemoryCeiling:
    def test_under_the_ceiling_the_training_goes_on(self):
        guard = watchdog.StopAtMemoryCeiling(rss=lambda: 900 * MB, ceiling=lambda: 1000 * MB)

        guard.on_train_begin()
        guard.on_train_batch_begin(0)  # no exception: the run carries on

    def test_past_the_ceiling_it_stops_in_one_sentence_naming_the_setting(self):
        guard = watchdog.StopAtMemoryCeiling(rss=lambda: 1001 * MB, ceiling=lambda: 1000 * MB)

        with pytest.raises(MemoryCeilingReached) as stopped:
            guard.on_train_batch_begin(0)

        message = str(stopped.value)
        assert "1000 MB" in message and limits.CEILING_ENV in message and "discarded" in message
        assert message.count(". ") == 0 and "\n" not in message

    def test_a_run_is_stopped_at_the_first_check_after_memory_grows_past_the_ceiling(self):
        clock = FakeClock()
        readings = iter([500, 900, 1200, 1300])  # MB, one per check: the run grows past 1000 MB at its third check
        guard = watchdog.StopAtMemoryCeiling(rss=lambda: next(readings) * MB, ceiling=lambda: 1000 * MB, clock=clock)
        stopped_at = None
        for batch in range(100):
            clock.now = batch * 0.5  # a batch every half second: memory is read every fourth batch
            try:
                guard.on_train_batch_begin(batch)
            except MemoryCeilingReached:
                stopped_at = batch
                break

        assert stopped_at == 2 * round(watchdog.CHECK_SECONDS / 0.5)  # the third reading, not before and not after

    def test_memory_is_read_at_most_every_few_seconds(self):
        readings: list[int] = []
        clock = FakeClock()

        def rss() -> int:
            readings.append(1)
            return 0

        guard = watchdog.StopAtMemoryCeiling(rss=rss, ceiling=lambda: 1000 * MB, clock=clock)
        for batch in range(50):
            guard.on_train_batch_begin(batch)
        clock.now += watchdog.CHECK_SECONDS
        guard.on_train_batch_begin(50)

        assert len(readings) == 2


class TestATrainingPastTheCeiling:
    def test_a_real_training_is_stopped_and_saves_nothing(self, mnist, tmp_path, monkeypatch):
        # The process already holds TensorFlow and MNIST: far more than a ceiling of 64 MB.
        monkeypatch.setenv(limits.CEILING_ENV, "64")
        data = mnist._replace(x_train=mnist.x_train[:600], y_train=mnist.y_train[:600])
        save_to = tmp_path / "mine.keras"
        config = TrainConfig(epochs=3, train_size=600, batch_size=32, validation_split=0.0)

        job = TrainingJob(config, data, save_to=save_to, name="mine").start()

        assert job.wait(timeout=300)
        assert job.status is TrainingStatus.FAILED and "64 MB" in job.message and "discarded" in job.message
        assert job.result is None and not save_to.exists() and not any(tmp_path.rglob("*.keras"))
        assert job.progress().steps_done < job.progress().total_steps

    def test_the_same_training_under_the_ceiling_is_saved(self, mnist, tmp_path, monkeypatch):
        monkeypatch.setenv(limits.CEILING_ENV, str(limits.process_rss() // MB + 4000))
        data = mnist._replace(x_train=mnist.x_train[:600], y_train=mnist.y_train[:600])
        save_to = tmp_path / "mine.keras"
        config = TrainConfig(epochs=1, train_size=300, batch_size=64, validation_split=0.0)

        job = TrainingJob(config, data, save_to=save_to, name="mine").start()

        assert job.wait(timeout=300)
        assert job.status is TrainingStatus.FINISHED and save_to.exists()


class TestAnEvaluationPastTheCeiling:
    def test_evaluate_model_stops_when_its_guard_says_so(self, mnist, monkeypatch):
        from core.evaluate import evaluate_model
        from core.model import SHIPPED_MODEL, load_model

        model, _ = load_model(SHIPPED_MODEL)
        monkeypatch.setenv(limits.CEILING_ENV, "64")

        guard = watchdog.StopAtMemoryCeiling(watchdog.StopAtMemoryCeiling.EVALUATION)

        with pytest.raises(MemoryCeilingReached, match="during this evaluation, so it was stopped"):
            evaluate_model(model, mnist.x_test[:1000], mnist.y_test[:1000], guard=guard)

    @pytest.mark.usefixtures("routed")
    def test_the_evaluate_page_says_so_in_one_sentence_and_keeps_going(self, monkeypatch):
        from test_app import PAGES, open_app

        from pages.ui import quotas
        from pages.ui.evaluation import _evaluation

        _evaluation.clear()  # no evaluation kept from another test
        # The check before it starts lets it through (as when memory was there then); the ceiling is passed meanwhile.
        monkeypatch.setattr(quotas, "evaluation_refusal", lambda model, count: None)
        monkeypatch.setenv(limits.CEILING_ENV, "64")
        try:
            app = open_app(PAGES["Evaluate"])
        finally:
            _evaluation.clear()  # nothing of this run kept for the next test

        (warning,) = app.warning
        assert warning.value.startswith("The server's memory passed its ceiling of 64 MB") and "fewer test images" in warning.value
        assert not app.exception and not app.main.metric  # the page stopped before its figures
