"""Figures for real handwriting (python -m core measure): USPS and Semeion through classify, webcam-like frames through read."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np
from tabulate import tabulate

from benchmarks.devsets import load_semeion, load_usps
from core.camera import EVALUATION_SEED, CameraFrame, camera_frames
from core.clips import camera_clips
from core.data import load_mnist
from core.evaluate import expected_calibration_error
from core.inference import MIN_CONFIDENCE, Recognizer
from core.live import STEADY_FRAMES, LiveReader
from core.synth import frames_from_digits

# The conditions the realistic benchmark reports separately, each with its values in display order.
CONDITION_VALUES: dict[str, tuple[object, ...]] = {
    "ink": ("ballpoint", "marker", "pencil"),
    "paper": ("plain", "squared", "ruled"),
    "rows": (1, 2),
    "blur": ("sharp", "defocus", "motion"),
    "tilt over 15 degrees": (False, True),
    "desk": (False, True),
    "thumb": (False, True),
    "low_resolution": (False, True),
    "source": ("mnist", "usps"),
}


def naive_inputs(images: np.ndarray) -> np.ndarray:
    """What most canvas demos do: invert and resize the whole image to 28x28.  (n, h, w) dark-on-light -> (n, 28, 28)."""
    return np.stack([cv2.resize(255 - image, (28, 28), interpolation=cv2.INTER_AREA) for image in images]).astype(np.float32) / 255


def devset_scores(recognizer: Recognizer, images: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy of classify (our path) and of the naive resize, plus how often classify abstains and its calibration."""
    predictions = [recognizer.classify(image, min_confidence=0.0) for image in images]
    probabilities = np.stack([prediction.probabilities for prediction in predictions])
    read = np.array([-1 if prediction.digit is None else prediction.digit for prediction in predictions])
    confident = probabilities.max(axis=1) >= MIN_CONFIDENCE  # the recognizer's own "no digit" threshold (0.6)
    return {
        "n": len(labels),
        "accuracy": float((read == labels).mean()),
        "naive_accuracy": float((recognizer.raw_probabilities(naive_inputs(images)).argmax(axis=1) == labels).mean()),
        "no_digit_rate": float((read == -1).mean()),
        "answered_at_0.6": float(confident.mean()),
        "accuracy_when_answered_at_0.6": float((read[confident] == labels[confident]).mean()) if confident.any() else 0.0,
        "expected_calibration_error": expected_calibration_error(probabilities, labels),
    }


def frame_scores(recognizer: Recognizer, count: int, seed: int = 0) -> dict[str, float]:
    """Exact-number accuracy of read() on camera-like frames of MNIST test digits, and its latency."""
    data = load_mnist()
    frames = frames_from_digits(data.x_test, data.y_test, count, seed=seed)
    exact, digits_right, digits_total, seconds = 0, 0, 0, []
    for frame in frames:
        started = time.perf_counter()
        reading = recognizer.read(frame.image)
        seconds.append(time.perf_counter() - started)
        exact += reading.number == frame.number
        digits_total += len(frame.number)
        digits_right += (
            sum(a == b for a, b in zip(reading.number, frame.number, strict=True)) if len(reading.number) == len(frame.number) else 0
        )
    return {
        "n": count,
        "exact_number_accuracy": exact / count,
        "digit_accuracy_when_count_right": digits_right / max(1, digits_total),
        "read_ms_p50": float(np.percentile(seconds, 50) * 1000),
        "read_ms_p95": float(np.percentile(seconds, 95) * 1000),
    }


def realistic_frames(count: int, seed: int = EVALUATION_SEED, **conditions: object) -> list[CameraFrame]:
    """The honest camera benchmark: pen handwriting redrawn from MNIST test and USPS test digits (real writers the
    model never trained on) on notebook paper, through a webcam. `conditions`: `core.camera.written`'s."""
    return camera_frames(realistic_sources(), count, seed=seed, **conditions)


def realistic_clips(count: int, seed: int = EVALUATION_SEED) -> list[list[CameraFrame]]:
    """Half-second webcam clips of a hand holding such a sheet (`core.clips`), for the live readout."""
    return camera_clips(realistic_sources(), count, seed=seed)


def realistic_sources() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """MNIST test and USPS test digits, white ink on black, USPS repeated to a third of the draws."""
    data = load_mnist()
    usps_images, usps_labels = load_usps("test")
    sources = {"mnist": (data.x_test, data.y_test), "usps": (255 - usps_images, usps_labels)}  # both white ink on black
    # USPS is a fifth of the test digits; give it a third of the frames, so both sources are measured on many.
    sources["usps"] = (np.tile(sources["usps"][0], (2, 1, 1))[: len(data.x_test) // 2], np.tile(usps_labels, 2)[: len(data.x_test) // 2])
    return sources


def live_scores(recognizer: Recognizer, clips: list[list[CameraFrame]]) -> dict[str, Any]:
    """Exact-number accuracy of the Webcam page's readout (`core.live.LiveReader`) on clips, against its frames alone.

    The readout is scored after every frame from the STEADY_FRAMES-th of each clip on, when its window is full.
    """
    alone, steady = [], []
    for clip in clips:
        reader = LiveReader(recognizer)
        for index, frame in enumerate(clip):
            reader.process(frame.image)
            readout = reader.readout()
            alone.append(readout.latest == frame.number)
            if index + 1 >= STEADY_FRAMES:
                steady.append(readout.number == frame.number)
    return {
        "clips": len(clips),
        "frames_per_clip": len(clips[0]) if clips else 0,
        "frame_alone_exact_number_accuracy": float(np.mean(alone)) if alone else 0.0,
        "readout_exact_number_accuracy": float(np.mean(steady)) if steady else 0.0,
        "readout_scored": len(steady),
    }


def _condition(frame: CameraFrame, name: str) -> object:
    if name == "tilt over 15 degrees":
        return frame.conditions.tilt > 15
    return getattr(frame.conditions, name)


def realistic_scores(recognizer: Recognizer, frames: list[CameraFrame]) -> dict[str, Any]:
    """Exact-number accuracy of read() on realistic frames, overall and per condition, and its latency."""
    right, seconds, said = [], [], []
    for frame in frames:
        started = time.perf_counter()
        reading = recognizer.read(frame.image)
        seconds.append(time.perf_counter() - started)
        right.append(reading.number == frame.number)
        said.append(reading.number)
    right_array = np.array(right)
    per_condition = condition_table(frames, right_array)
    return {
        "n": len(frames),
        "exact_number_accuracy": float(right_array.mean()) if len(frames) else 0.0,
        "nothing_read": float(np.mean([text == "" for text in said])) if len(frames) else 0.0,
        "per_condition": per_condition,
        "read_ms_p50": float(np.percentile(seconds, 50) * 1000) if seconds else 0.0,
        "read_ms_p95": float(np.percentile(seconds, 95) * 1000) if seconds else 0.0,
    }


def condition_table(frames: list[CameraFrame], right: np.ndarray) -> dict[str, dict[str, dict[str, float]]]:
    """Exact-number accuracy per value of each condition.  right: (n,) bool, one per frame."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for name, values in CONDITION_VALUES.items():
        rows = {}
        for value in values:
            chosen = np.array([_condition(frame, name) == value for frame in frames])
            if chosen.any():
                rows[str(value)] = {"n": int(chosen.sum()), "exact_number_accuracy": float(right[chosen].mean())}
        table[name] = rows
    return table


def measure(
    model_path: str | os.PathLike[str],
    frames: int = 500,
    realistic: int = 500,
    baseline: Callable[[np.ndarray], list[str]] | None = None,
    clips: int = 100,
    whole_sheet: int = 200,
) -> dict[str, Any]:
    """All robustness figures for one model; `baseline` reads the realistic frames with another method (today's)."""
    recognizer = Recognizer.load(model_path)
    usps_images, usps_labels = load_usps("test")
    semeion_images, semeion_labels = load_semeion()
    results: dict[str, Any] = {
        "model": str(model_path),
        "usps_test": devset_scores(recognizer, usps_images, usps_labels),
        "semeion": devset_scores(recognizer, semeion_images, semeion_labels),
        "camera_frames": frame_scores(recognizer, frames) if frames else None,
        "realistic_frames": None,
        "live_clips": live_scores(recognizer, realistic_clips(clips)) if clips else None,
        # A notepad or an index card seen whole, the desk or the room around it (the main frames' sheet fills the frame).
        "whole_sheet_frames": realistic_scores(recognizer, realistic_frames(whole_sheet, whole_sheet=True)) if whole_sheet else None,
    }
    if realistic:
        made = realistic_frames(realistic)
        results["realistic_frames"] = realistic_scores(recognizer, made)
        if baseline is not None:
            right = np.array(
                [number == frame.number for number, frame in zip(baseline(np.stack([frame.image for frame in made])), made, strict=True)]
            )
            results["realistic_frames"]["baseline"] = {
                "exact_number_accuracy": float(right.mean()),
                "per_condition": condition_table(made, right),
            }
    return results


def report_table(results: dict[str, Any]) -> str:
    """The figures as Markdown: the dev sets' table, the camera-like frames' line, the realistic frames per condition."""
    lines = [f"model: {results['model']}"]
    devsets = [
        (
            name,
            str(row["n"]),
            f"{row['naive_accuracy']:.2%}",
            f"{row['accuracy']:.2%}",
            f"{row['no_digit_rate']:.2%}",
            f"{row['expected_calibration_error']:.3f}",
        )
        for name, row in ((name, results[name]) for name in ("usps_test", "semeion"))
    ]
    lines.append(_markdown(devsets, ("set", "n", "resize to 28x28 (naive)", "ours (Recognizer.classify)", "no digit", "ECE")))
    frames = results.get("camera_frames")
    if frames:
        lines += [
            "",
            f"camera-like frames (1-5 MNIST test digits on 640x480 paper): exact number {frames['exact_number_accuracy']:.2%} "
            f"of {frames['n']}; read p50 {frames['read_ms_p50']:.1f} ms, p95 {frames['read_ms_p95']:.1f} ms",
        ]
    realistic = results.get("realistic_frames")
    if realistic:
        baseline = realistic.get("baseline")
        lines += [
            "",
            f"realistic webcam frames (pen handwriting on notebook paper, seed {EVALUATION_SEED}): exact number "
            f"{realistic['exact_number_accuracy']:.2%} of {realistic['n']}"
            + (f" (today's method {baseline['exact_number_accuracy']:.2%})" if baseline else "")
            + f"; read p50 {realistic['read_ms_p50']:.1f} ms, p95 {realistic['read_ms_p95']:.1f} ms",
        ]
        conditions = [
            (
                name,
                value,
                str(row["n"]),
                f"{baseline['per_condition'][name][value]['exact_number_accuracy']:.1%}" if baseline else "-",
                f"{row['exact_number_accuracy']:.1%}",
            )
            for name, rows in realistic["per_condition"].items()
            for value, row in rows.items()
        ]
        lines.append(_markdown(conditions, ("condition", "value", "frames", "today's method", "ours")))
    whole = results.get("whole_sheet_frames")
    if whole:
        inks = whole["per_condition"]["ink"]
        lines += [
            "",
            f"a small sheet seen whole (the same conditions, the desk or the room around it; seed {EVALUATION_SEED}): exact "
            f"number {whole['exact_number_accuracy']:.2%} of {whole['n']} ("
            + ", ".join(f"{ink} {row['exact_number_accuracy']:.1%}" for ink, row in inks.items())
            + ")",
        ]
    live = results.get("live_clips")
    if live:
        lines += [
            "",
            f"live readout on {live['clips']} clips of {live['frames_per_clip']} frames (a hand holding such a sheet, seed "
            f"{EVALUATION_SEED}): exact number {live['readout_exact_number_accuracy']:.2%} of {live['readout_scored']} readouts "
            f"(each frame alone {live['frame_alone_exact_number_accuracy']:.2%})",
        ]
    return "\n".join(lines)


def _markdown(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
