"""The benchmark runs end to end and reports every figure; the fast path answers exactly as model.predict.

No timing is asserted: these machines are shared and noisy. Speed is what the bench reports, not what tests check.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from resources import REPO

from benchmarks import latency
from benchmarks.latency import WARM_CALLS, raw_crops, with_model_predict
from benchmarks.plan import FULL, QUICK
from benchmarks.report import report_table

SECTIONS = (
    "machine",
    "single_digit",
    "agreement",
    "explain",
    "fool",
    "embedding",
    "webcam",
    "training",
    "startup",
    "memory",
    "distribution",
    "verdicts",
)
LATENCIES = {
    "single_digit": ("predict_ms", "classify_ms", "model_call_ms", "model_call_warm_ms"),
    "explain": ("explain_ms",),
    "fool": ("fgsm_ms", "iterative_ms"),
    "webcam": ("read_ms", "baseline_ms"),
    "training": ("bare_ms_per_step", "app_ms_per_step"),
}
VERDICTS = (
    "classify_p50",
    "classify_speedup",
    "model_call_warm",
    "identical_outputs",
    "read_same_as_baseline",
    "read_p95",
    "live_fps",
    "explain_p95",
    "fool_p95",
    "embedding_time",
    "training_overhead",
    "input_pipeline_ahead",
    "chart_throttled",
    "home_without_tensorflow",
    "first_prediction",
    "model_loaded_once",
    "serving_memory",
    "training_memory",
    "mirrored_trains",
    "multi_worker_trains",
)

TABLE_ROWS = ("Single digit", "Webcam frame", "fool it", "learned space", "Training step", "Start-up", "Peak RSS training", "multi_worker")


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def quick_bench(mnist, tmp_path_factory) -> dict:
    """`python -m core bench --quick --json`, run once as a user would, in a fresh process."""
    environment = dict(os.environ, MNIST_USER_MODELS=str(tmp_path_factory.mktemp("bench_models")))
    completed = subprocess.run(
        [sys.executable, "-m", "core", "bench", "--quick", "--json"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout)


@pytest.mark.slow
class TestQuickBench:
    def test_reports_every_section(self, quick_bench):
        assert quick_bench["mode"] == "quick"
        assert set(SECTIONS) <= set(quick_bench)

    def test_reports_a_verdict_for_every_target(self, quick_bench):
        assert set(VERDICTS) <= set(quick_bench["verdicts"])
        assert all(isinstance(passed, bool) for passed in quick_bench["verdicts"].values())

    def test_latencies_are_positive_percentiles(self, quick_bench):
        for section, names in LATENCIES.items():
            for name in names:
                figures = quick_bench[section][name]
                assert _positive(figures["p50"]) and figures["p95"] >= figures["p50"] and figures["n"] > 0, (section, name)

    def test_baselines_and_ratios_are_positive(self, quick_bench):
        single, frames, train = quick_bench["single_digit"], quick_bench["webcam"], quick_bench["training"]
        for value in (single["speedup_p50"], frames["speedup_p50"], frames["read_fps"], frames["live_fps"], train["pipeline_ms_per_batch"]):
            assert _positive(value)
        assert math.isfinite(train["overhead"]) and math.isfinite(train["cpu_overhead"])

    def test_the_map_of_5000_test_digits_is_timed_and_keeps_the_digits_apart(self, quick_bench):
        space = quick_bench["embedding"]

        assert space["images"] == 5000 and _positive(space["first_s"]) and _positive(space["second_s"])
        assert space["neighbour_accuracy"] > 0.6  # as tests/test_embedding.py asserts for the shipped model

    def test_fool_it_fools_most_drawings_with_the_iterative_method(self, quick_bench):
        assert quick_bench["fool"]["iterative_fooled"] >= 0.8

    def test_single_digit_verdict_is_on_the_median_run(self, quick_bench):
        single = quick_bench["single_digit"]

        assert len(single["runs_classify_p50_ms"]) == QUICK.single_digit_runs
        assert single["classify_ms"]["p50"] == float(np.median(single["runs_classify_p50_ms"]))

    def test_the_warm_model_call_is_timed_back_to_back_on_every_digit(self, quick_bench):
        single = quick_bench["single_digit"]

        assert single["model_call_warm_ms"]["n"] == single["images"] * WARM_CALLS
        assert single["model_call_ms"]["n"] == single["images"]  # the other figure: one call right after model.predict

    def test_fast_path_gives_model_predicts_outputs(self, quick_bench):
        agreement = quick_bench["agreement"]
        assert agreement["allclose"]
        assert agreement["same_argmax"] == 1.0 and agreement["classify_same_argmax"] == 1.0
        assert quick_bench["single_digit"]["same_answer"] == 1.0
        assert quick_bench["webcam"]["same_number_as_baseline"] == 1.0

    def test_start_up_is_timed(self, quick_bench):
        startup = quick_bench["startup"]
        for name in ("server_health_s", "home_s", "home_script_s", "first_prediction_s", "import_tensorflow_s"):
            assert _positive(startup[name]), name
        # The app's path reads the drawn 7 without TensorFlow; the baseline imports it first, so it takes longer.
        assert startup["first_prediction_answer"] == "7" and not startup["first_prediction_imports_tensorflow"]
        assert startup["first_prediction_with_tensorflow_s"] >= startup["import_tensorflow_s"]
        assert startup["model_loads"] >= 1 and isinstance(startup["home_imports_tensorflow"], bool)

    def test_memory_is_measured_in_megabytes(self, quick_bench):
        memory = quick_bench["memory"]
        for name in ("serving_peak_mb", "training_peak_mb"):
            assert 100 < memory[name] < 20_000, name
        assert memory["training_images"] == 60_000 and memory["training_steps"] > 0

    def test_both_distribution_strategies_train(self, quick_bench):
        for kind, strategy in (("mirrored", "MirroredStrategy"), ("multi_worker", "CollectiveAllReduceStrategy")):
            run = quick_bench["distribution"][kind]
            assert run["status"] == "finished" and run["strategy"] == strategy and run["replicas"] >= 1
            assert run["trained"], run["losses"]

    def test_table_names_the_machine_and_every_measurement(self, quick_bench):
        table = report_table(quick_bench)
        header = [cell.strip() for cell in table.splitlines()[0].strip("|").split("|")]
        assert header == ["measurement", "baseline", "ours", "ratio / target", "pass"]
        assert "Machine:" in table and quick_bench["machine"]["tensorflow"] in table
        for words in TABLE_ROWS:
            assert words in table


class TestFastPathMatchesModelPredict:
    """Recognizer's compiled call against model.predict, the trusted reference, on real MNIST test digits."""

    def test_a_batch_gives_model_predicts_probabilities(self, recognizer, mnist):
        images = mnist.x_test[:256].astype(np.float32) / 255  # (256, 28, 28)
        expected = recognizer.model.predict(images[..., None], verbose=0)
        np.testing.assert_allclose(recognizer.raw_probabilities(images), expected, rtol=1e-4, atol=1e-6)

    def test_one_image_at_a_time_gives_model_predicts_probabilities(self, recognizer, mnist):
        images = mnist.x_test[:32].astype(np.float32) / 255
        for image in images:
            expected = recognizer.model.predict(image[None, ..., None], verbose=0)
            np.testing.assert_allclose(recognizer.raw_probabilities(image[None]), expected, rtol=1e-4, atol=1e-6)

    def test_classify_answers_as_model_predict_on_its_input(self, recognizer, mnist):
        predictions = [recognizer.classify(crop, min_confidence=0.0) for crop in raw_crops(mnist.x_test[:64])]
        model_inputs = np.stack([prediction.model_input for prediction in predictions])[..., None]  # (64, 28, 28, 1)
        expected = recognizer.model.predict(model_inputs, verbose=0).argmax(axis=1)
        assert [prediction.digit for prediction in predictions] == expected.tolist()


class TestBaselineRecognizer:
    """The bench's baseline must really call model.predict, or its speed-ups compare the fast path with itself."""

    def test_baseline_reads_through_model_predict_with_the_same_answer(self, recognizer, mnist, monkeypatch):
        from core.synth import compose

        frame = compose(mnist.x_test[:3], mnist.y_test[:3], np.random.default_rng(5))
        expected = recognizer.read(frame.image)
        calls = []
        predict = recognizer.model.predict
        monkeypatch.setattr(recognizer.model, "predict", lambda *args, **kwargs: calls.append(1) or predict(*args, **kwargs))

        reading = with_model_predict(recognizer).read(frame.image)

        assert calls, "the baseline never called model.predict"
        assert reading.number == expected.number == frame.number


class TestRepeatedSingleDigit:
    def test_keeps_the_run_with_the_median_p50_and_lists_every_run(self, monkeypatch):
        p50s = iter([2.4, 1.7, 1.9, 3.0, 1.8])
        monkeypatch.setattr(latency, "single_digit", lambda recognizer, crops, plan: {"classify_ms": {"p50": next(p50s)}, "run": "one"})
        plan = FULL

        result = latency.repeated_single_digit(None, np.zeros((1, 112, 112), np.uint8), plan)

        assert plan.single_digit_runs == 5
        assert result["classify_ms"]["p50"] == 1.9
        assert result["runs_classify_p50_ms"] == [1.7, 1.8, 1.9, 2.4, 3.0]
