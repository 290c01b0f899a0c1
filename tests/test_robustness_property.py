"""Property: any numpy array given to the recognizer yields a valid answer or a ValueError, never anything else."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from core.inference import Prediction, Reading

DTYPES = [np.bool_, np.uint8, np.uint16, np.int32, np.float32, np.float64]
SIDE = st.integers(0, 48)
# Area-averaging a 0/1 image in float32 can land one unit in the last place above 1.0 (found here: 1.0000001).
ROUNDING = 1e-6  # 0-sized sides included; small enough for 150 examples in seconds

# Any number of dimensions from 0 to 4, and, more often, the shapes images really have (grey, BGR, RGBA, 1 channel).
SHAPES = st.one_of(
    hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6),
    st.tuples(SIDE, SIDE),
    st.tuples(SIDE, SIDE, st.sampled_from([1, 3, 4])),
)


@st.composite
def images(draw) -> np.ndarray:
    """Arrays of any of the dtypes, with any values their dtype holds: NaN, infinities and float64's whole range too."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = draw(SHAPES)
    if dtype.kind == "f":
        bound = draw(st.sampled_from([1.0, 255.0, 1e6, float(np.finfo(dtype).max)]))
        finite = st.floats(-bound, bound, width=dtype.itemsize * 8)
        elements = finite | st.sampled_from([np.nan, np.inf, -np.inf])
        return draw(hnp.arrays(dtype, shape, elements=elements))
    return draw(hnp.arrays(dtype, shape))


def assert_valid_prediction(prediction: Prediction) -> None:
    assert prediction.digit is None or prediction.digit in range(10)
    probabilities = prediction.probabilities
    assert probabilities.shape == (10,) and np.isfinite(probabilities).all()
    assert np.isclose(probabilities.sum(), 1.0, atol=1e-4) or not probabilities.any()
    assert 0.0 <= prediction.confidence <= 1.0
    assert prediction.model_input.shape == (28, 28)
    assert np.isfinite(prediction.model_input).all()
    assert prediction.model_input.min() >= 0.0 and prediction.model_input.max() <= 1.0 + ROUNDING


def assert_valid_reading(reading: Reading) -> None:
    assert reading.number.replace(" ", "") == "".join(str(digit.digit) for digit in reading.digits)
    for digit in reading.digits:
        assert digit.digit in range(10)
        assert digit.probabilities.shape == (10,) and np.isfinite(digit.probabilities).all()
        assert np.isclose(digit.probabilities.sum(), 1.0, atol=1e-4)
        assert digit.model_input.shape == (28, 28) and 0.0 <= digit.model_input.min() <= digit.model_input.max() <= 1.0 + ROUNDING
        assert digit.box.w > 0 and digit.box.h > 0


# No shrinking: a failing example is printed as found (shrinking large arrays took minutes), and nothing is stored.
PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class TestAnyArrayGivesAnAnswerOrAValueError:
    @PROPERTY_SETTINGS
    @given(image=images())
    def test_classify(self, recognizer, image):
        try:
            prediction = recognizer.classify(image)
        except ValueError as error:
            assert str(error)
        else:
            assert_valid_prediction(prediction)

    @PROPERTY_SETTINGS
    @given(image=images())
    def test_read(self, recognizer, image):
        try:
            reading = recognizer.read(image)
        except ValueError as error:
            assert str(error)
        else:
            assert_valid_reading(reading)

    @pytest.mark.parametrize("image", [None, [[0, 255], [255, 0]], "digit.png", np.array([["a"]])])
    def test_things_that_are_not_numeric_arrays_raise_value_error(self, recognizer, image):
        with pytest.raises(ValueError, match="Expected"):
            recognizer.classify(image)


class TestExtremeButFiniteValues:
    @pytest.mark.parametrize(
        "rescale",
        [
            lambda paper: paper.astype(np.float64) * 7e305 - 8.9e307,  # spans most of float64, overflows float32
            lambda paper: paper.astype(np.int32) * 8_000_000 - 1_000_000_000,  # negative 32-bit integers
            lambda paper: 5e9 + paper.astype(np.float64) * 1e-3,  # a narrow range far from zero
        ],
        ids=["float64-whole-range", "int32-negative", "float64-narrow-range"],
    )
    def test_digit_in_any_numeric_range_reads_as_the_same_digit(self, recognizer, mnist, rescale):
        paper = np.pad(255 - mnist.x_test[0], 20, constant_values=255)  # a real 7 as dark ink on white

        prediction = recognizer.classify(rescale(paper))

        assert prediction.digit == recognizer.classify(paper).digit == int(mnist.y_test[0])
