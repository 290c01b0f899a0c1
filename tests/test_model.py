"""The CNN built from a TrainConfig, the Deslant layer, and model files that carry their card."""

from __future__ import annotations

import json
import zipfile

import keras
import numpy as np
import pytest

from core.config import TrainConfig
from core.data import describe
from core.inference import Recognizer
from core.model import CARD_ENTRY, SHIPPED_MODEL, Deslant, ModelCard, build_model, load_model, read_card, save_model


def layer_summary(model: keras.Model) -> list[tuple]:
    """Each layer as (kind, the settings that define the seed CNN), skipping the input."""
    summary = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.layers.Conv2D):
            summary.append(("Conv2D", layer.filters, tuple(layer.kernel_size), layer.activation.__name__))
        elif isinstance(layer, keras.layers.MaxPooling2D):
            summary.append(("MaxPooling2D", tuple(layer.pool_size)))
        elif isinstance(layer, keras.layers.Dense):
            summary.append(("Dense", layer.units, layer.activation.__name__))
        elif isinstance(layer, keras.layers.Dropout):
            summary.append(("Dropout", layer.rate))
        else:
            summary.append((type(layer).__name__,))
    return summary


SEED_LAYERS = [
    ("Conv2D", 32, (3, 3), "relu"),
    ("MaxPooling2D", (2, 2)),
    ("Conv2D", 64, (3, 3), "relu"),
    ("MaxPooling2D", (2, 2)),
    ("Flatten",),
    ("Dense", 128, "relu"),
    ("Dropout", 0.5),
    ("Dense", 10, "softmax"),
]


def mnist_batch(mnist, count: int = 32) -> np.ndarray:
    return mnist.x_test[:count, :, :, None].astype(np.float32) / 255  # (n, 28, 28, 1) in [0, 1]


def slant(image: np.ndarray) -> float:
    """Skew of the ink (mu11 / mu02): positive when the strokes lean one way, zero when upright."""
    rows, columns = np.mgrid[0:28, 0:28].astype(np.float64)
    mass = image.sum()
    centre_y, centre_x = (image * rows).sum() / mass, (image * columns).sum() / mass
    dy, dx = rows - centre_y, columns - centre_x
    return float((image * dx * dy).sum() / (image * dy * dy).sum())


class TestBuildModel:
    def test_default_config_builds_the_seed_layer_sequence_after_deslant(self):
        model = build_model(TrainConfig())

        assert layer_summary(model) == [("Deslant",), *SEED_LAYERS]

    def test_without_deslant_the_seed_cnn_starts_with_its_first_convolution(self):
        model = build_model(TrainConfig(deslant=False))

        assert layer_summary(model) == SEED_LAYERS

    def test_output_is_ten_class_scores(self):
        assert tuple(build_model(TrainConfig()).output.shape) == (None, 10)

    def test_parameter_count_matches_the_seed_architecture(self):
        conv1 = (3 * 3 * 1 + 1) * 32
        conv2 = (3 * 3 * 32 + 1) * 64
        flattened = 5 * 5 * 64  # 28 -> conv 26 -> pool 13 -> conv 11 -> pool 5
        dense = (flattened + 1) * 128
        probabilities = (128 + 1) * 10

        assert build_model(TrainConfig()).count_params() == conv1 + conv2 + dense + probabilities

    def test_config_sizes_reach_the_layers(self):
        model = build_model(
            TrainConfig(conv1_filters=8, conv2_filters=16, conv1_kernel=5, conv2_kernel=5, dense1_units=64, dense1_dropout=0.2)
        )

        assert layer_summary(model)[1:] == [
            ("Conv2D", 8, (5, 5), "relu"),
            ("MaxPooling2D", (2, 2)),
            ("Conv2D", 16, (5, 5), "relu"),
            ("MaxPooling2D", (2, 2)),
            ("Flatten",),
            ("Dense", 64, "relu"),
            ("Dropout", 0.2),
            ("Dense", 10, "softmax"),
        ]

    def test_wide_architecture_builds_and_outputs_probabilities(self, mnist):
        model = build_model(TrainConfig(architecture="wide"))
        probabilities = model.predict(mnist_batch(mnist, 4), verbose=0)

        assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
        assert probabilities.shape == (4, 10)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)

    def test_layers_are_named_for_the_explanations(self):
        names = {layer.name for layer in build_model(TrainConfig()).layers}

        assert {"conv1", "conv2", "dense", "probabilities"} <= names


class TestDeslant:
    def test_has_no_weights(self):
        layer = Deslant()
        layer(np.zeros((1, 28, 28, 1), np.float32))

        assert layer.count_params() == 0

    def test_straightens_slanted_real_digits(self, mnist):
        ones = mnist.x_test[mnist.y_test == 1][:40].astype(np.float32) / 255
        slanted = [image for image in ones if abs(slant(image)) > 0.2][:10]
        upright = np.asarray(Deslant()(np.stack(slanted)[..., None]))[..., 0]

        before = np.mean([abs(slant(image)) for image in slanted])
        after = np.mean([abs(slant(image)) for image in upright])
        assert after < 0.3 * before

    def test_keeps_the_ink(self, mnist):
        images = mnist_batch(mnist, 16)
        upright = np.asarray(Deslant()(images))

        np.testing.assert_allclose(upright.sum(axis=(1, 2, 3)), images.sum(axis=(1, 2, 3)), rtol=0.1)

    def test_is_the_bilinear_shear_about_the_centre_of_mass(self, mnist):
        images = mnist_batch(mnist, 16)
        ink = images[..., 0].astype(np.float64)
        rows, columns = np.mgrid[:28, :28]
        expected = np.zeros_like(ink)
        for index, image in enumerate(ink):
            mass = image.sum()
            centre_y, centre_x = (image * rows).sum() / mass, (image * columns).sum() / mass
            mu11 = (image * (rows - centre_y) * (columns - centre_x)).sum() / mass
            mu02 = (image * (rows - centre_y) ** 2).sum() / mass
            skew = np.clip(mu11 / mu02, -1, 1)
            for row in range(28):  # each output pixel reads its own row at x + skew * (y - centre_y), black outside
                source = np.arange(28) + skew * (row - centre_y)
                expected[index, row] = np.interp(source, np.arange(28), image[row], left=0.0, right=0.0)
                outside = (source < -1) | (source > 28)
                expected[index, row, outside] = 0.0
                below, above = (source > -1) & (source < 0), (source > 27) & (source < 28)  # half a step off the edge
                expected[index, row, below] = image[row, 0] * (1 + source[below])
                expected[index, row, above] = image[row, 27] * (28 - source[above])

        np.testing.assert_allclose(np.asarray(Deslant()(images))[..., 0], expected, atol=1e-4)


@pytest.fixture(scope="module")
def seed_model():
    return build_model(TrainConfig())


@pytest.fixture
def card():
    return ModelCard(name="test", config=TrainConfig(epochs=2).to_dict(), metrics={"test_accuracy": 0.5}, temperature=1.7, parameters=7)


class TestSaveModel:
    def test_leaves_only_the_model_file_behind(self, seed_model, card, tmp_path):
        save_model(seed_model, card, tmp_path / "model.keras")

        assert [path.name for path in tmp_path.iterdir()] == ["model.keras"]

    def test_card_is_a_member_of_the_keras_zip(self, seed_model, card, tmp_path):
        path = save_model(seed_model, card, tmp_path / "model.keras")

        with zipfile.ZipFile(path) as archive:
            assert json.loads(archive.read(CARD_ENTRY)) == json.loads(card.to_json())

    def test_read_card_returns_the_saved_card(self, seed_model, card, tmp_path):
        path = save_model(seed_model, card, tmp_path / "model.keras")

        assert read_card(path) == card

    def test_read_card_reads_only_the_card_not_the_model(self, card, tmp_path):
        path = tmp_path / "card_only.keras"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(CARD_ENTRY, card.to_json())

        assert read_card(path) == card

    def test_replaces_an_existing_file(self, seed_model, card, tmp_path):
        path = tmp_path / "model.keras"
        save_model(seed_model, ModelCard(name="old"), path)
        save_model(seed_model, card, path)

        assert read_card(path).name == "test"
        assert [entry.name for entry in tmp_path.iterdir()] == ["model.keras"]

    def test_failed_save_leaves_the_previous_file_intact_and_no_temporary_file(self, seed_model, card, tmp_path):
        path = save_model(seed_model, card, tmp_path / "model.keras")
        before = path.read_bytes()

        class Unsaveable(keras.layers.Layer):
            def call(self, inputs):
                return inputs

            def get_config(self):
                raise RuntimeError("this layer cannot be written")

        inputs = keras.Input((28, 28, 1))
        broken = keras.Model(inputs, Unsaveable()(keras.layers.Flatten()(inputs)))
        with pytest.raises(RuntimeError, match="cannot be written"):
            save_model(broken, ModelCard(name="broken"), path)

        assert path.read_bytes() == before
        assert [entry.name for entry in tmp_path.iterdir()] == ["model.keras"]

    def test_refuses_a_name_without_the_keras_suffix(self, seed_model, card, tmp_path):
        with pytest.raises(ValueError, match=".keras"):
            save_model(seed_model, card, tmp_path / "model.h5")

        assert list(tmp_path.iterdir()) == []

    def test_creates_missing_folders(self, seed_model, card, tmp_path):
        path = save_model(seed_model, card, tmp_path / "a" / "b" / "model.keras")

        assert path.is_file()


class TestLoadModel:
    def test_returns_the_model_with_identical_predictions_and_its_card(self, mnist, seed_model, card, tmp_path):
        path = save_model(seed_model, card, tmp_path / "model.keras")
        loaded, loaded_card = load_model(path)
        batch = mnist_batch(mnist)

        np.testing.assert_allclose(loaded.predict(batch, verbose=0), seed_model.predict(batch, verbose=0), atol=1e-6)
        assert loaded_card == card

    def test_card_rebuilds_the_config_that_made_the_model(self, seed_model, card, tmp_path):
        _, loaded_card = load_model(save_model(seed_model, card, tmp_path / "model.keras"))

        assert loaded_card.train_config == TrainConfig(epochs=2)

    def test_legacy_h5_model_loads_with_a_bare_card_named_after_the_file(self, mnist, seed_model, tmp_path):
        path = tmp_path / "legacy.h5"
        seed_model.save(path)
        loaded, loaded_card = load_model(path)
        batch = mnist_batch(mnist)

        np.testing.assert_allclose(loaded.predict(batch, verbose=0), seed_model.predict(batch, verbose=0), atol=1e-6)
        assert loaded_card.name == "legacy"
        assert loaded_card.train_config is None

    def test_legacy_h5_model_reads_digits_through_the_recognizer(self, mnist, seed_model, tmp_path):
        path = tmp_path / "legacy.h5"
        seed_model.save(path)
        recognizer = Recognizer.load(path)
        batch = mnist_batch(mnist)

        np.testing.assert_allclose(recognizer.raw_probabilities(batch), seed_model.predict(batch, verbose=0), atol=1e-5)


class TestModelCard:
    def test_summary_reports_accuracy_size_and_training(self):
        card = ModelCard(name="m", config=TrainConfig(optimizer="sgd").to_dict(), metrics={"test_accuracy": 0.9912}, parameters=1234)

        summary = card.summary()

        assert "99.12%" in summary and "1,234 parameters" in summary and "sgd" in summary

    def test_summary_counts_one_epoch_in_the_singular(self):
        assert "; 1 epoch;" in ModelCard(name="m", config=TrainConfig().to_dict(), epochs_completed=1).summary()

    def test_summary_of_a_partly_trained_model_says_so(self):
        card = ModelCard(name="m", config=TrainConfig(epochs=12).to_dict(), epochs_completed=1, partial=True)

        assert "partly trained (1 of 12 epochs)" in card.summary()

    def test_partial_survives_the_round_trip_through_json(self):
        card = ModelCard(name="m", partial=True)

        assert ModelCard.from_dict(json.loads(card.to_json())).partial

    def test_the_shipped_card_says_what_its_data_was_not_where_it_sat(self, mnist):
        data_source = read_card(SHIPPED_MODEL).data_source

        assert data_source == describe(mnist)  # the same MNIST arrays as the tests', named by their fingerprint
        assert "/" not in data_source and "\\" not in data_source

    def test_summary_of_an_unevaluated_model_says_so(self):
        assert "not evaluated" in ModelCard(name="m").summary()

    def test_from_dict_ignores_unknown_keys(self):
        values = {**json.loads(ModelCard(name="m", temperature=2.0).to_json()), "future_field": 1}

        assert ModelCard.from_dict(values) == ModelCard(name="m", temperature=2.0)

    def test_unusable_config_gives_no_train_config(self):
        assert ModelCard(name="m", config={"epochs": 0}).train_config is None
