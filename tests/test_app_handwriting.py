"""My handwriting and Draw's correction under AppTest: correct a drawing, collect, teach, the personal model reads it right.

The drawing canvas is a browser component that AppTest cannot draw on; it is replaced by one holding a real Semeion
scan the shipped model misreads, drawn large in black on a white canvas as the component returns it (RGBA).
"""

from __future__ import annotations

import sys
import time
from types import SimpleNamespace
from unittest import mock

import cv2
import numpy as np
import pytest
import streamlit.testing.v1.app_test as app_test_module
from streamlit.testing.v1 import AppTest
from test_app import APP, RUN_TIMEOUT, SHIPPED_LABEL, _RoutedPagesManager

from benchmarks.devsets import load_semeion
from core.personalize import Recipe
from core.samples import SampleSet

DRAW = "pages/draw.py"
MINE = "pages/my_handwriting.py"


def canvas_image(scan: np.ndarray) -> np.ndarray:
    """A 16x16 scan (dark ink on white) drawn 200 px tall on a 560x280 canvas.  -> (280, 560, 4) uint8 RGBA."""
    canvas = np.full((280, 560, 4), 255, np.uint8)
    large = cv2.resize(scan, (200, 200), interpolation=cv2.INTER_NEAREST)
    canvas[40:240, 180:380, :3] = large[..., None]
    return canvas


@pytest.fixture(scope="module")
def misread_scan(recognizer):
    """The first Semeion scan that the shipped model reads as one wrong digit on the Draw canvas: (scan, label, read)."""
    images, labels = load_semeion()
    for scan, label in zip(images, labels, strict=True):
        reading = recognizer.read(canvas_image(scan))
        if len(reading.digits) == 1 and reading.digits[0].digit != label:
            return scan, int(label), reading.digits[0].digit
    raise AssertionError("no misread scan")


@pytest.fixture
def drawn(misread_scan, monkeypatch):
    """-> (scan, label, read) and a function that puts the scan on every canvas once a page has imported the component.

    NOTE: the component's module can only be imported inside a script run, so it is patched after a page imported it.
    """
    image = canvas_image(misread_scan[0])
    result = SimpleNamespace(image_data=image, json_data={"objects": [{"type": "path"}]})

    def draw_scan() -> None:
        monkeypatch.setattr(sys.modules["streamlit_drawable_canvas"], "st_canvas", lambda **kwargs: result)

    return *misread_scan, draw_scan


@pytest.fixture
def quick_teaching(monkeypatch):
    """Two folds of 30 steps instead of three of the full recipe: the same code, short enough for a test."""
    monkeypatch.setattr("core.teaching.RECIPE", Recipe(steps=30))
    monkeypatch.setattr("core.teaching.CROSS_VALIDATION_FOLDS", 2)


@pytest.fixture
def routed():
    with mock.patch.object(app_test_module, "PagesManager", _RoutedPagesManager):
        yield


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)
    at.run()
    at.switch_page(page).run()
    return at


def samples_zip(count: int = 20) -> bytes:
    images, labels = load_semeion()
    return SampleSet.from_images(list(images[:count]), labels[:count].tolist(), [str(i) for i in range(count)]).to_zip()


def teach(at: AppTest, timeout: float = 120) -> None:
    at.button(key="hw_teach").click().run()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = at.session_state["hw_job"]
        if not job.busy:
            break
        time.sleep(0.5)
    at.run()  # the fragment sees the ended job and reruns the app with the personal model active
    at.run()


@pytest.mark.usefixtures("routed", "mnist", "quick_teaching")
class TestTeachingFromACorrection:
    def test_a_corrected_drawing_is_taught_and_then_read_right_and_a_second_session_sees_none_of_it(self, drawn):
        scan, label, read, draw_scan = drawn
        at = open_page(DRAW)
        draw_scan()
        at.run()
        assert at.get_by_key("draw-digit").markdown[0].value.endswith(f">{read}</p>")
        at.pills(key="draw_correct_0_0").set_value(str(label)).run()
        assert not at.exception
        assert at.success[0].value == f"Kept as a {label} (1 of {label} in your samples)."

        at.switch_page(MINE).run()
        at.file_uploader(key="hw_upload").upload("mine.zip", samples_zip(), "application/zip").run()
        assert not at.exception
        assert len(at.session_state["hw_samples"]) == 21  # the upload joins the corrected drawing
        assert at.success[0].value == "Added 20 samples from mine.zip."

        teach(at)
        assert not at.exception
        assert at.sidebar.selectbox(key="models_active").value.startswith("Personal: ")
        result = at.get_by_key("hw-result")
        assert result.success[0].value.startswith("Your personal model is the active model now.")
        assert [metric.label for metric in result.metric] == ["Samples it was not taught (cross-validation)", "Your samples", "MNIST test"]
        report = at.session_state["hw_job"].result.report
        assert result.metric[0].value == f"{report.held_out_after:.0%}"  # measured after the model became active
        assert result.metric[2].value == f"{report.mnist_after:.2%}"

        at.switch_page(DRAW).run()
        assert at.get_by_key("draw-digit").markdown[0].value.endswith(f">{label}</p>")

        other = open_page(MINE)
        assert len(other.session_state["hw_samples"]) == 0
        assert other.sidebar.selectbox(key="models_active").options == [SHIPPED_LABEL]


@pytest.mark.usefixtures("routed", "mnist")
class TestMyHandwriting:
    def test_guided_collection_keeps_a_drawing_as_the_chosen_digit(self, drawn):
        scan, label, _, draw_scan = drawn
        at = open_page(MINE)
        draw_scan()
        at.run()
        assert at.segmented_control(key="hw_digit").value == "0"  # the first digit short of five
        at.segmented_control(key="hw_digit").set_value(str(label)).run()
        at.button(key="hw_add").click().run()
        assert not at.exception
        assert at.session_state["hw_samples"].labels == [label]
        assert any(caption.value.startswith("**0**: 0/5") for caption in at.caption)

    def test_samples_can_be_removed_from_the_grid(self):
        at = open_page(MINE)
        at.file_uploader(key="hw_upload").upload("mine.zip", samples_zip(6), "application/zip").run()
        before = list(at.session_state["hw_samples"].labels)
        at.button(key="hw_remove_2").click().run()
        assert at.session_state["hw_samples"].labels == before[:2] + before[3:]

    def test_a_bad_zip_gets_one_sentence(self):
        at = open_page(MINE)
        at.file_uploader(key="hw_upload").upload("mine.zip", b"not a zip", "application/zip").run()
        assert not at.exception
        assert [error.value for error in at.error] == ["mine.zip: not a zip file (or a damaged one)."]
