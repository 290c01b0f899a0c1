"""Robustness and safety of model files: broken archives, wrong shapes, oversized files and models that carry code."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from keras import layers
from resources import REPO, assert_one_line_error

from core.config import TrainConfig
from core.model import MAX_MODEL_BYTES, ModelCard, ModelFileError, build_model, check_model_file, load_model, save_model

TENSORFLOW_CHATTER = re.compile(r"^(WARNING: All log messages before absl::InitializeLog|[IWE]\d{4} )")
PAYLOAD_MODULE = "robustness_payload"  # a module that writes a marker file the moment it is imported


def marker_lambda(marker: Path):
    """A Python lambda that leaves `marker` behind when it runs: what a hostile model file would smuggle in."""
    return eval(f"lambda images: (__import__('pathlib').Path({str(marker)!r}).write_text('code ran'), images)[1]")


def rewrite_member(source: Path, target: Path, member: str, change) -> None:
    """Copy a .keras zip, passing one member's bytes through `change`."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for name in original.namelist():
            data = original.read(name)
            copy.writestr(name, change(data) if name == member else data)


def small_digit_model(input_shape=(28, 28, 1), classes: int = 10) -> keras.Model:
    inputs = keras.Input(shape=input_shape)
    outputs = layers.Dense(classes, activation="softmax")(layers.Flatten()(inputs))
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def marker(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("marker") / "code-ran.txt"


@pytest.fixture(scope="module")
def model_files(tmp_path_factory, marker):
    """Good, broken, mis-shaped and hostile model files, each written by the real Keras, h5py or zipfile."""
    folder = tmp_path_factory.mktemp("models")
    model = build_model(TrainConfig(conv1_filters=4, conv2_filters=4, dense1_units=16))
    save_model(model, ModelCard(name="good"), folder / "good.keras")
    model.save(folder / "good.h5")
    model.save_weights(folder / "weights-only.weights.h5")
    (folder / "weights-only.weights.h5").rename(folder / "weights-only.h5")
    (folder / "notes.keras").write_text("not a model")
    (folder / "notes.h5").write_text("not a model")
    (folder / "model.pkl").write_bytes(b"\x80\x04N.")
    good_keras, good_h5 = (folder / "good.keras").read_bytes(), (folder / "good.h5").read_bytes()
    (folder / "truncated.keras").write_bytes(good_keras[: len(good_keras) // 2])
    (folder / "truncated.h5").write_bytes(good_h5[: len(good_h5) // 2])
    rewrite_member(folder / "good.keras", folder / "damaged-weights.keras", "model.weights.h5", lambda data: data[:2000] + bytes(4000))
    rewrite_member(folder / "good.keras", folder / "damaged-config.keras", "config.json", lambda data: data[:100])
    damaged_h5 = bytearray(good_h5)
    damaged_h5[len(damaged_h5) // 2 : len(damaged_h5) // 2 + 4000] = bytes(4000)
    (folder / "damaged.h5").write_bytes(bytes(damaged_h5))
    with zipfile.ZipFile(folder / "photos.keras", "w") as archive:
        archive.writestr("holiday.txt", "a zip, but not a model")
    small_digit_model(input_shape=(32, 32, 3)).save(folder / "wrong-input.keras")
    small_digit_model(classes=5).save(folder / "wrong-output.keras")
    small_digit_model(classes=5).save(folder / "wrong-output.h5")

    # A model whose Lambda writes the marker. Calling it once proves the payload really runs when the code does.
    inputs = keras.Input(shape=(28, 28, 1))
    outputs = layers.Dense(10, activation="softmax")(layers.Flatten()(layers.Lambda(marker_lambda(marker))(inputs)))
    hostile = keras.Model(inputs, outputs)
    hostile(np.zeros((1, 28, 28, 1), np.float32))
    assert marker.read_text() == "code ran"
    marker.unlink()
    hostile.save(folder / "lambda.keras")
    hostile.save(folder / "lambda.h5")
    assert not marker.exists()

    # A layer from a foreign module: if anything imported it, the import alone would write the marker.
    payload = folder / "payload"
    payload.mkdir()
    (payload / f"{PAYLOAD_MODULE}.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('code ran')\n")

    def foreign_layer(data: bytes) -> bytes:
        config = json.loads(data)
        config["config"]["layers"][1].update(module=PAYLOAD_MODULE, class_name="Payload", registered_name=None)
        return json.dumps(config).encode()

    rewrite_member(folder / "lambda.keras", folder / "foreign-module.keras", "config.json", foreign_layer)
    return folder


BROKEN = {  # file -> what the one-line error must say
    "notes.keras": "not a valid .keras archive",
    "notes.h5": "not a valid HDF5 model file",
    "model.pkl": "not a Keras model file",
    "truncated.keras": "not a valid .keras archive",
    "truncated.h5": "truncated or damaged",
    "damaged-weights.keras": "its weights are truncated or damaged",
    "damaged-config.keras": "not valid JSON",
    "damaged.h5": "its weights are truncated or damaged",
    "photos.keras": "not a Keras model (it has no config.json)",
    "weights-only.h5": "holds weights only",
    "wrong-input.keras": "takes input of shape (32, 32, 3), not a 28x28 image",
    "wrong-output.keras": "returns shape (5,), not 10 digit classes",
    "wrong-output.h5": "returns shape (5,), not 10 digit classes",
}
CARRYING_CODE = {
    "lambda.keras": "contains a Lambda layer (Python code)",
    "lambda.h5": "contains a Lambda layer (Python code)",
    "foreign-module.keras": f"uses code from the Python module '{PAYLOAD_MODULE}'",
}


class TestBrokenModelFiles:
    @pytest.mark.parametrize(("name", "problem"), BROKEN.items())
    def test_file_gives_one_line_error_naming_the_file_and_the_problem(self, model_files, name, problem):
        with pytest.raises(ModelFileError) as caught:
            load_model(model_files / name)

        assert_one_line_error(str(caught.value), name, problem)

    @pytest.mark.parametrize("name", ["good.keras", "good.h5"])
    def test_the_good_files_they_were_made_from_load(self, model_files, name):
        model, _ = load_model(model_files / name)

        assert model.outputs[0].shape[1:] == (10,)


class TestModelsThatCarryCode:
    @pytest.mark.parametrize(("name", "reason"), CARRYING_CODE.items())
    def test_is_refused_with_the_reason(self, model_files, marker, name, reason, monkeypatch):
        monkeypatch.syspath_prepend(str(model_files / "payload"))

        with pytest.raises(ModelFileError) as caught:
            load_model(model_files / name)

        assert_one_line_error(str(caught.value), name, reason)
        assert "could run anything" in str(caught.value)

    @pytest.mark.parametrize("name", CARRYING_CODE)
    def test_code_never_runs_even_through_the_recognizer(self, model_files, marker, name, monkeypatch):
        from core.inference import Recognizer

        monkeypatch.syspath_prepend(str(model_files / "payload"))

        with pytest.raises(ModelFileError):
            Recognizer.load(model_files / name)

        assert not marker.exists()
        assert PAYLOAD_MODULE not in sys.modules

    @pytest.mark.parametrize("name", ["lambda.keras", "lambda.h5"])
    def test_keras_safe_mode_refuses_the_lambda_on_its_own_too(self, model_files, marker, name):
        # The check in core reads the JSON first; Keras's own safe_mode is the second line of defence.
        with pytest.raises(ValueError, match="safe_mode"):
            keras.models.load_model(model_files / name, compile=False, safe_mode=True)

        assert not marker.exists()

    def test_legacy_h5_file_keeps_the_lambda_where_core_looks_for_it(self, model_files):
        # The legacy format stores the architecture in the model_config attribute, read by core before Keras runs.
        with h5py.File(model_files / "lambda.h5", "r") as stored:
            assert '"class_name": "Lambda"' in stored.attrs["model_config"]


class TestOversizedModelFiles:
    def test_file_over_the_limit_is_refused_before_any_byte_is_read(self, tmp_path):
        # 4 GiB of sparse zeros: the size check names the limit; parsing would have said "not a zip file" instead,
        # and reading would have needed 4 GiB of memory.
        huge = tmp_path / "huge.keras"
        with open(huge, "wb") as stream:
            stream.truncate(4 * 2**30)

        with pytest.raises(ModelFileError, match=rf"^huge\.keras: 4096 MB is over the {MAX_MODEL_BYTES // 2**20} MB limit"):
            load_model(huge)

    def test_a_real_model_over_the_limit_is_refused_although_it_would_load(self, model_files, monkeypatch):
        monkeypatch.setattr("core.modelfile.MAX_MODEL_BYTES", (model_files / "good.keras").stat().st_size - 1)

        with pytest.raises(ModelFileError, match="over the 0 MB limit"):
            check_model_file(model_files / "good.keras")


def run_cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *arguments], cwd=REPO, capture_output=True, text=True, timeout=600)


def own_stderr_lines(completed: subprocess.CompletedProcess) -> list[str]:
    return [line for line in completed.stderr.splitlines() if line.strip() and not TENSORFLOW_CHATTER.match(line)]


class TestCommandLineModelOption:
    def test_lambda_model_is_refused_in_one_line_and_its_code_never_runs(self, model_files, marker, tmp_path):
        completed = run_cli("predict", "--model", str(model_files / "lambda.h5"), str(tmp_path / "digit.png"))

        assert completed.returncode == 2 and completed.stdout == ""
        assert "Traceback" not in completed.stderr
        (line,) = own_stderr_lines(completed)
        assert line.startswith("error: lambda.h5: contains a Lambda layer (Python code)")
        assert not marker.exists()


@pytest.fixture(scope="module")
def app():
    """The whole app under Streamlit's AppTest; the model uploader sits in the shared sidebar."""
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(REPO / "app.py"), default_timeout=300).run()


def upload_model(app, name: str, content: bytes):
    app.sidebar.file_uploader(key="models_upload").set_value((name, content, "application/octet-stream")).run()
    return app


def stored_uploads() -> list[Path]:
    from core.modelfile import user_models_dir

    folder = user_models_dir() / "sessions"  # uploads are kept in their session's own folder
    return sorted(path for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


class TestModelUploads:
    @pytest.mark.parametrize("name", ["notes.keras", "truncated.h5", "wrong-output.keras", "weights-only.h5"])
    def test_broken_upload_shows_one_error_naming_the_users_file(self, app, model_files, name):
        upload_model(app, name, (model_files / name).read_bytes())

        assert not app.exception
        (error,) = app.sidebar.error
        assert_one_line_error(error.value, name, BROKEN[name])
        assert app.sidebar.selectbox(key="models_active").value.startswith("Shipped")

    def test_refused_upload_is_not_kept_on_the_server(self, app, model_files):
        upload_model(app, "notes.keras", (model_files / "notes.keras").read_bytes())

        assert stored_uploads() == []

    @pytest.mark.parametrize("name", ["lambda.keras", "lambda.h5"])
    def test_upload_carrying_code_is_refused_and_never_runs(self, app, model_files, marker, name):
        upload_model(app, name, (model_files / name).read_bytes())

        (error,) = app.sidebar.error
        assert_one_line_error(error.value, name, "Lambda layer")
        assert not marker.exists()

    def test_upload_over_the_limit_is_refused(self, app):
        upload_model(app, "big.keras", bytes(MAX_MODEL_BYTES + 1))

        (error,) = app.sidebar.error
        assert error.value == f"big.keras: over the {MAX_MODEL_BYTES // 2**20} MB limit for a digit model."
        assert stored_uploads() == []

    def test_good_upload_after_broken_ones_becomes_the_active_model(self, app, model_files):
        upload_model(app, "good.h5", (model_files / "good.h5").read_bytes())

        assert not app.sidebar.error
        assert app.sidebar.selectbox(key="models_active").value == "Uploaded: good.h5"
        assert [success.value for success in app.sidebar.success] == ["Loaded good.h5."]
