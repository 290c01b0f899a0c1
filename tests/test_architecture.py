"""The network a TrainConfig builds: the layer table matches Keras, impossible shapes are refused in a sentence."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest

from core.architecture import ArchitectureError, describe, problem
from core.config import KERNEL_SIZES, PADDINGS, POOLINGS, TrainConfig
from core.explain import Explainer
from core.model import SHIPPED_MODEL, build_model, declared_size, load_model
from core.training import compiled_model

VARIED = {
    "seed": TrainConfig(),
    "four blocks, batch norm, every pooling": TrainConfig(
        conv_blocks=4,
        conv_padding="same",
        conv1_pooling="max",
        conv2_pooling="avg",
        conv2_batchnorm=True,
        conv3_pooling="stride",
        conv3_kernel=5,
        conv4_pooling="none",
        conv4_kernel=7,
        dense_layers=3,
        dense2_dropout=0.0,
    ),
    "one block, no dense layer": TrainConfig(conv_blocks=1, conv1_pooling="stride", dense_layers=0, deslant=False),
    "wide": TrainConfig(architecture="wide"),
}


class TestLayerTable:
    @pytest.mark.parametrize("config", VARIED.values(), ids=VARIED.keys())
    def test_parameters_per_layer_match_keras(self, config):
        architecture = describe(config)
        model = build_model(config)
        built = {layer.name: layer for layer in model.layers}

        assert architecture.parameters == model.count_params()
        for row in architecture.layers:
            assert built[row.name].count_params() == row.parameters, row.name
            assert tuple(built[row.name].output.shape[1:]) == row.output_shape, row.name

    @pytest.mark.parametrize("config", VARIED.values(), ids=VARIED.keys())
    def test_values_per_image_match_the_model_files_size_check(self, config):
        model = build_model(config)

        parameters, activations = declared_size(_serialised(model))

        assert (parameters, activations) == (describe(config).parameters, describe(config).activations)

    def test_seed_network_table_reads_as_the_seed_project(self):
        rows = describe(TrainConfig()).table()

        assert [(row["layer"], row["output"], row["parameters"]) for row in rows] == [
            ("deslant", "28 x 28 x 1", 0),
            ("conv1", "26 x 26 x 32", 320),
            ("pool1", "13 x 13 x 32", 0),
            ("conv2", "11 x 11 x 64", 18_496),
            ("pool2", "5 x 5 x 64", 0),
            ("flatten", "1600", 0),
            ("dense", "128", 204_928),
            ("dropout", "128", 0),
            ("probabilities", "10", 1_290),
        ]

    def test_multiply_adds_of_the_seed_network(self):
        conv1, conv2 = 26 * 26 * 9 * 32, 11 * 11 * 9 * 32 * 64
        dense, probabilities = 1600 * 128, 128 * 10

        assert describe(TrainConfig()).multiply_adds == conv1 + conv2 + dense + probabilities

    def test_file_size_estimate_is_within_a_tenth_of_the_shipped_file(self):
        estimate = describe(TrainConfig()).file_bytes("adam")

        assert abs(estimate - SHIPPED_MODEL.stat().st_size) < 0.1 * SHIPPED_MODEL.stat().st_size

    def test_shipped_model_has_the_seed_tables_layers(self):
        model, card = load_model(SHIPPED_MODEL)
        architecture = describe(card.train_config)

        assert architecture.parameters == model.count_params()
        assert [layer.name for layer in model.layers[1:]] == [row.name for row in architecture.layers]

    def test_last_convolution_is_named_for_grad_cam(self):
        assert describe(TrainConfig()).last_convolution == "conv2"
        assert describe(TrainConfig(conv_blocks=4)).last_convolution == "conv4"
        assert describe(TrainConfig(architecture="wide", conv_blocks=3, conv_padding="same")).last_convolution == "conv3b"


class TestImpossibleNetworks:
    def test_pooling_a_one_pixel_map_is_refused_with_a_sentence(self):
        config = TrainConfig(conv_blocks=3, conv3_kernel=5, conv3_pooling="max")  # 28 -> 13 -> 5 -> a 5x5 kernel leaves 1x1

        with pytest.raises(ArchitectureError, match="Block 3's pooling would halve a 1x1 map to nothing"):
            describe(config)

    def test_a_kernel_larger_than_its_map_is_refused_with_a_sentence(self):
        config = TrainConfig(conv_blocks=4, conv3_pooling="max")  # valid padding: 28 -> 13 -> 5 -> 1, then a 3x3 kernel

        message = problem(config)

        assert message is not None and message.startswith("Block 4's 3x3 convolution does not fit the 1x1 map")
        with pytest.raises(ValueError, match="Block 4"):
            build_model(config)

    def test_a_network_too_large_to_load_again_is_refused(self):
        config = TrainConfig(conv1_pooling="none", conv2_pooling="none", conv2_filters=256, dense1_units=1024)

        assert "parameters, over the 20,000,000" in problem(config)

    def test_the_seed_network_has_no_problem(self):
        assert problem(TrainConfig()) is None


def _serialised(model: keras.Model) -> dict:
    import json

    return json.loads(model.to_json())


@pytest.mark.parametrize("config", VARIED.values(), ids=VARIED.keys())
def test_built_networks_answer_ten_probabilities(config):
    probabilities = build_model(config)(np.zeros((2, 28, 28, 1), np.float32), training=False)

    np.testing.assert_allclose(np.asarray(probabilities).sum(axis=1), 1.0, atol=1e-5)


def corner_configs() -> dict[str, TrainConfig]:
    """The ends of every architecture range: 1 or 4 blocks, each padding and pooling, smallest and largest filters,
    kernels and dense layers, with and without batch normalisation."""
    corners = {}
    for blocks, padding, pooling in itertools.product((1, 4), PADDINGS, POOLINGS):
        large = blocks == 4
        block_settings = {}
        for block in range(1, 5):
            block_settings |= {
                # The largest filter counts in the first and last blocks; the middle ones small, to train in seconds.
                f"conv{block}_filters": {1: 128, 4: 256}.get(block, 4) if large else 4,
                f"conv{block}_kernel": KERNEL_SIZES[-1] if large else KERNEL_SIZES[0],
                f"conv{block}_batchnorm": large,
                f"conv{block}_pooling": pooling,
            }
        dense = {f"dense{layer}_units": 1024 if large else 16 for layer in range(1, 4)} | {
            f"dense{layer}_dropout": 0.9 if large else 0.0 for layer in range(1, 4)
        }
        config = TrainConfig(conv_blocks=blocks, conv_padding=padding, dense_layers=3 if large else 0, **block_settings, **dense)
        corners[f"{blocks} blocks, {padding}, {pooling}"] = config
    corners["wide, 4 blocks of stride"] = TrainConfig(
        architecture="wide", conv_blocks=4, **{f"conv{b}_pooling": "stride" for b in range(1, 5)}
    )
    return corners


CORNERS = corner_configs()


class TestCornersOfTheRanges:
    def test_some_corners_train_and_some_are_refused(self):
        refused = [name for name, config in CORNERS.items() if problem(config) is not None]

        assert 0 < len(refused) < len(CORNERS)

    @pytest.mark.parametrize("config", CORNERS.values(), ids=CORNERS.keys())
    def test_each_corner_trains_one_batch_or_is_refused_before_training(self, config, mnist):
        message = problem(config)
        if message is not None:
            assert message.endswith(".") and "\n" not in message
            with pytest.raises(ArchitectureError):
                compiled_model(config, steps_per_epoch=1)
            return
        model = compiled_model(config, steps_per_epoch=1)
        images = mnist.x_train[:4, :, :, None].astype(np.float32) / 255  # (4, 28, 28, 1) real digits in [0, 1]

        loss, _ = model.train_on_batch(images, mnist.y_train[:4])

        assert np.isfinite(loss)


class TestExplainingAnyNetwork:
    def test_grad_cam_and_feature_maps_follow_every_block_of_a_built_network(self, mnist):
        config = TrainConfig(conv_blocks=4, conv2_batchnorm=True, conv4_batchnorm=True, dense_layers=2)
        explanation = Explainer(build_model(config)).explain(mnist.x_test[0].astype(np.float32) / 255)

        assert explanation.grad_cam_layer == describe(config).last_convolution == "conv4"
        assert {name: maps.shape for name, maps in explanation.feature_maps.items()} == {
            row.name: row.output_shape for row in describe(config).layers if row.kind == "conv"
        }
        assert explanation.grad_cam.shape == explanation.saliency.shape == (28, 28)

    def test_a_batch_normalised_block_shows_its_activated_maps(self, mnist):
        explanation = Explainer(build_model(TrainConfig(conv2_batchnorm=True))).explain(mnist.x_test[0].astype(np.float32) / 255)

        assert explanation.feature_maps["conv2"].min() >= 0.0  # after the ReLU, not the convolution's raw output
