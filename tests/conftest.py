"""Shared fixtures: real MNIST (from MNIST_PATH), the shipped recognizer, and a small model trained here."""

from __future__ import annotations

import pytest
from resources import require

import core  # noqa: F401  (first: it loads pylibsrtp before anything can import TensorFlow; see core/__init__.py)


@pytest.fixture(scope="session")
def mnist():
    from core.data import load_mnist, mnist_available

    require(mnist_available(), "MNIST is not available: set MNIST_PATH=../shared/data/mnist.npz")
    return load_mnist()


@pytest.fixture(scope="session")
def recognizer():
    from core.inference import Recognizer

    return Recognizer.load()


@pytest.fixture(scope="session")
def small_model(mnist, tmp_path_factory):
    """A seed CNN trained for one epoch on 3,000 real MNIST images and saved with its card: (path, TrainResult)."""
    from core.config import TrainConfig
    from core.training import train

    config = TrainConfig(epochs=1, train_size=3000, batch_size=64, validation_split=0.1, seed=7)
    path = tmp_path_factory.mktemp("models") / "small.keras"
    result = train(config, mnist, save_to=path, name="small")
    return path, result


@pytest.fixture(autouse=True)
def _user_models_in_tmp(tmp_path, monkeypatch):
    """Models 'trained by users' during tests go to a temporary folder, never into the repository."""
    monkeypatch.setenv("MNIST_USER_MODELS", str(tmp_path / "user_models"))
