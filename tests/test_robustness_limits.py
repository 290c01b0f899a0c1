"""Bounded work per visitor: rate limits, a training's memory estimated before it starts, caches bounded in bytes,
and a training whose visitor has gone stopped with nothing saved."""

from __future__ import annotations

import dataclasses
import threading
import time

import keras
import numpy as np
import pytest
from keras import layers

from core import limits, watchdog
from core.architecture import problem
from core.config import TrainConfig, parameters
from core.jobs import TrainingJob
from core.progress import TrainingStatus
from tests.resources import FakeClock

MB = 2**20


class TestRateLimit:
    def test_allows_count_actions_then_says_how_long_to_wait(self):
        clock = FakeClock()
        limit = limits.RateLimit(3, 600.0, clock)

        assert [limit.take() for _ in range(3)] == [0.0, 0.0, 0.0]
        clock.now += 100
        assert limit.take() == pytest.approx(500.0)
        assert limit.take() == pytest.approx(500.0)  # a refused action is not counted
        clock.now += 500
        assert limit.take() == 0.0

    def test_the_refusal_says_when_to_try_again(self):
        refusal = limits.TRAININGS.refusal(720.0)

        assert refusal.startswith("You have started a training 4 times in the last hour")
        assert refusal.endswith("try again in about 12 minutes.")


class TestByteBoundedCache:
    def test_keeps_the_most_recently_used_within_its_bytes(self):
        cache: limits.ByteBoundedCache[np.ndarray] = limits.ByteBoundedCache(10 * MB)
        for index in range(8):
            cache.put(index, np.zeros(3 * MB, np.uint8))
            assert cache.bytes <= 10 * MB

        assert len(cache) == 3 and cache.get(7) is not None and cache.get(4) is None

    def test_a_value_over_the_bound_is_returned_but_not_kept(self):
        cache: limits.ByteBoundedCache[tuple] = limits.ByteBoundedCache(1 * MB)
        photo = np.zeros((2000, 2000, 3), np.uint8)

        assert cache.put("photo", (photo, "reading")) is not None
        assert cache.get("photo") is None and cache.bytes == 0


def largest(config_field: dataclasses.Field) -> object:
    """The memory-hungriest value the Train page offers for a field: its top, or its largest or last choice."""
    meta = config_field.metadata
    if meta["high"] is not None and config_field.name not in ("seed", "validation_split", "learning_rate"):
        return type(config_field.default)(meta["high"])
    if meta["choices"] and all(isinstance(choice, int) for choice in meta["choices"]):
        return max(meta["choices"])
    if meta["choices"] and "same" in meta["choices"]:  # padding that keeps every map whole (and buildable)
        return "same"
    return config_field.default


class TestTrainingMemoryEstimate:
    def test_counts_the_parameters_of_any_built_model(self):
        model = keras.Sequential([keras.Input((28, 28, 1)), layers.Flatten(), layers.Dense(300), layers.Dense(10)])
        estimate = limits.estimate_model_training(model, batch_size=32, optimizer="adam", training_images=0, held_out=0)

        per_image = 784 + 784 + 300 + 10  # the input, flatten, the two dense layers

        assert estimate.weights == model.count_params() * 4 * (limits.WEIGHT_COPIES + 2)
        assert limits.activations_per_image(model) == per_image
        assert estimate.activations == max(per_image * 4 * 32 * limits.ACTIVATION_COPIES, per_image * 4 * limits.EVALUATION_BATCH)

    def test_grows_with_the_batch_the_network_and_the_data(self):
        base = limits.estimate_training(TrainConfig())
        # Below 256 images a batch, evaluating in batches of 512 is what holds the most activations.
        half_batch = limits.estimate_training(TrainConfig(batch_size=512))
        bigger_batch = limits.estimate_training(TrainConfig(batch_size=1024))
        more_data = limits.estimate_training(TrainConfig(train_size=6000))

        assert bigger_batch.activations == pytest.approx(half_batch.activations * 2, rel=0.01)
        assert half_batch.activations > base.activations
        assert more_data.dataset < base.dataset / 3  # the 10,000 test images are held whatever the training set
        assert base.total < 1024 * MB  # the default training fits in a gigabyte beside the app

    def test_the_largest_settings_are_refused_naming_the_setting_to_lower(self):
        config = TrainConfig(**{spec.name: largest(spec) for spec in parameters()})
        assert problem(config) is not None  # every control at its top: too many parameters, refused by the Train page
        # The largest convolutions with one small dense layer can be built; their batch of activations is what is too big.
        config = config.replace(dense_layers=1, dense1_units=64)
        assert problem(config) is None
        estimate = limits.estimate_training(config)  # nothing allocated: the model is built without its weights
        refusal = limits.training_refusal(estimate, rss=limits.RUNTIME_BYTES, free=64 * 2**30)

        assert estimate.total > limits.ceiling_bytes()
        assert refusal is not None and limits.CEILING_ENV in refusal and "Batch size" in refusal

    def test_the_default_training_fits_under_the_default_ceiling_of_a_fresh_server(self, monkeypatch):
        monkeypatch.delenv(limits.CEILING_ENV, raising=False)

        assert limits.ceiling_bytes() == 2500 * MB
        assert limits.training_refusal(limits.estimate_training(TrainConfig()), rss=limits.RUNTIME_BYTES, free=4 * 2**30) is None

    def test_too_little_free_memory_refuses_with_when_to_try_again(self):
        estimate = limits.estimate_training(TrainConfig())
        refusal = limits.training_refusal(estimate, rss=limits.RUNTIME_BYTES, free=estimate.total // 2)

        assert refusal is not None and "try again in a few minutes" in refusal

    def test_the_estimate_bounds_a_real_trainings_peak_memory(self, mnist):
        from benchmarks.training_memory import measure

        report = measure({"train_size": 3000, "batch_size": 256})
        growth = report["peak"] - report["before"]

        assert growth <= report["estimate"]  # the refusal never lets a training through that would not fit
        assert report["estimate"] <= 3 * growth + 300 * MB  # and it is not so cautious that it refuses what fits


class TestAbandonedTraining:
    @pytest.fixture
    def small_data(self, mnist):
        return mnist._replace(x_train=mnist.x_train[:600], y_train=mnist.y_train[:600])

    def test_a_run_whose_visitor_left_stops_and_saves_nothing(self, small_data, tmp_path, monkeypatch):
        monkeypatch.setattr(watchdog, "ABSENCE_SECONDS", 1.0)
        connected = threading.Event()
        connected.set()
        save_to = tmp_path / "session" / "mine.keras"
        config = TrainConfig(epochs=60, train_size=600, batch_size=8, validation_split=0.0)
        job = TrainingJob(config, small_data, save_to=save_to, name="mine", owner_alive=connected.is_set).start()
        deadline = time.monotonic() + 300
        while job.progress().steps_done < 5 and job.running and time.monotonic() < deadline:
            time.sleep(0.1)  # poll until the run is really training
        assert job.progress().steps_done >= 5

        connected.clear()  # the tab closed
        assert job.wait(timeout=120)  # a bound with a wide margin: it ends within a few batches of ABSENCE_SECONDS

        assert job.status is TrainingStatus.ABANDONED and "discarded" in job.message
        assert job.result is None and not save_to.exists() and not any(tmp_path.rglob("*.keras"))
        assert job.progress().steps_done < job.progress().total_steps

    def test_a_run_whose_visitor_stays_is_saved(self, small_data, tmp_path, monkeypatch):
        monkeypatch.setattr(watchdog, "ABSENCE_SECONDS", 0.0)
        save_to = tmp_path / "mine.keras"
        config = TrainConfig(epochs=1, train_size=300, batch_size=64, validation_split=0.0)
        job = TrainingJob(config, small_data, save_to=save_to, name="mine", owner_alive=lambda: True).start()

        assert job.wait(timeout=300)
        assert job.status is TrainingStatus.FINISHED and save_to.exists()
