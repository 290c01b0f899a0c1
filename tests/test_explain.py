"""Explanations of the shipped model: saliency and Grad-CAM point at the ink, feature maps, filters, no side effects."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.explain import Explainer, quadrant_share

SAMPLE = range(20)


def in_top_left_corner(digit: np.ndarray) -> np.ndarray:
    """An MNIST digit shrunk into the top-left 14x14 quadrant of an otherwise empty 28x28 input."""
    model_input = np.zeros((28, 28), np.float32)
    model_input[:14, :14] = cv2.resize(digit, (14, 14), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    return model_input


def mean_shares(heatmaps: list[np.ndarray]) -> dict[tuple[int, int], float]:
    return {
        (row, column): float(np.mean([quadrant_share(heatmap, row, column) for heatmap in heatmaps])) for row in (0, 1) for column in (0, 1)
    }


@pytest.fixture(scope="module")
def explainer(recognizer):
    return Explainer(recognizer.model)


@pytest.fixture(scope="module")
def corner_explanations(explainer, mnist):
    return [explainer.explain(in_top_left_corner(mnist.x_test[index])) for index in SAMPLE]


class TestExplain:
    def test_saliency_lies_mostly_in_the_corner_holding_the_digit(self, corner_explanations):
        shares = mean_shares([explanation.saliency for explanation in corner_explanations])

        others = max(share for quadrant, share in shares.items() if quadrant != (0, 0))
        assert shares[0, 0] > 0.4  # the corner is a quarter of the area
        assert shares[0, 0] > 1.5 * others

    def test_grad_cam_is_strongest_in_the_corner_holding_the_digit(self, corner_explanations):
        shares = mean_shares([explanation.grad_cam for explanation in corner_explanations])

        # Grad-CAM is coarser than saliency: it is the last convolution's 11x11 map enlarged to 28x28.
        others = max(share for quadrant, share in shares.items() if quadrant != (0, 0))
        assert shares[0, 0] > 0.3
        assert shares[0, 0] > 1.25 * others

    def test_heatmaps_are_28_by_28_scaled_to_one(self, corner_explanations):
        for explanation in corner_explanations:
            for heatmap in (explanation.saliency, explanation.grad_cam):
                assert heatmap.shape == (28, 28) and heatmap.dtype == np.float32
                assert heatmap.min() >= 0.0 and heatmap.max() == pytest.approx(1.0)

    def test_explains_the_models_own_answer(self, explainer, recognizer, mnist):
        for index in SAMPLE:
            model_input = mnist.x_test[index].astype(np.float32) / 255

            assert explainer.explain(model_input).digit == int(recognizer.raw_probabilities(model_input[None]).argmax())

    def test_feature_maps_have_the_convolution_layers_shapes(self, explainer, recognizer, mnist):
        explanation = explainer.explain(mnist.x_test[0].astype(np.float32) / 255)
        convolutions = {
            layer.name: tuple(layer.output.shape[1:]) for layer in recognizer.model.layers if "conv" in type(layer).__name__.lower()
        }

        assert {name: maps.shape for name, maps in explanation.feature_maps.items()} == convolutions

    def test_first_layer_filters_are_kernels_scaled_to_the_unit_range(self, explainer, recognizer):
        first = next(layer for layer in recognizer.model.layers if "conv" in type(layer).__name__.lower())
        filters = explainer.first_layer_filters()

        assert filters.shape == (first.filters, *first.kernel_size)
        assert filters.min() >= 0.0 and filters.max() <= 1.0
        assert np.allclose(filters.min(axis=(1, 2)), 0.0) and np.allclose(filters.max(axis=(1, 2)), 1.0)

    def test_explaining_leaves_the_model_weights_unchanged(self, recognizer, mnist):
        before = [weights.copy() for weights in recognizer.model.get_weights()]
        explainer = Explainer(recognizer.model)
        for index in SAMPLE:
            explainer.explain(mnist.x_test[index].astype(np.float32) / 255)

        for old, new in zip(before, recognizer.model.get_weights(), strict=True):
            np.testing.assert_array_equal(new, old)

    def test_blank_input_gives_empty_heatmaps_not_errors(self, explainer):
        explanation = explainer.explain(np.zeros((28, 28), np.float32))

        assert np.isfinite(explanation.saliency).all() and np.isfinite(explanation.grad_cam).all()


class TestQuadrantShare:
    def test_shares_of_the_four_quadrants_sum_to_one(self):
        heatmap = np.random.default_rng(0).random((28, 28))

        assert sum(quadrant_share(heatmap, row, column) for row in (0, 1) for column in (0, 1)) == pytest.approx(1.0)

    def test_all_mass_in_one_quadrant_gives_one(self):
        heatmap = np.zeros((28, 28))
        heatmap[20, 5] = 3.0

        assert quadrant_share(heatmap, 1, 0) == 1.0 and quadrant_share(heatmap, 0, 1) == 0.0

    def test_empty_heatmap_gives_zero(self):
        assert quadrant_share(np.zeros((28, 28)), 0, 0) == 0.0
