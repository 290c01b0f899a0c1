"""What the teaching views cost: "fool it" per drawing on Draw, and the map of 5,000 test digits on Evaluate."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from benchmarks.plan import milliseconds

FOOL_BUDGET = 0.2  # the Draw page's starting size of the change


def fooling(recognizer: Any, crops: np.ndarray) -> dict[str, Any]:
    """Draw's "fool it" per drawing, with each method at the page's starting budget, and how often it fooled."""
    from core.adversarial import METHODS, Fooler

    began = time.perf_counter()
    fooler = Fooler(recognizer.model)
    build_seconds = time.perf_counter() - began
    model_inputs = [recognizer.classify(crop).model_input for crop in crops]
    results: dict[str, Any] = {"images": len(model_inputs), "budget": FOOL_BUDGET, "build_s": round(build_seconds, 2)}
    for method in METHODS:
        fooler.fool(model_inputs[0], FOOL_BUDGET, method=method)  # the first call of a method runs its graph once
        seconds, fooled = [], 0
        for model_input in model_inputs:
            began = time.perf_counter()
            attack = fooler.fool(model_input, FOOL_BUDGET, method=method)
            seconds.append(time.perf_counter() - began)
            fooled += int(attack.fooled)
        results[f"{method}_ms"] = milliseconds(seconds)
        results[f"{method}_fooled"] = fooled / len(model_inputs)
    return results


def embedding(model: Any, images: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Evaluate's map as a visitor waits for it: the test images through the network, PCA, and the map's 1-NN share.

    Timed twice: the first time includes compiling the model's probe (what a visitor waits for on a model's first
    map); the second is the same work with the probe compiled.
    """
    from core.embedding import LearnedSpace, nearest_neighbour_accuracy

    seconds, neighbour_accuracy, explained = [], 0.0, np.zeros(2)
    for _ in range(2):
        began = time.perf_counter()
        space = LearnedSpace(model, images, labels)
        neighbour_accuracy = nearest_neighbour_accuracy(space.points, space.labels)
        seconds.append(time.perf_counter() - began)
        explained = space.projection.explained
    return {
        "images": len(images),
        "first_s": round(seconds[0], 2),
        "second_s": round(seconds[1], 2),
        "neighbour_accuracy": round(neighbour_accuracy, 4),
        "explained": [round(float(share), 4) for share in explained],
    }
