"""The bench's fresh processes: each task below runs as `python -m benchmarks.children TASK JSON` and prints a JSON object.

Start-up, memory and tf.distribute are measured in processes of their own, so that they inherit nothing from the
timing work (no TensorFlow already imported, no peak memory already reached). This module imports no TensorFlow and
no Streamlit at import time: the tasks decide what they import, and when.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import core  # noqa: F401  (before anything imports TensorFlow: see core/__init__.py)
from benchmarks.harness import REPO
from benchmarks.plan import BenchError

# --- Starting a task and collecting its answer ----------------------------------------------------------------------


def start_child(task: str, arguments: dict[str, Any], environment: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`python -m benchmarks.children TASK ARGUMENTS`: one of the functions in CHILD_TASKS, in a fresh interpreter."""
    env = dict(os.environ, **(environment or {}))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "benchmarks.children", task, json.dumps(arguments)]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def child_result(process: subprocess.Popen[str], name: str, timeout: float) -> dict[str, Any]:
    """The JSON object a child printed last; BenchError with its last error line if it failed."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as error:
        process.kill()
        process.communicate()
        raise BenchError(f"The {name} subprocess did not finish within {timeout:.0f} s.") from error
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        reason = next((line for line in reversed(stderr.splitlines()) if line.strip()), "no output")
        raise BenchError(f"The {name} subprocess failed (exit code {process.returncode}): {reason[:300]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def run_child(task: str, arguments: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Start a task and wait for its answer."""
    return child_result(start_child(task, arguments), task, timeout)


# --- A process's clock and memory -----------------------------------------------------------------------------------


def process_memory_mb(pid: int) -> tuple[float, float]:
    """(peak, current) resident memory of a running process, from /proc (Linux)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return round(int(fields["VmHWM"].split()[0]) / 1024, 1), round(int(fields["VmRSS"].split()[0]) / 1024, 1)


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds a running process has used so far, user and system, all threads (from /proc, Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_maps_tensorflow(pid: int) -> bool:
    """True when the process has TensorFlow's shared library loaded (i.e. something imported tensorflow)."""
    return "libtensorflow" in Path(f"/proc/{pid}/maps").read_text()


def _seconds_since_start() -> float:
    """Seconds since this process was created (kernel start time), so interpreter start-up is counted too."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        stat = Path("/proc/self/stat").read_text()
        start_ticks = int(stat[stat.rindex(")") + 2 :].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    return time.perf_counter()  # elsewhere: since the interpreter started its clock, a slight undercount


def _peak_rss_mb() -> float:
    """This process's peak resident memory.

    NOTE: on Linux, getrusage's ru_maxrss survives exec: a child started by a big parent (subprocess uses vfork)
    reports at least the parent's peak. VmHWM belongs to the process's own address space, so it is read instead.
    """
    with contextlib.suppress(OSError, KeyError):
        return process_memory_mb(os.getpid())[0]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / 2**20 if sys.platform == "darwin" else peak / 1024, 1)  # bytes on macOS, KiB elsewhere


# --- The tasks ------------------------------------------------------------------------------------------------------


def _first_prediction_child(model_path: str, with_tensorflow: bool) -> dict[str, Any]:
    """What the Draw page does on first use, in a fresh process: import, load the model, read a drawing.

    With `with_tensorflow`, TensorFlow is imported first, as the page did before the light runtime (the baseline);
    without, the app's own path: `core.inference` and LiteRT, and TensorFlow is never imported.
    """
    import cv2
    import numpy as np

    interpreter = _seconds_since_start()  # with NumPy and OpenCV imported, as the app has them before TensorFlow
    if with_tensorflow:
        import tensorflow  # noqa: F401

    tensorflow_at = _seconds_since_start()
    from core.inference import Recognizer

    core_at = _seconds_since_start()
    recognizer = Recognizer.load(model_path)
    loaded_at = _seconds_since_start()
    canvas = np.full((280, 560, 4), 255, np.uint8)  # the Draw canvas: RGBA, black pen on white; a 7
    cv2.line(canvas, (250, 50), (330, 50), (0, 0, 0, 255), 18)
    cv2.line(canvas, (330, 50), (270, 230), (0, 0, 0, 255), 18)
    reading = recognizer.read(canvas)
    done_at = _seconds_since_start()
    return {
        "seconds": round(done_at, 2),
        "interpreter": round(interpreter, 2),
        "tensorflow": round(tensorflow_at - interpreter, 2),
        "core": round(core_at - tensorflow_at, 2),
        "load": round(loaded_at - core_at, 2),
        "read": round(done_at - loaded_at, 3),
        "number": reading.number,
        "tensorflow_imported": "tensorflow" in sys.modules,
    }


def _training_memory_child(steps: int) -> dict[str, Any]:
    """core.training.train on all 60,000 MNIST images with the default config: one epoch, or stopped after `steps`."""
    from core.config import TrainConfig
    from core.data import load_mnist
    from core.training import ProgressMonitor, train

    monitor, stop = ProgressMonitor(), threading.Event()

    def stop_after_steps() -> None:
        while not stop.wait(0.05):
            if steps and monitor.snapshot().steps_done >= steps:
                stop.set()

    watcher = threading.Thread(target=stop_after_steps, daemon=True)
    watcher.start()
    data = load_mnist()
    result = train(TrainConfig(epochs=1), data, callbacks=[monitor], stop_event=stop, name="bench")
    stop.set()
    progress = monitor.snapshot()
    return {"peak_mb": _peak_rss_mb(), "steps": progress.steps_done, "images": len(data.x_train), "status": result.status}


def _training_estimate_child(overrides: dict[str, Any]) -> dict[str, Any]:
    """One epoch of core.training.train with `overrides`: resident memory after TensorFlow and MNIST load, the peak
    once the training and its card are done, and core.limits' estimate of the growth (bytes)."""
    import tensorflow  # noqa: F401  (loaded before `before`, as in the app's process)

    from core.config import TrainConfig
    from core.data import load_mnist
    from core.limits import estimate_training, process_rss
    from core.training import train

    config = TrainConfig(**{"epochs": 1, **overrides})
    data = load_mnist()
    estimate = estimate_training(config)
    before = process_rss()
    train(config, data)
    return {"before": before, "peak": round(_peak_rss_mb() * 2**20), "estimate": estimate.total, "parts": estimate.__dict__}


def _distribution_child(kind: str, train_size: int) -> dict[str, Any]:
    """Two short epochs through core.training.train under a tf.distribute strategy: does it train?"""
    from core.config import TrainConfig
    from core.data import load_mnist
    from core.training import train

    config = TrainConfig(epochs=2, train_size=train_size, batch_size=64, augment_styles=False, distribution=kind)
    began = time.perf_counter()
    result = train(config, load_mnist(), name=f"bench-{kind}")
    losses = [float(loss) for loss in result.history.get("loss", [])]
    strategy = result.model.distribute_strategy if result.model is not None else None
    return {
        "status": result.status,
        "tf_config": json.loads(os.environ.get("TF_CONFIG", "null")),
        "strategy": type(strategy).__name__ if strategy is not None else "",
        "replicas": int(strategy.num_replicas_in_sync) if strategy is not None else 0,
        "losses": [round(loss, 4) for loss in losses],
        "test_accuracy": round(result.card.metrics.get("test_accuracy", 0.0), 4),
        "seconds": round(time.perf_counter() - began, 1),
        "trained": result.status == "finished" and len(losses) == 2 and all(map(math.isfinite, losses)) and losses[1] < losses[0],
    }


def _app_child(app_path: str, digits_path: str, launched_at: float) -> dict[str, Any]:
    """The app under AppTest: Home (does it import TensorFlow?), then Draw twice (how many times is the model loaded?),
    then the recognizer Draw loaded classifies crops and reads frames as the Webcam page would (its page cannot run
    under AppTest): the peak memory of serving.
    """
    import numpy as np
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(app_path, default_timeout=300).run()
    home_seconds = time.time() - launched_at  # since the parent launched this process
    home_imports_tensorflow = "tensorflow" in sys.modules
    errors = [str(error.value)[:200] for error in app.exception]

    from core.inference import Recognizer

    loaded: list[Recognizer] = []
    load = Recognizer.load

    def counted_load(path: str | os.PathLike[str] | None = None) -> Recognizer:
        loaded.append(load(path) if path is not None else load())
        return loaded[-1]

    # NOTE: the class's own loader, counted: the app's st.cache_resource should call it once for all the pages.
    Recognizer.load = staticmethod(counted_load)  # type: ignore[method-assign]
    for _ in range(2):
        app.switch_page("pages/draw.py").run()
        errors += [str(error.value)[:200] for error in app.exception]
    import av  # noqa: F401  (what the Webcam page imports)
    import streamlit_webrtc  # noqa: F401

    from core.live import LiveReader
    from core.synth import frames_from_digits

    recognizer = loaded[0] if loaded else load()
    with np.load(digits_path) as digits:
        images, labels = digits["images"], digits["labels"]
    for image in images:
        recognizer.classify(255 - image)
    reader = LiveReader(recognizer)
    for frame in frames_from_digits(images, labels, 20, seed=31):
        reader.process(frame.image)
    return {
        "home_seconds": round(home_seconds, 2),
        "home_imports_tensorflow": home_imports_tensorflow,
        "model_loads": len(loaded),
        "errors": errors,
        "peak_mb": _peak_rss_mb(),
    }


CHILD_TASKS: dict[str, Callable[..., dict[str, Any]]] = {
    "first_prediction": _first_prediction_child,
    "training_memory": _training_memory_child,
    "training_estimate": _training_estimate_child,
    "distribution": _distribution_child,
    "app": _app_child,
}


def _child_main(arguments: list[str]) -> None:
    task, options = arguments[0], json.loads(arguments[1]) if len(arguments) > 1 else {}
    if task not in CHILD_TASKS:
        raise SystemExit(f"unknown bench task {task!r}; one of {', '.join(CHILD_TASKS)}")
    print(json.dumps(CHILD_TASKS[task](**options)), flush=True)


if __name__ == "__main__":
    _child_main(sys.argv[1:])
