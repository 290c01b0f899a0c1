"""Robustness of training: learning rates that blow up, batches larger than the data, tiny subsets, late stops, bad data."""

from __future__ import annotations

import math
import zipfile

import keras
import numpy as np
import pytest

from core import cli
from core.config import TrainConfig
from core.data import DatasetError, Mnist, load_mnist
from core.jobs import TrainingJob
from core.model import ModelCard, build_model, load_model, read_card, save_model
from core.training import EXPLODED_LOSS, StopOnDivergence, make_splits, train

# SGD (momentum 0.9) at the highest learning rate the config allows, with batch norm: the loss passes a million
# within the first batches of the first epoch (measured for seeds 1-3); the seed CNN instead dies quietly.
DIVERGING = TrainConfig(
    epochs=2, train_size=500, batch_size=16, learning_rate=1.0, lr_schedule="constant", optimizer="sgd", architecture="wide", seed=1
)


@pytest.fixture(scope="module")
def quick_data(mnist):
    """Real MNIST with a 500-image test set, so that the card's test evaluation stays short."""
    return Mnist(mnist.x_train, mnist.y_train, mnist.x_test[:500], mnist.y_test[:500], mnist.source)


@pytest.fixture(scope="module")
def previous_model(tmp_path_factory):
    """A model file the user already has, which a failed run must leave exactly as it was: (path, its bytes)."""
    path = tmp_path_factory.mktemp("mine") / "mine.keras"
    save_model(build_model(TrainConfig(conv1_filters=4, conv2_filters=4, dense1_units=16)), ModelCard(name="previous"), path)
    return path, path.read_bytes()


@pytest.fixture(scope="module")
def diverged_job(quick_data, previous_model):
    """DIVERGING run as the Train page runs it, on a background thread, told to save over the previous model."""
    path, _ = previous_model
    job = TrainingJob(DIVERGING, quick_data, save_to=path, name="too-fast").start()
    assert job.wait(timeout=600)
    return job


class TestDivergingLearningRate:
    def test_run_ends_with_status_diverged(self, diverged_job):
        assert diverged_job.error is None
        assert diverged_job.result.status == "diverged"
        assert diverged_job.progress().status == "diverged"

    def test_message_says_what_happened_and_what_to_do(self, diverged_job):
        message = diverged_job.progress().message

        assert message.startswith("Training diverged (the loss exploded to ")
        assert "lower the learning rate" in message and "No model was saved." in message

    def test_run_stops_within_the_first_epoch(self, diverged_job):
        assert len(diverged_job.result.history["loss"]) == 1 < DIVERGING.epochs
        assert diverged_job.progress().steps_done < diverged_job.progress().total_steps / DIVERGING.epochs

    def test_no_model_is_returned_or_saved(self, diverged_job):
        assert diverged_job.result.model is None and diverged_job.result.path is None

    def test_previous_model_file_is_untouched_and_loads(self, diverged_job, previous_model):
        path, original = previous_model

        assert path.read_bytes() == original
        assert read_card(path).name == "previous"
        assert sorted(item.name for item in path.parent.iterdir()) == ["mine.keras"]  # no half-written temporary file

    def test_adam_at_the_top_learning_rate_is_caught_though_its_loss_never_becomes_nan(self, quick_data, tmp_path):
        # Adam at 1.0 drives the loss to ~1e6 and then to chance level (2.3) with finite weights: without the
        # explosion check this run used to finish and save a network that answers at random.
        config = DIVERGING.replace(optimizer="adam", architecture="seed", epochs=1)

        result = train(config, quick_data, save_to=tmp_path / "adam.keras")

        assert result.status == "diverged" and result.history["loss"][-1] > EXPLODED_LOSS
        assert not (tmp_path / "adam.keras").exists()


class TestStopOnDivergence:
    @pytest.mark.parametrize("loss", [math.nan, math.inf, 10 * EXPLODED_LOSS])
    def test_stops_training_on_a_nan_infinite_or_exploded_loss(self, loss):
        callback = StopOnDivergence()
        callback.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))

        callback.on_train_batch_end(0, {"loss": loss})

        assert callback.model.stop_training and (callback.loss == loss or math.isnan(callback.loss))

    def test_lets_an_ordinary_loss_train_on(self):
        callback = StopOnDivergence()
        callback.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
        callback.model.stop_training = False

        callback.on_train_batch_end(0, {"loss": 2.3})

        assert not callback.model.stop_training and callback.loss is None


@pytest.fixture(scope="module")
def oversized_batch_job(quick_data, tmp_path_factory):
    """100 images (99 to train on, 1 to validate) in batches of 1024, run as a TrainingJob; Stop pressed after the end."""
    path = tmp_path_factory.mktemp("batch") / "big-batch.keras"
    config = TrainConfig(epochs=2, train_size=100, batch_size=1024, validation_split=0.01, seed=3)
    job = TrainingJob(config, quick_data, save_to=path, name="big-batch").start()
    assert job.wait(timeout=600)
    finished_bytes = path.read_bytes()
    job.stop()
    job.stop()
    return job, path, finished_bytes


class TestBatchLargerThanTheData:
    def test_each_epoch_is_one_step_over_all_the_images(self, oversized_batch_job):
        job, _, _ = oversized_batch_job

        assert job.error is None and job.result.status == "finished"
        assert job.progress().total_steps == 2 and job.progress().steps_done == 2

    def test_finished_model_is_saved_and_loads(self, oversized_batch_job):
        job, path, _ = oversized_batch_job

        model, card = load_model(path)

        assert card.epochs_completed == 2
        assert model.count_params() == job.result.model.count_params()

    def test_a_single_validation_image_still_gives_a_calibration_temperature(self, oversized_batch_job, quick_data):
        job, _, _ = oversized_batch_job

        assert len(make_splits(job.config, quick_data).x_val) == 1
        assert 0.25 <= job.result.card.temperature <= 4.0 and "val_accuracy" in job.result.card.metrics


class TestStopAfterTheRunEnded:
    def test_status_and_result_stay_finished(self, oversized_batch_job):
        job, _, _ = oversized_batch_job

        assert job.result.status == "finished" and job.progress().status == "finished"
        assert not job.running

    def test_saved_model_is_not_touched(self, oversized_batch_job):
        _, path, finished_bytes = oversized_batch_job

        assert path.read_bytes() == finished_bytes


class TestTinySubsets:
    def test_no_training_images_raise_a_clear_value_error(self, mnist):
        empty = Mnist(mnist.x_train[:0], mnist.y_train[:0], mnist.x_test, mnist.y_test, "empty")

        with pytest.raises(ValueError, match="No training images remain: 0 drawn"):
            make_splits(TrainConfig(train_size=100), empty)

    def test_a_single_image_still_gives_a_training_split(self, mnist):
        single = Mnist(mnist.x_train[:1], mnist.y_train[:1], mnist.x_test, mnist.y_test, "one image")

        splits = make_splits(TrainConfig(train_size=100, validation_split=0.5, augment_styles=False, augment_square=False), single)

        assert len(splits.x_train) == 1

    @pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
    def test_learning_rate_that_is_not_a_number_is_refused(self, value):
        with pytest.raises(ValueError, match="learning_rate must be between"):
            TrainConfig(learning_rate=value)


class TestCommandLineTrainingErrors:
    def test_output_that_is_not_a_keras_file_is_refused_before_training(self, capsys, tmp_path):
        code = cli.main(["train", "--epochs", "1", "--train-size", "100", "--output", str(tmp_path / "mine.h5")])

        assert code == 2 and capsys.readouterr().err == (
            "error: mine.h5: models are saved in the .keras format; the output name should end in .keras.\n"
        )
        assert list(tmp_path.iterdir()) == []

    def test_output_folder_that_cannot_exist_is_refused_before_training(self, capsys, tmp_path):
        (tmp_path / "notes.txt").write_text("a file where the folder should be")

        code = cli.main(["train", "--epochs", "1", "--train-size", "100", "--output", str(tmp_path / "notes.txt" / "mine.keras")])

        error = capsys.readouterr().err
        assert code == 2 and error.startswith(f"error: mine.keras: cannot be saved in {tmp_path / 'notes.txt'} (")
        assert error.count("\n") == 1

    def test_learning_rate_out_of_range_is_one_line(self, capsys):
        code = cli.main(["train", "--learning-rate", "nan"])

        assert code == 2 and capsys.readouterr().err == "error: learning_rate must be between 1e-05 and 1, not nan.\n"


@pytest.fixture
def truncated_npz(mnist, tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=mnist.x_train, y_train=mnist.y_train, x_test=mnist.x_test, y_test=mnist.y_test)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])  # a download cut off a third of the way
    return path


class TestBrokenDataset:
    def test_truncated_npz_gives_dataset_error_with_the_remedy(self, truncated_npz):
        with pytest.raises(DatasetError) as caught:
            load_mnist(truncated_npz)

        assert str(truncated_npz) in str(caught.value) and "Set MNIST_PATH to an MNIST .npz" in str(caught.value)

    def test_npz_that_is_a_zip_of_something_else_gives_dataset_error(self, tmp_path):
        path = tmp_path / "mnist.npz"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("readme.txt", "not arrays")

        with pytest.raises(DatasetError, match="lacks the arrays x_train, y_train, x_test, y_test"):
            load_mnist(path)

    def test_cli_evaluate_shows_a_broken_dataset_as_one_line(self, truncated_npz, monkeypatch, capsys):
        monkeypatch.setenv("MNIST_PATH", str(truncated_npz))

        code = cli.main(["evaluate", "--limit", "10"])

        error = capsys.readouterr().err
        assert code == 2 and error.startswith("error: ") and error.count("\n") == 1
        assert "MNIST_PATH" in error and "mnist.npz" in error

    def test_cli_evaluate_shows_a_missing_dataset_as_one_line(self, tmp_path, monkeypatch, capsys):
        monkeypatch.setenv("MNIST_PATH", str(tmp_path / "nowhere.npz"))

        code = cli.main(["evaluate", "--limit", "10"])

        error = capsys.readouterr().err
        assert code == 2 and error.startswith("error: MNIST_PATH points to ") and error.count("\n") == 1
