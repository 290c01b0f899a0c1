"""Nothing lost, nothing mixed up: saves killed midway, saves racing under one name, many users at once while one trains."""

from __future__ import annotations

import hashlib
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from resources import REPO, wait_until

from core.config import TrainConfig
from core.data import Mnist
from core.inference import Recognizer
from core.jobs import TrainingJob
from core.model import SHIPPED_MODEL, ModelCard, build_model, load_model, save_model
from core.modelfile import unique_model_path, user_models_dir

SMALL = TrainConfig(conv1_filters=4, conv2_filters=4, dense1_units=16)

# Saves the same model over and over to one path; version N has every output bias equal to N and a card saying N,
# so a file that mixed two versions, or half of one, would show it.
SAVE_FOREVER = """
import sys
import numpy as np
import core
from core.config import TrainConfig
from core.model import ModelCard, build_model, save_model

model = build_model(TrainConfig())
bias = model.get_layer("probabilities").bias
version = 0
while True:
    version += 1
    bias.assign(np.full(10, version, np.float32))
    save_model(model, ModelCard(name=f"version-{version}"), sys.argv[1])
    print(version, flush=True)
"""


def saved_version(path: Path) -> tuple[int, int]:
    """(version on the card, version in the weights) of a model written by SAVE_FOREVER."""
    model, card = load_model(path)
    biases = model.get_layer("probabilities").get_weights()[1]
    assert len(set(biases.tolist())) == 1
    return int(card.name.removeprefix("version-")), int(biases[0])


class TestKilledWhileSaving:
    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_previous_model_survives_a_kill_at_a_random_moment(self, tmp_path, seed):
        target = tmp_path / "model.keras"
        saver = subprocess.Popen(
            [sys.executable, "-c", SAVE_FOREVER, str(target)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        try:
            assert saver.stdout.readline().strip() == "1"  # one complete save is on disk
            time.sleep(random.Random(seed).uniform(0.0, 1.0))
            # Kill while a save is under way: its temporary file exists from the first byte to the rename.
            assert wait_until(lambda: any(path.name.startswith(".model-") for path in tmp_path.iterdir()), 300.0, poll=0.001)
        finally:
            saver.send_signal(signal.SIGKILL)
            saver.wait(timeout=60)

        assert saver.returncode == -signal.SIGKILL
        card_version, weights_version = saved_version(target)
        assert card_version == weights_version >= 1
        # Only the interrupted save's hidden temporary file may remain beside the complete model.
        assert [path.name for path in tmp_path.iterdir() if not path.name.startswith(".")] == ["model.keras"]


class TestSavingUnderOneName:
    def test_unique_model_path_gives_every_thread_its_own_file(self):
        paths: list[Path] = []
        threads = [threading.Thread(target=lambda: paths.append(unique_model_path("my model"))) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert len(set(paths)) == 16
        assert all(path.parent == user_models_dir() and path.name.startswith("my-model-") for path in paths)

    def test_two_threads_saving_to_one_path_leave_one_complete_file(self, tmp_path):
        target = tmp_path / "shared.keras"
        models = {}
        for version in (1, 2):
            models[version] = build_model(SMALL)
            models[version].get_layer("probabilities").bias.assign(np.full(10, version, np.float32))
        failures: list[BaseException] = []

        def save_repeatedly(version: int) -> None:
            try:
                for _ in range(5):
                    save_model(models[version], ModelCard(name=f"version-{version}"), target)
            except BaseException as error:  # collected for the assertion below
                failures.append(error)

        threads = [threading.Thread(target=save_repeatedly, args=(version,)) for version in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert failures == []
        card_version, weights_version = saved_version(target)
        assert card_version == weights_version in (1, 2)
        assert [path.name for path in tmp_path.iterdir()] == ["shared.keras"]


class TestTrainedModelsStayInTheUserFolder:
    @pytest.mark.parametrize("name", ["mnist_cnn", "../models/mnist_cnn", "/tmp/mnist_cnn.keras", "..", ""])
    def test_any_name_lands_in_the_user_folder(self, name):
        path = unique_model_path(name)

        assert path.parent == user_models_dir() and path.suffix == ".keras"
        assert path != SHIPPED_MODEL

    def test_user_folder_follows_the_environment_variable(self, tmp_path, monkeypatch):
        monkeypatch.setenv("MNIST_USER_MODELS", str(tmp_path / "elsewhere"))

        assert unique_model_path("mnist_cnn").parent == tmp_path / "elsewhere"


def paper_digit(image: np.ndarray) -> np.ndarray:
    """A real MNIST digit as dark ink on white paper.  (28, 28) uint8 -> (156, 156) uint8."""
    return np.pad(255 - cv2.resize(image, (56, 56), interpolation=cv2.INTER_LINEAR), 50, constant_values=255)


def answers(recognizer: Recognizer, images: list[np.ndarray]) -> list[tuple[int | None, np.ndarray, str]]:
    """(digit, probabilities) from classify and the number from read, for each image."""
    results = []
    for image in images:
        prediction = recognizer.classify(image)
        results.append((prediction.digit, prediction.probabilities, recognizer.read(image).number))
    return results


@pytest.fixture(scope="module")
def busy_server(mnist, recognizer, tmp_path_factory):
    """Five sessions drawing and reading at once, on two shared models, while a sixth trains through a TrainingJob.

    Returns what happened: the answers each session got versus the ones expected, the training job and its path,
    and the shared model's weights and the shipped file's hash before and after.
    """
    user_folder = tmp_path_factory.mktemp("user_models")
    # A second model for other sessions (a user's upload, say): a different network, loaded from its own file.
    other_path = tmp_path_factory.mktemp("other") / "other.keras"
    save_model(build_model(TrainConfig(seed=9, conv1_filters=8)), ModelCard(name="other"), other_path)
    other = Recognizer.load(other_path)
    images = [paper_digit(mnist.x_test[index]) for index in range(24)]
    canvases = [np.dstack([image] * 3 + [np.full_like(image, 255)]) for image in images[:8]]  # RGBA, as the canvas gives
    sessions = [(recognizer, images[0:12]), (recognizer, images[12:24]), (recognizer, canvases), (other, images[0:12]), (other, canvases)]
    expected = [answers(model, session_images) for model, session_images in sessions]
    weights_before = [weight.copy() for weight in recognizer.model.get_weights()]
    shipped_hash = hashlib.sha256(SHIPPED_MODEL.read_bytes()).hexdigest()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MNIST_USER_MODELS", str(user_folder))
        quick = Mnist(mnist.x_train, mnist.y_train, mnist.x_test[:500], mnist.y_test[:500], mnist.source)
        save_to = unique_model_path("mnist_cnn")
        job = TrainingJob(TrainConfig(epochs=1, train_size=1000, batch_size=32, seed=4), quick, save_to=save_to, name="mnist_cnn")
        mismatches: list[str] = []
        answered_during_training = [0] * len(sessions)
        errors: list[BaseException] = []

        def session(number: int) -> None:
            model, session_images = sessions[number]
            try:
                rounds = 0
                while rounds < 2 or job.running:
                    for got, want in zip(answers(model, session_images), expected[number], strict=True):
                        if got[0] != want[0] or got[2] != want[2] or not np.allclose(got[1], want[1], atol=1e-5):
                            mismatches.append(f"session {number}: got {got[0]!r}/{got[2]!r}, expected {want[0]!r}/{want[2]!r}")
                        answered_during_training[number] += job.running
                    rounds += 1
            except BaseException as error:  # collected for the assertion in the test
                errors.append(error)

        job.start()
        threads = [threading.Thread(target=session, args=(number,)) for number in range(len(sessions))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=900)
        assert job.wait(timeout=900)
    return {
        "expected": expected,
        "mismatches": mismatches,
        "errors": errors,
        "answered_during_training": answered_during_training,
        "job": job,
        "save_to": save_to,
        "user_folder": user_folder,
        "weights_before": weights_before,
        "weights_after": recognizer.model.get_weights(),
        "shipped_hash": (shipped_hash, hashlib.sha256(SHIPPED_MODEL.read_bytes()).hexdigest()),
    }


class TestManyUsersAtOnce:
    def test_every_session_answered_while_the_model_was_training(self, busy_server):
        assert busy_server["errors"] == []
        assert all(count > 0 for count in busy_server["answered_during_training"])

    def test_every_answer_stays_correct(self, busy_server):
        assert busy_server["mismatches"] == []

    def test_the_expected_answers_are_right_for_the_shipped_model(self, busy_server, mnist):
        digits = [digit for digit, _, _ in busy_server["expected"][0] + busy_server["expected"][1]]

        assert digits == mnist.y_test[:24].tolist()

    def test_sessions_on_different_models_get_their_own_models_answers(self, busy_server):
        shipped, other = busy_server["expected"][0], busy_server["expected"][3]

        # Same images, two models: the answers differ, so a session served by the wrong model would be caught.
        assert any(not np.allclose(a[1], b[1], atol=1e-3) for a, b in zip(shipped, other, strict=True))

    def test_shared_model_weights_are_unchanged(self, busy_server):
        before, after = busy_server["weights_before"], busy_server["weights_after"]

        assert len(before) == len(after) and all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))

    def test_training_finished_and_saved_in_the_user_folder(self, busy_server):
        job = busy_server["job"]

        assert job.error is None and job.result.status == "finished"
        assert job.result.path == busy_server["save_to"] and job.result.path.parent == busy_server["user_folder"]
        assert load_model(job.result.path)[1].name == "mnist_cnn"

    def test_shipped_model_file_is_untouched(self, busy_server):
        before, after = busy_server["shipped_hash"]

        assert before == after
