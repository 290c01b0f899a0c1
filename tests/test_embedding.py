"""The space the shipped model learns: PCA of its last hidden layer keeps MNIST's classes apart, and places new drawings."""

from __future__ import annotations

import numpy as np
import pytest

from core.embedding import LearnedSpace, fit_pca, nearest_neighbour_accuracy
from core.model import SHIPPED_MODEL, load_model

COUNT = 5000  # test images in the map, as on the Evaluate page


@pytest.fixture(scope="module")
def space(mnist):
    model, _ = load_model(SHIPPED_MODEL)
    return LearnedSpace(model, mnist.x_test[:COUNT], mnist.y_test[:COUNT])


class TestTheMapOfTheShippedModel:
    def test_test_digits_lie_near_their_own_class(self, space):
        # Measured: 66.2% of 5,000 test digits have a nearest neighbour in 2-D of their own class (10% by chance).
        assert nearest_neighbour_accuracy(space.points, space.labels) > 0.60

    def test_mistakes_are_the_digits_the_model_reads_wrong(self, space, mnist):
        model, _ = load_model(SHIPPED_MODEL)
        first = 1000
        probabilities = model.predict(mnist.x_test[:first, :, :, None].astype(np.float32) / 255, verbose=0, batch_size=500)

        wrong = np.flatnonzero(probabilities.argmax(axis=1) != mnist.y_test[:first])
        np.testing.assert_array_equal(space.mistakes[space.mistakes < first], wrong)
        assert 0 < len(space.mistakes) < 0.02 * COUNT

    def test_a_drawing_is_placed_where_the_same_test_digit_lies(self, space, mnist):
        drawing = mnist.x_test[7].astype(np.float32) / 255

        np.testing.assert_allclose(space.place(drawing), space.points[7], atol=1e-3)
        assert 7 in space.neighbours(space.place(drawing))

    def test_a_drawing_lands_among_its_own_digit(self, space, mnist):
        drawing = mnist.x_test[COUNT + 1].astype(np.float32) / 255  # not in the map

        nearest = space.neighbours(space.place(drawing), count=10)

        assert np.mean(space.labels[nearest] == mnist.y_test[COUNT + 1]) >= 0.5


class TestPCA:
    def test_matches_the_eigenvectors_of_the_covariance(self):
        rows = np.random.default_rng(0).normal(size=(400, 6)) * np.array([5.0, 3.0, 1.0, 0.5, 0.2, 0.1])
        projection = fit_pca(rows)
        eigenvalues, eigenvectors = np.linalg.eigh(np.cov(rows, rowvar=False))
        top = eigenvectors[:, ::-1][:, :2].T  # the two largest, as rows

        np.testing.assert_allclose(np.abs(projection.components @ top.T), np.eye(2), atol=1e-4)
        np.testing.assert_allclose(projection.explained, eigenvalues[::-1][:2] / eigenvalues.sum(), rtol=1e-4)

    def test_one_nearest_neighbour_of_separate_clusters_is_perfect(self):
        points = np.array([[0, 0], [0, 0.1], [5, 5], [5, 5.1]], np.float32)

        assert nearest_neighbour_accuracy(points, np.array([1, 1, 2, 2])) == 1.0
        assert nearest_neighbour_accuracy(points, np.array([1, 2, 1, 2])) == 0.0
