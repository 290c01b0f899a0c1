"""Hostile model files: declared-huge layers, zip bombs, a lying zip directory, deep JSON, huge HDF5 datasets, bad cards.

Each file is a few kilobytes to a few megabytes and declares gigabytes. The probe loads them all in a fresh process
and reports its peak memory and the temporary disk it saw; a file that got past the checks would show there.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import hostile_models as hostile
import keras
import numpy as np
import pytest
from keras import layers
from resources import REPO, assert_one_line_error

from core.config import TrainConfig
from core.model import (
    MAX_ACTIVATIONS,
    MAX_PARAMETERS,
    ModelCard,
    ModelFileError,
    build_model,
    declared_size,
    load_model,
    read_card,
    save_model,
)

MEMORY_BOUND_MB = 300  # over the baseline of a process that has loaded the shipped model
DISK_BOUND_MB = 100


def dense_model() -> keras.Model:
    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Dense(30, activation="relu")(layers.Flatten()(inputs))
    x = layers.Dense(30, activation="relu")(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(x))


def conv_model() -> keras.Model:
    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(4, 3, activation="relu")(inputs)
    x = layers.Conv2D(4, 3, activation="relu")(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(layers.GlobalAveragePooling2D()(x)))


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """Every hostile file, written by the real Keras, h5py and a raw zip writer, with what its refusal must say."""
    folder = tmp_path_factory.mktemp("hostile")
    dense, conv = folder / "dense.keras", folder / "conv.keras"
    save_model(dense_model(), ModelCard(name="dense"), dense)
    save_model(conv_model(), ModelCard(name="conv"), conv)
    expected: dict[str, str] = {}

    def add(name: str, problem: str) -> Path:
        expected[name] = problem
        return folder / name

    # Declared, not stored: Keras would allocate 3.6 GB per Dense kernel and 1.3 GB for the convolution.
    hostile.with_config(
        dense, add("dense-30000.keras", "parameters, over the 20,000,000 limit"), hostile.resize_layers("Dense", "units", 30, 30_000)
    )
    hostile.with_config(
        conv, add("conv-6000.keras", "parameters, over the 20,000,000 limit"), hostile.resize_layers("Conv2D", "filters", 4, 6_000)
    )
    hostile.with_config(conv, add("conv-wide-activations.keras", "values per image, over the 2,000,000 limit"), _one_huge_conv)

    # Zip bombs: each member inflates to 400 MB.
    members = hostile.members_of(dense)
    config = zipfile.ZipFile(dense).read("config.json")
    weights = zipfile.ZipFile(dense).read("model.weights.h5")
    bomb = hostile.BOMB_BYTES
    hostile.write_zip(
        add("card-bomb.keras", "its part 'model_card.json' unpacks to 400 MB"),
        {**members, "model_card.json": hostile.padded(b'{"name": "x", "notes": "', b"a", bomb)},
    )
    hostile.write_zip(
        add("config-bomb.keras", "its part 'config.json' unpacks to 400 MB"), {**members, "config.json": hostile.padded(config, b" ", bomb)}
    )
    hostile.write_zip(
        add("weights-bomb.keras", "its part 'model.weights.h5' unpacks to 400 MB"),
        {**members, "model.weights.h5": hostile.padded(weights, b"\0", bomb)},
    )
    blobs = {f"assets/blob{index}": hostile.padded(b"", b"\0", 64 * 2**20) for index in range(12)}
    hostile.write_zip(add("many-blobs.keras", "unpacks to 768 MB, over the 96 MB"), {**members, **blobs})
    blobs = {f"assets/blob{index}": hostile.padded(b"", b"\0", 256 * 2**20) for index in range(24)}
    hostile.write_zip(add("24-members.keras", "holds 28 files, more than a digit model's 16"), {**members, **blobs})
    # The directory says config.json is its real size; its data inflates to 400 MB (and the CRC is of all of it).
    lying = hostile.padded(config, b" ", bomb)
    lying.declared_size = len(config)
    hostile.write_zip(add("lying-directory.keras", "truncated or damaged"), {**members, "config.json": lying})

    # JSON nested a million deep (json.loads raised RecursionError), in the architecture and in the card.
    hostile.write_zip(
        add("deep-config.keras", "its architecture nests deeper than 64 levels"), {**members, "config.json": hostile.deflated(b"[" * 10**6)}
    )
    hostile.write_zip(
        add("deep-card.keras", "its model card nests deeper than 64 levels"),
        {**members, "model_card.json": hostile.deflated(b"[" * 60_000)},
    )

    # HDF5 datasets declared 30000x30000 (3.6 GB) in files of a few kilobytes, legacy .h5 and inside a .keras.
    dense_model().save(folder / "dense.h5")
    legacy = add("huge-dataset.h5", "its weights declare more than 84 MB")
    (folder / "dense.h5").rename(legacy)
    with h5py.File(legacy, "a") as stored:
        hostile.declare_huge_dataset(stored["model_weights"])
    hostile.with_huge_weights(dense, add("huge-dataset.keras", "its weights declare more than 84 MB"))
    # A dataset whose bytes are another file on the server.
    dense_model().save(folder / "dense.h5")
    external = add("external-dataset.h5", "its weights read from other files")
    (folder / "dense.h5").rename(external)
    secret = folder / "server-secret.bin"
    secret.write_bytes(bytes(range(256)) * 4)
    with h5py.File(external, "a") as stored:
        stored["model_weights"].create_dataset("borrowed", shape=(256,), dtype="float32", external=[(str(secret), 0, 1024)])

    assert all(path.stat().st_size < 8 * 2**20 for path in folder.iterdir())  # small files, inside the upload limit
    return folder, expected


def _one_huge_conv(config: dict) -> None:
    """A single convolution of 40,000 filters: few parameters, 27 M values per image (a batch of 64 is 7 GB)."""
    hostile.resize_layers("Conv2D", "filters", 4, 40_000)(config)
    first, second = (layer for layer in config["config"]["layers"] if layer["class_name"] == "Conv2D")
    second["config"]["filters"], second["config"]["kernel_size"] = 1, [1, 1]
    for layer in config["config"]["layers"]:
        shape = (layer.get("build_config") or {}).get("input_shape")
        if layer["class_name"] in ("GlobalAveragePooling2D", "Dense") and shape:
            shape[-1] = 1


@pytest.fixture(scope="module")
def probe_report(hostile_files, tmp_path_factory) -> dict[str, dict]:
    folder, expected = hostile_files
    scratch = tmp_path_factory.mktemp("probe-tmp")
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("hostile_models.py")), *(str(folder / name) for name in expected)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TMPDIR": str(scratch), "PYTHONPATH": str(REPO)},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Traceback" not in completed.stderr
    return {record["file"]: record for record in map(json.loads, completed.stdout.strip().splitlines())}


class TestHostileModelFiles:
    def test_each_is_refused_in_one_sentence_naming_the_file_and_the_problem(self, hostile_files, probe_report):
        _, expected = hostile_files
        for name, problem in expected.items():
            assert_one_line_error(probe_report[name]["message"], name, problem)
            assert probe_report[name]["message"].endswith(".")

    def test_loading_them_all_keeps_peak_memory_within_300_mb_of_the_baseline(self, probe_report):
        baseline = probe_report["baseline"]["peak_mb"]
        growth = max(record["peak_mb"] for record in probe_report.values()) - baseline

        assert growth < MEMORY_BOUND_MB, {name: record["peak_mb"] - baseline for name, record in probe_report.items()}

    def test_no_load_writes_more_than_100_mb_of_temporary_files(self, probe_report):
        disk = {name: record["disk_mb"] for name, record in probe_report.items() if "disk_mb" in record}

        assert max(disk.values()) < DISK_BOUND_MB, disk

    def test_the_bombs_really_inflate_to_400_mb(self, hostile_files):
        # The bound above would prove nothing if the bombs were small: zipfile reads one whole, in a few seconds.
        folder, _ = hostile_files
        with zipfile.ZipFile(folder / "weights-bomb.keras") as archive, archive.open("model.weights.h5") as stream:
            inflated = sum(len(block) for block in iter(lambda: stream.read(2**24), b""))

        assert inflated >= hostile.BOMB_BYTES

    def test_the_good_models_they_were_made_from_load(self, hostile_files):
        folder, _ = hostile_files
        for name in ("dense.keras", "conv.keras"):
            model, _ = load_model(folder / name)
            assert model.outputs[0].shape[1:] == (10,)


class TestDeclaredSizeLimits:
    def test_the_largest_network_the_train_page_builds_is_within_the_limits(self):
        largest = {}
        for name in ("conv1_filters", "conv2_filters", "dense1_units"):
            largest[name] = TrainConfig.__dataclass_fields__[name].metadata["high"]
        for architecture in ("seed", "wide"):
            with keras.StatelessScope(initialize_variables=False):
                model = build_model(TrainConfig(architecture=architecture, conv1_kernel=5, conv2_kernel=5, **largest))
            parameters, activations = declared_size(json.loads(model.to_json()))

            assert parameters == sum(math.prod(weight.shape) for weight in model.weights)
            assert parameters < MAX_PARAMETERS and activations < MAX_ACTIVATIONS

    def test_the_declared_size_is_counted_without_allocating_it(self, hostile_files):
        folder, _ = hostile_files
        from core.modelfile import read_architecture

        parameters, _ = declared_size(read_architecture(folder / "dense-30000.keras"))

        assert parameters == 784 * 30_000 + 30_000 + 30_000 * 30_000 + 30_000 + 30_000 * 10 + 10


def write_card(source: Path, target: Path, card: dict) -> Path:
    members = hostile.members_of(source)
    members["model_card.json"] = hostile.deflated(json.dumps(card).encode())
    return hostile.write_zip(target, members)


class TestUntrustedCards:
    BAD_CARD = {
        "name": "x" * 10_000,
        "metrics": {"test_accuracy": "99%", "test_loss": float("nan"), "val_accuracy": 0.98},
        "temperature": "hot",
        "parameters": "many",
        "epochs_completed": True,
        "training_seconds": -5,
        "notes": ["not", "text"],
        "config": "seed",
    }

    def test_bad_fields_are_dropped_and_the_notes_name_them(self):
        card = ModelCard.from_dict(self.BAD_CARD)

        assert card.metrics == {"val_accuracy": 0.98}
        assert (card.temperature, card.parameters, card.epochs_completed, card.training_seconds, card.config) == (1.0, 0, 0, 0.0, {})
        assert len(card.name) <= 120
        assert (
            card.notes
            == "Ignored invalid card fields: config, metrics, temperature, parameters, epochs_completed, training_seconds, notes."
        )
        assert card.summary().startswith("not evaluated")

    @pytest.mark.parametrize("temperature", [0, -1.0, float("nan"), float("inf"), 1e9])
    def test_a_temperature_that_would_break_the_probabilities_is_ignored(self, temperature):
        assert ModelCard.from_dict({"name": "x", "temperature": temperature}).temperature == 1.0

    def test_a_model_with_a_bad_card_still_reads_digits_with_finite_probabilities(self, hostile_files, tmp_path):
        from core.inference import Recognizer

        folder, _ = hostile_files
        path = write_card(folder / "dense.keras", tmp_path / "bad-card.keras", {**self.BAD_CARD, "temperature": float("nan")})

        recognizer = Recognizer.load(path)
        prediction = recognizer.classify(np.pad(np.ones((20, 4), np.float32), 4))

        assert recognizer.card.temperature == 1.0
        assert np.isfinite(prediction.probabilities).all()

    def test_the_cli_shows_a_bad_card_without_a_traceback(self, hostile_files, tmp_path):
        folder, _ = hostile_files
        path = write_card(folder / "dense.keras", tmp_path / "bad-card.keras", self.BAD_CARD)

        completed = subprocess.run(
            [sys.executable, "-m", "core", "info", "--model", str(path)], cwd=REPO, capture_output=True, text=True, timeout=120
        )

        assert completed.returncode == 0, completed.stderr
        assert "val_accuracy: 0.9800" in completed.stdout and "Traceback" not in completed.stderr

    def test_the_cli_refuses_a_card_bomb_in_one_line(self, hostile_files):
        folder, _ = hostile_files

        completed = subprocess.run(
            [sys.executable, "-m", "core", "info", "--model", str(folder / "card-bomb.keras")],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )

        assert completed.returncode != 0 and "Traceback" not in completed.stderr
        (line,) = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
        assert line.startswith("error: card-bomb.keras: its part 'model_card.json' unpacks to 400 MB")


class TestNonFiniteWeights:
    def test_nan_weights_are_refused(self, tmp_path):
        model = dense_model()
        kernel = model.layers[2].kernel
        kernel.assign(np.full(kernel.shape, np.nan, np.float32))
        save_model(model, ModelCard(name="nan"), tmp_path / "nan-weights.keras")

        with pytest.raises(ModelFileError) as caught:
            load_model(tmp_path / "nan-weights.keras")

        assert_one_line_error(str(caught.value), "nan-weights.keras", "NaN or infinite values")

    def test_a_card_read_on_its_own_is_validated_too(self, hostile_files, tmp_path):
        folder, _ = hostile_files
        path = write_card(folder / "dense.keras", tmp_path / "strings.keras", {"name": "m", "metrics": {"test_accuracy": "99%"}})

        assert read_card(path).metrics == {}
