"""Fool it: changes within the budget make the shipped model misread real MNIST digits, and stay valid images."""

from __future__ import annotations

import numpy as np
import pytest

from core.adversarial import Fooler
from core.model import SHIPPED_MODEL, load_model

SAMPLE = 20  # real MNIST test digits the shipped model reads right


@pytest.fixture(scope="module")
def fooler():
    model, _ = load_model(SHIPPED_MODEL)
    return Fooler(model)


@pytest.fixture(scope="module")
def digits(mnist, fooler):
    """(images, labels) of the first test digits the shipped model reads right; images (n, 28, 28) float32 in [0, 1]."""
    images = mnist.x_test[: SAMPLE + 5].astype(np.float32) / 255
    labels = mnist.y_test[: SAMPLE + 5]
    right = [index for index in range(len(images)) if fooler.fool(images[index], 0.0).original_digit == labels[index]]
    return images[right[:SAMPLE]], labels[right[:SAMPLE]]


class TestFoolingTheShippedModel:
    def test_iterative_changes_of_at_most_0_2_per_pixel_flip_nearly_every_digit(self, fooler, digits):
        images, labels = digits
        attacks = [fooler.fool(image, 0.2, method="iterative") for image in images]

        assert sum(attack.digit != label for attack, label in zip(attacks, labels, strict=True)) >= 0.9 * len(images)

    def test_one_fgsm_step_of_0_3_flips_most_digits(self, fooler, digits):
        images, labels = digits
        attacks = [fooler.fool(image, 0.3, method="fgsm") for image in images]

        assert sum(attack.fooled for attack in attacks) >= 0.6 * len(images)

    def test_a_target_digit_is_reached_within_0_3(self, fooler, digits):
        images, labels = digits
        targets = [(int(label) + 1) % 10 for label in labels]
        attacks = [fooler.fool(image, 0.3, target=target) for image, target in zip(images, targets, strict=True)]

        assert sum(attack.digit == target for attack, target in zip(attacks, targets, strict=True)) >= 0.8 * len(images)

    @pytest.mark.parametrize("method", ["fgsm", "iterative"])
    def test_the_change_stays_within_the_budget_and_the_image_in_0_1(self, fooler, digits, method):
        for image in digits[0][:5]:
            attack = fooler.fool(image, 0.15, method=method)

            assert np.abs(attack.change).max() <= 0.15 + 1e-6
            assert attack.changed.min() >= 0.0 and attack.changed.max() <= 1.0
            assert np.abs(attack.change).max() > 0.1  # it did change the drawing

    def test_a_budget_of_zero_changes_nothing(self, fooler, digits):
        attack = fooler.fool(digits[0][0], 0.0)

        np.testing.assert_array_equal(attack.changed, attack.original)
        assert not attack.fooled

    def test_probabilities_before_the_change_are_the_models(self, fooler, digits):
        model, _ = load_model(SHIPPED_MODEL)
        attack = fooler.fool(digits[0][0], 0.1)

        expected = model(digits[0][:1, :, :, None], training=False).numpy()[0]
        np.testing.assert_allclose(attack.original_probabilities, expected, atol=1e-5)


class TestBadRequests:
    @pytest.mark.parametrize(
        "budget, method, target, message",
        [(1.5, "iterative", None, "between 0 and 1"), (0.1, "pgd", None, "fgsm, iterative"), (0.1, "fgsm", 10, "from 0 to 9")],
    )
    def test_are_refused_in_a_sentence(self, fooler, digits, budget, method, target, message):
        with pytest.raises(ValueError, match=message):
            fooler.fool(digits[0][0], budget, method=method, target=target)
