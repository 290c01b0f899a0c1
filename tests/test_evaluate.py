"""Evaluation on real MNIST test digits checked against numpy, and calibration checked on distributions with a known answer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.evaluate import evaluate_model, expected_calibration_error, fit_temperature

SAMPLE = 1000


@pytest.fixture(scope="module")
def evaluated(recognizer, mnist):
    """The shipped model evaluated on the first 1,000 test digits, and its own predictions for comparison."""
    images, labels = mnist.x_test[:SAMPLE], mnist.y_test[:SAMPLE]
    evaluation = evaluate_model(recognizer.model, images, labels)
    probabilities = recognizer.model.predict(images[..., None] / np.float32(255), batch_size=500, verbose=0)
    return evaluation, probabilities, labels.astype(np.int64)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.log(probabilities[np.arange(len(labels)), labels]).mean())


def with_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    return softmax(np.log(probabilities) / temperature)


def sampled_set(rng: np.random.Generator, count: int, sharpness: float) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z), and a model that reports softmax(sharpness * z): over-confident when sharpness > 1."""
    logits = rng.normal(0, 2.5, (count, 10))
    truth = softmax(logits)
    labels = np.array([rng.choice(10, p=row) for row in truth])
    return softmax(sharpness * logits), labels


class TestEvaluateModel:
    def test_accuracy_is_the_share_of_right_answers(self, evaluated):
        evaluation, probabilities, labels = evaluated

        assert evaluation.accuracy == pytest.approx(float((probabilities.argmax(axis=1) == labels).mean()), abs=1e-6)

    def test_loss_is_the_mean_negative_log_likelihood(self, evaluated):
        evaluation, probabilities, labels = evaluated

        assert evaluation.loss == pytest.approx(negative_log_likelihood(np.clip(probabilities, 1e-7, 1), labels), rel=1e-3)

    def test_probabilities_are_the_models_own(self, evaluated):
        evaluation, probabilities, _ = evaluated

        np.testing.assert_allclose(evaluation.probabilities, probabilities, atol=1e-5)

    def test_confusion_counts_every_image_once(self, evaluated):
        evaluation, _, _ = evaluated

        assert evaluation.confusion.shape == (10, 10)
        assert evaluation.confusion.sum() == evaluation.n == SAMPLE

    def test_confusion_rows_are_true_digits_and_columns_predictions(self, evaluated):
        evaluation, probabilities, labels = evaluated
        predictions = probabilities.argmax(axis=1)

        np.testing.assert_array_equal(evaluation.confusion.sum(axis=1), np.bincount(labels, minlength=10))
        np.testing.assert_array_equal(evaluation.confusion.sum(axis=0), np.bincount(predictions, minlength=10))

    def test_confusion_diagonal_is_the_number_of_right_answers(self, evaluated):
        evaluation, probabilities, labels = evaluated

        assert np.trace(evaluation.confusion) == int((probabilities.argmax(axis=1) == labels).sum())

    def test_per_class_scores_match_a_hand_computation_from_the_confusion_matrix(self, evaluated):
        evaluation, _, _ = evaluated
        confusion = evaluation.confusion.astype(float)
        correct = np.diag(confusion)
        precision = correct / confusion.sum(axis=0)
        recall = correct / confusion.sum(axis=1)
        f1 = 2 * precision * recall / (precision + recall)

        rows = evaluation.per_class()

        assert [row["digit"] for row in rows] == list(range(10))
        np.testing.assert_allclose([row["precision"] for row in rows], precision)
        np.testing.assert_allclose([row["recall"] for row in rows], recall)
        np.testing.assert_allclose([row["f1"] for row in rows], f1)
        assert [row["support"] for row in rows] == confusion.sum(axis=1).astype(int).tolist()

    def test_misclassified_are_exactly_the_wrong_answers(self, evaluated):
        evaluation, probabilities, labels = evaluated

        assert sorted(evaluation.misclassified.tolist()) == np.flatnonzero(probabilities.argmax(axis=1) != labels).tolist()

    def test_misclassified_come_most_confident_first(self, evaluated):
        evaluation, _, _ = evaluated
        confidences = evaluation.confidences[evaluation.misclassified]

        assert np.all(np.diff(confidences) <= 0)

    def test_report_is_plain_json(self, evaluated):
        evaluation, _, _ = evaluated
        report = json.loads(json.dumps(evaluation.to_json()))

        assert report["n"] == SAMPLE
        assert report["misclassified"] == len(evaluation.misclassified)
        assert report["confusion"] == evaluation.confusion.tolist()

    def test_reports_progress_up_to_one(self, recognizer, mnist):
        fractions: list[float] = []

        evaluate_model(recognizer.model, mnist.x_test[:300], mnist.y_test[:300], batch_size=100, on_progress=fractions.append)

        assert fractions == sorted(fractions)
        assert fractions[-1] == pytest.approx(1.0)

    def test_leaves_the_callers_model_uncompiled(self, recognizer, evaluated):
        assert not recognizer.model.compiled


class TestFitTemperature:
    @pytest.mark.parametrize("sharpness", [0.5, 2.5], ids=["under-confident", "over-confident"])
    def test_improves_held_out_likelihood_of_a_miscalibrated_model(self, sharpness):
        rng = np.random.default_rng(0)
        fit_probabilities, fit_labels = sampled_set(rng, 3000, sharpness)
        held_out_probabilities, held_out_labels = sampled_set(rng, 3000, sharpness)

        temperature = fit_temperature(fit_probabilities, fit_labels)

        before = negative_log_likelihood(held_out_probabilities, held_out_labels)
        after = negative_log_likelihood(with_temperature(held_out_probabilities, temperature), held_out_labels)
        assert after < before - 0.01

    @pytest.mark.parametrize("sharpness", [0.5, 1.0, 2.5])
    def test_recovers_the_factor_that_miscalibrated_the_model(self, sharpness):
        probabilities, labels = sampled_set(np.random.default_rng(1), 4000, sharpness)

        assert fit_temperature(probabilities, labels) == pytest.approx(sharpness, rel=0.15)


class TestExpectedCalibrationError:
    def test_is_zero_when_confidence_equals_accuracy_in_every_bin(self):
        # Ten answers at confidence 0.9 of which nine are right, four at confidence 0.5 of which two are right.
        sure = np.full((10, 10), 0.1 / 9)
        sure[:, 3] = 0.9
        unsure = np.full((4, 10), 0.5 / 9)
        unsure[:, 6] = 0.5
        probabilities = np.vstack([sure, unsure])
        labels = np.array([3] * 9 + [4] + [6, 6, 1, 2])

        assert expected_calibration_error(probabilities, labels) == pytest.approx(0.0, abs=1e-12)

    def test_is_the_gap_between_confidence_and_accuracy(self):
        probabilities = np.full((8, 10), 0.1 / 9)
        probabilities[:, 0] = 0.9
        labels = np.array([0, 0, 0, 0, 1, 2, 3, 4])  # confident 0.9, right half the time

        assert expected_calibration_error(probabilities, labels) == pytest.approx(0.4)

    def test_is_small_for_labels_drawn_from_the_models_own_probabilities(self):
        probabilities, labels = sampled_set(np.random.default_rng(2), 4000, 1.0)

        assert expected_calibration_error(probabilities, labels) < 0.03
