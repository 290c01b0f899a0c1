"""The light runtime: a LiteRT file derived from a .keras model, cached by the file's hash, run without TensorFlow.

The .keras file stays the one source of truth. Its LiteRT copy is made on the model's first load and cached under
the file's hash; the shipped model's copy is committed. A process that has TensorFlow loaded already (a trainer, a
test) converts in place; a server that has not converts in a child process, so serving never pays TensorFlow's
start-up or its 600 MB.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.modelfile import MODELS_DIR, ModelFileError, user_models_dir

if TYPE_CHECKING:
    import keras

# Part of every cache key: a change to how models are converted makes new files instead of reusing old ones.
EXPORT_VERSION = "litert-1"
# Derived files of the models shipped in this repository, committed beside them (read only).
SHIPPED_RUNTIME_DIR = MODELS_DIR / "serving"
CACHE_ENV = "MNIST_SERVING_CACHE"
CACHE_FILES = 64  # derived files kept in the writable cache (about 1 MB each for the default CNN)
# An interpreter is allocated for one batch size; batches are padded up to the next of these (a padded image costs
# 0.05 ms), so a handful of interpreters serve every batch a page or frame makes, without re-allocating per call.
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)
IDLE_INTERPRETERS = 4  # per batch size: more threads than this at once make interpreters that are then dropped
EXPORT_TOLERANCE = 1e-5  # the converted model's probabilities may differ from Keras's by at most this
EXPORT_SECONDS = 300  # a child process converting one digit model (TensorFlow's start-up included) on a busy machine
REPOSITORY = Path(__file__).resolve().parent.parent


class ExportError(RuntimeError):
    """A model that loads in Keras but cannot be served by LiteRT; the message says why in a few words."""


# --- Running ------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null meanwhile.

    NOTE: LiteRT's C++ runtime writes "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." straight to descriptor
    2 when its first interpreter allocates, once per process, and has no Python switch for it; in `python -m core
    predict` it stood before the answers and the one-line errors. Another thread's stderr in these milliseconds is lost.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class LiteModel:
    """A digit model in LiteRT's format: (N, 28, 28, 1) float32 -> (N, 10) float32, callable from any thread."""

    name = "LiteRT"

    def __init__(self, content: bytes) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-untyped]
        except ImportError as error:  # a platform without LiteRT's wheels: the caller falls back to TensorFlow
            raise ExportError("LiteRT (ai-edge-litert) is not installed") from error
        self._interpreter_class = Interpreter
        self._content = content
        # NOTE: a LiteRT interpreter must not be invoked from two threads at once. Each call takes an idle one of the
        # batch size it needs, or makes one, and gives it back: sessions and video threads never share one mid-call,
        # and invoke releases the GIL, so calls from several threads run side by side.
        self._lock = threading.Lock()
        self._idle: dict[int, list[Any]] = {size: [] for size in BATCH_SIZES}
        with _native_stderr_silenced():  # the runtime's "INFO: Created ... XNNPACK delegate" line, once per process
            first = Interpreter(model_content=content)
            self._input = first.get_input_details()[0]["index"]
            self._output = first.get_output_details()[0]["index"]
            self(np.zeros((1, 28, 28, 1), np.float32))  # the first interpreter is made now, not on a user's first drawing

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        largest = BATCH_SIZES[-1]
        outputs = [self._run(batch[start : start + largest]) for start in range(0, len(batch), largest)]
        return np.concatenate(outputs) if len(outputs) != 1 else outputs[0]

    def _run(self, chunk: np.ndarray) -> np.ndarray:  # (n <= 64, 28, 28, 1) -> (n, 10)
        count = len(chunk)
        size = next(size for size in BATCH_SIZES if size >= count)
        if size != count:
            padded = np.zeros((size, 28, 28, 1), np.float32)  # black images: the model reads each image on its own
            padded[:count] = chunk
            chunk = padded
        interpreter = self._take(size)
        try:
            interpreter.set_tensor(self._input, chunk)
            interpreter.invoke()
            return interpreter.get_tensor(self._output)[:count]  # get_tensor returns a copy
        finally:
            self._give_back(size, interpreter)

    def _take(self, size: int) -> Any:
        with self._lock:
            if self._idle[size]:
                return self._idle[size].pop()
        interpreter = self._interpreter_class(model_content=self._content, num_threads=1)
        interpreter.resize_tensor_input(self._input, [size, 28, 28, 1])
        interpreter.allocate_tensors()
        return interpreter

    def _give_back(self, size: int, interpreter: Any) -> None:
        with self._lock:
            if len(self._idle[size]) < IDLE_INTERPRETERS:
                self._idle[size].append(interpreter)


# --- The cache of derived files -----------------------------------------------------------------------------------


def cache_dir() -> Path:
    """Where derived files are written: $MNIST_SERVING_CACHE, or a folder in the user models folder."""
    return Path(os.environ.get(CACHE_ENV) or user_models_dir() / "serving").expanduser()


def file_key(path: str | os.PathLike[str]) -> str:
    """The cache key of a model file: a hash of its bytes and of the conversion's version."""
    digest = hashlib.sha256(EXPORT_VERSION.encode())
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:32]


def cached_runtime(path: str | os.PathLike[str]) -> Path | None:
    """The derived LiteRT file of the model file at `path`, if it was made before."""
    name = f"{file_key(path)}.tflite"
    return next((folder / name for folder in (SHIPPED_RUNTIME_DIR, cache_dir()) if (folder / name).is_file()), None)


def load_runtime(path: str | os.PathLike[str]) -> LiteModel:
    """The model file at `path` on LiteRT, converted now if it never was.

    Raises ModelFileError for a file Keras cannot load (said in one sentence), ExportError for a model that loads
    but cannot be converted (remembered, so that it is not tried again).
    """
    key = file_key(path)
    found = cached_runtime(path)
    if found is None:
        failed = cache_dir() / f"{key}.failed"
        if failed.is_file():
            raise ExportError(failed.read_text()[:200])
        found = cache_dir() / f"{key}.tflite"
        try:
            if "tensorflow" in sys.modules:
                _export_file(Path(path), found)  # TensorFlow is loaded already (a test, a trainer): convert here
            else:
                _export_in_child(Path(path), found)
        except ExportError as error:
            _write_atomically(failed, str(error).encode())
            raise
    return LiteModel(found.read_bytes())


def _write_atomically(target: Path, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=".partial", dir=target.parent)
    with os.fdopen(handle, "wb") as stream:
        stream.write(content)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes the file private; a cached model is an ordinary file
    os.replace(temporary, target)
    _bound_cache(target.parent)


def _bound_cache(folder: Path) -> None:
    """Keep the newest CACHE_FILES derived files: uploads must not fill the disk over a server's life."""
    files = sorted(folder.glob("*.tflite"), key=lambda file: file.stat().st_mtime, reverse=True)
    for old in files[CACHE_FILES:]:
        old.unlink(missing_ok=True)


# --- Converting (TensorFlow) --------------------------------------------------------------------------------------


def export_litert(model: keras.Model) -> bytes:
    """A Keras digit model as a LiteRT flatbuffer taking (N, 28, 28, 1) batches, checked against Keras's outputs.

    Only LiteRT's built-in operations are allowed (TensorFlow's own ops would need TensorFlow at run time).
    """
    import keras
    import tensorflow as tf

    input_shape = tuple(model.inputs[0].shape[1:])
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve",
        lambda batch: model(tf.reshape(batch, (-1, *input_shape)), training=False),
        input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32, name="image")],
    )
    try:
        with tempfile.TemporaryDirectory() as folder:
            archive.write_out(folder, verbose=False)
            converter = tf.lite.TFLiteConverter.from_saved_model(folder)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
            content = converter.convert()
    except Exception as error:  # NOTE: the converter raises many kinds; the reason is kept short for a note
        raise ExportError(f"LiteRT cannot convert it ({type(error).__name__})") from error
    _check_outputs(model, LiteModel(content))
    return content


def _check_outputs(model: keras.Model, runtime: LiteModel) -> None:
    """Refuse a conversion whose answers differ from Keras's on real-looking and edge inputs."""
    generator = np.random.default_rng(0)
    probes = np.concatenate(
        [
            np.zeros((1, 28, 28, 1), np.float32),
            np.ones((1, 28, 28, 1), np.float32),
            (generator.random((6, 28, 28, 1)) ** 4).astype(np.float32),  # sparse bright pixels, like strokes
        ]
    )
    expected = np.asarray(model(probes.reshape(-1, *model.inputs[0].shape[1:]), training=False))
    if not np.allclose(runtime(probes), expected, atol=EXPORT_TOLERANCE, rtol=0):
        raise ExportError("LiteRT's answers differ from Keras's")


def _export_file(source: Path, target: Path) -> None:
    from core.model import load_model

    model, _ = load_model(source)
    _write_atomically(target, export_litert(model))


def _export_in_child(source: Path, target: Path) -> None:
    """Convert in a child process: this process never imports TensorFlow, and its memory goes when the child ends."""
    command = [sys.executable, "-m", "core.serving", str(source), str(target)]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")]))}
    try:
        finished = subprocess.run(command, cwd=REPOSITORY, env=environment, capture_output=True, timeout=EXPORT_SECONDS, check=False)
    except subprocess.TimeoutExpired as error:
        raise ExportError(f"converting it took over {EXPORT_SECONDS} s") from error
    lines = finished.stdout.decode(errors="replace").strip().splitlines()
    outcome = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {"kind": "export", "message": "the converter stopped"}
    if outcome["kind"] == "file":
        raise ModelFileError(outcome["message"])
    if outcome["kind"] == "export":
        raise ExportError(outcome["message"])


def _main(source: str, target: str | None = None) -> int:
    """Load the model safely, convert it, and say what happened as one JSON line (the child process's answer).

    Without a target the file goes beside the shipped models: `python -m core.serving models/mnist_cnn.keras`
    refreshes the committed copy after the shipped model changes.
    """
    try:
        _export_file(Path(source), Path(target) if target else SHIPPED_RUNTIME_DIR / f"{file_key(source)}.tflite")
        outcome = {"kind": "done", "message": ""}
    except ModelFileError as error:
        outcome = {"kind": "file", "message": str(error)}
    except ExportError as error:
        outcome = {"kind": "export", "message": str(error)}
    print(json.dumps(outcome), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main(*sys.argv[1:3]))
