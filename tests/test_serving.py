"""The light runtime: LiteRT gives Keras's answers, is derived from the .keras file and cached, and never needs TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import keras
import numpy as np
from resources import REPO

from core import serving
from core.inference import Recognizer
from core.model import SHIPPED_MODEL, ModelCard, save_model


class TestTheShippedModel:
    def test_litert_gives_keras_answers_on_all_10000_mnist_test_images(self, recognizer, mnist):
        images = mnist.x_test / np.float32(255)  # (10000, 28, 28)
        served = recognizer.raw_probabilities(images)
        expected = recognizer.model.predict(images[..., None], batch_size=1000, verbose=0)
        assert recognizer.runtime_name == "LiteRT"
        assert np.abs(served - expected).max() <= 1e-5
        np.testing.assert_array_equal(served.argmax(axis=1), expected.argmax(axis=1))

    def test_its_litert_file_is_committed_beside_it(self):
        # A changed shipped model needs its file refreshed: python -m core.serving models/mnist_cnn.keras
        found = serving.cached_runtime(SHIPPED_MODEL)
        assert found is not None and found.parent == serving.SHIPPED_RUNTIME_DIR

    def test_threads_calling_at_once_get_the_answers_of_one_thread(self, recognizer, mnist):
        images = mnist.x_test[:96] / np.float32(255)
        batches = ((0, 1), (1, 5), (6, 90))  # one image, a padded batch, and more than one chunk of 64
        expected = [recognizer.raw_probabilities(images[start : start + size]) for start, size in batches]
        results: dict[int, list[np.ndarray]] = {}

        def call(thread: int) -> None:
            results[thread] = [recognizer.raw_probabilities(images[start : start + size]) for start, size in batches * 5]

        threads = [threading.Thread(target=call, args=(thread,)) for thread in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for outputs in results.values():
            for index, output in enumerate(outputs):
                np.testing.assert_array_equal(output, expected[index % 3])


class TestATrainedModel:
    def test_a_freshly_trained_model_is_served_by_litert_with_keras_answers(self, small_model, mnist):
        path, result = small_model
        recognizer = Recognizer.load(path)
        images = mnist.x_test[:2000] / np.float32(255)
        served = recognizer.raw_probabilities(images)
        expected = result.model.predict(images[..., None], verbose=0)
        assert recognizer.runtime_name == "LiteRT" and not recognizer.note
        assert np.abs(served - expected).max() <= 1e-5
        np.testing.assert_array_equal(served.argmax(axis=1), expected.argmax(axis=1))

    def test_its_litert_file_is_made_once_and_keyed_by_the_file(self, small_model, tmp_path):
        path, _ = small_model
        Recognizer.load(path)
        derived = serving.cached_runtime(path)
        assert derived is not None and derived.parent == serving.cache_dir()
        made = derived.stat().st_mtime_ns
        Recognizer.load(path)
        assert derived.stat().st_mtime_ns == made  # found in the cache, not converted again
        changed = tmp_path / "changed.keras"
        changed.write_bytes(path.read_bytes() + b"\0")  # other bytes (a zip ignores trailing bytes): another key
        assert serving.cached_runtime(changed) is None


def _unconvertible_model(path: Path) -> Path:
    """A valid digit model whose bicubic resize has no LiteRT built-in operation."""
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Resizing(14, 14, interpolation="bicubic")(inputs)
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(x))
    return save_model(keras.Model(inputs, outputs), ModelCard(name="bicubic"), path)


class TestAModelLiteRTCannotRun:
    def test_it_runs_on_tensorflow_with_a_one_line_note(self, tmp_path, mnist):
        path = _unconvertible_model(tmp_path / "bicubic.keras")
        recognizer = Recognizer.load(path)
        images = mnist.x_test[:50] / np.float32(255)
        assert recognizer.runtime_name == "TensorFlow"
        assert recognizer.note.startswith("This model runs on TensorFlow") and "\n" not in recognizer.note
        np.testing.assert_allclose(recognizer.raw_probabilities(images), recognizer.model.predict(images[..., None], verbose=0), atol=1e-6)
        assert (serving.cache_dir() / f"{serving.file_key(path)}.failed").is_file()  # not tried again on the next load


CHILD = """
import json, sys
from core.inference import Recognizer
from core.modelfile import ModelFileError
recognizer = Recognizer.load(sys.argv[1])
refused = ""
try:
    Recognizer.load(sys.argv[2])
except ModelFileError as error:
    refused = str(error)
print(json.dumps({"runtime": recognizer.runtime_name, "tensorflow": "tensorflow" in sys.modules, "refused": refused}))
"""


class TestAServerWithoutTensorFlow:
    def test_converts_a_new_model_in_a_child_process_and_refuses_a_bad_file_in_one_sentence(self, small_model, tmp_path):
        path, _ = small_model
        damaged = tmp_path / "damaged.keras"  # a sound zip whose architecture is not JSON: only Keras's side finds out
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(damaged, "w") as target:
            for member in source.namelist():
                target.writestr(member, b"{not json" if member == "config.json" else source.read(member))
        environment = {"MNIST_SERVING_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
        finished = subprocess.run(
            [sys.executable, "-c", CHILD, str(path), str(damaged)], cwd=REPO, env=environment, capture_output=True, text=True, check=True
        )
        outcome = json.loads(finished.stdout.strip().splitlines()[-1])
        assert outcome["runtime"] == "LiteRT" and not outcome["tensorflow"]
        assert outcome["refused"] == "damaged.keras: its architecture is not valid JSON (the file is damaged)."
        assert list((tmp_path / "cache").glob("*.tflite"))
