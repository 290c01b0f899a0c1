"""Every page under Streamlit's AppTest: renders with and without MNIST, trains, evaluates, reads uploads, switches models."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import cv2
import numpy as np
import pytest
import streamlit.testing.v1.app_test as app_test_module
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from core.config import TrainConfig, parameters
from core.model import SHIPPED_MODEL
from core.synth import compose

APP = Path(__file__).resolve().parent.parent / "app.py"
PAGES = {
    "Home": "pages/home.py",
    "Draw": "pages/draw.py",
    "Webcam": "pages/webcam.py",
    "Train": "pages/train.py",
    "Evaluate": "pages/evaluate.py",
}
HEADINGS = {"Home": "✍️ Digit Lab", "Draw": "Draw", "Webcam": "Webcam", "Train": "Train", "Evaluate": "Evaluate"}
RUN_TIMEOUT = 300  # seconds per script run: the first run imports TensorFlow on a shared 2-core machine
TRAIN_TIMEOUT = 480
EVAL_COUNT = 500  # Evaluate's subset; its default of all 10,000 test images is slow on a laptop
NUMBER = "307"  # written with real MNIST test digits in the photo and webcam tests
SHIPPED_LABEL = "Shipped: mnist_cnn.keras"
WIDGET_KINDS = ("slider", "select_slider", "selectbox", "toggle", "number_input")


class _RoutedPagesManager(PagesManager):
    """The pages manager of a server that has already routed one run through app.py."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False


# NOTE: AppTest resets PagesManager.uses_pages_directory before every run, so with a pages/ folder each run starts in
# Streamlit's legacy file-based mode and pages/ui/routing.py reruns it through app.py. That rerun drops a button
# click (a click lasts one run). A real server takes that detour once, on the first run of its first session, so
# tests that click buttons run as on a server that has routed already; TestRouting covers the detour itself.
@pytest.fixture
def routed():
    with mock.patch.object(app_test_module, "PagesManager", _RoutedPagesManager):
        yield


@pytest.fixture
def webrtc():
    """streamlit-webrtc needs a browser: under AppTest its component is replaced by a streamer that is not playing."""
    streamer = SimpleNamespace(state=SimpleNamespace(playing=False))
    with mock.patch("streamlit_webrtc.webrtc_streamer", return_value=streamer) as webrtc_streamer:
        yield webrtc_streamer


@pytest.fixture
def no_mnist(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_PATH", str(tmp_path / "missing" / "mnist.npz"))


def open_app(page: str | None = None) -> AppTest:
    """Run app.py as a new session, then switch to `page` (a path like pages/draw.py)."""
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)
    at.session_state["eval_count"] = EVAL_COUNT
    at.run()
    if page is not None:
        at.switch_page(page).run()
    return at


def chart(at: AppTest, key: str) -> dict:
    """The Plotly figure of the chart drawn with `key`, as the JSON the browser receives."""
    return json.loads(at.get_by_key(key).proto.spec)


def plotly_values(values) -> np.ndarray:
    """A Plotly data array as sent to the browser: a plain list, or numpy data packed as base64 ("bdata")."""
    if isinstance(values, dict):
        packed = np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
        return packed.reshape([int(size) for size in str(values.get("shape", len(packed))).split(",")])
    return np.asarray(values)


def photo_of_number(mnist, number: str, seed: int = 0) -> np.ndarray:
    """A camera-like photo of `number` written with the first MNIST test image of each digit.  -> (480, 640, 3) BGR."""
    digits = [mnist.x_test[np.flatnonzero(mnist.y_test == int(character))[0]] for character in number]
    return compose(digits, [int(character) for character in number], np.random.default_rng(seed), jpeg_quality=90).image


def png_bytes(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


@pytest.mark.usefixtures("routed", "webrtc", "mnist")
class TestEveryPage:
    @pytest.mark.parametrize("title", PAGES)
    def test_renders_without_exception(self, title):
        at = open_app(PAGES[title])
        assert not at.exception
        assert at.title[0].value == HEADINGS[title]

    @pytest.mark.parametrize("title", PAGES)
    def test_shows_the_model_picker_in_the_sidebar(self, title):
        at = open_app(PAGES[title])
        assert at.sidebar.selectbox(key="models_active").value == SHIPPED_LABEL


@pytest.mark.usefixtures("routed", "webrtc", "no_mnist")
class TestWithoutMnist:
    @pytest.mark.parametrize("title", ["Train", "Evaluate"])
    def test_data_pages_explain_how_to_provide_mnist(self, title):
        at = open_app(PAGES[title])
        assert not at.exception
        assert any("MNIST_PATH" in info.value for info in at.info)

    def test_train_stops_before_its_controls(self):
        at = open_app(PAGES["Train"])
        assert not [button for button in at.button if button.key == "train_start"]

    def test_evaluate_stops_before_its_metrics(self):
        at = open_app(PAGES["Evaluate"])
        assert not [metric for metric in at.main.metric if metric.label == "Accuracy"]

    @pytest.mark.parametrize("title", ["Home", "Draw", "Webcam"])
    def test_pages_that_need_no_data_still_work(self, title):
        at = open_app(PAGES[title])
        assert not at.exception
        assert at.title[0].value == HEADINGS[title]
        assert not any("MNIST_PATH" in info.value for info in at.info)


class TestRouting:
    def test_a_page_run_in_legacy_mode_is_rerouted_through_app_py(self, mnist):
        # Without the `routed` fixture every AppTest run starts in legacy mode; only app.py draws the model picker.
        at = open_app(PAGES["Draw"])
        assert not at.exception
        assert at.title[0].value == "Draw"
        assert at.sidebar.selectbox(key="models_active").value == SHIPPED_LABEL


@pytest.mark.usefixtures("routed", "mnist")
class TestDraw:
    def test_an_empty_canvas_shows_no_digit(self):
        at = open_app(PAGES["Draw"])
        assert not at.get_by_key("draw-digit").markdown
        assert at.info[0].value == "Draw a digit on the canvas."

    def test_an_uploaded_photo_of_handwriting_is_read(self, mnist):
        at = open_app(PAGES["Draw"])
        at.file_uploader(key="draw_upload").upload("page.png", png_bytes(photo_of_number(mnist, NUMBER)), "image/png").run()
        assert not at.exception
        assert f"**Read:** {NUMBER}" in [markdown.value for markdown in at.markdown]

    def test_an_upload_that_is_not_an_image_shows_one_error(self):
        at = open_app(PAGES["Draw"])
        at.file_uploader(key="draw_upload").upload("page.png", b"these bytes are not a picture", "image/png").run()
        assert not at.exception
        assert len(at.error) == 1
        assert at.error[0].value.startswith("page.png")


@pytest.mark.usefixtures("routed", "mnist")
class TestWebcam:
    def test_the_streamer_reads_frames_with_the_page_callback_and_no_ice_servers(self, webrtc):
        open_app(PAGES["Webcam"])
        arguments = webrtc.call_args.kwargs
        assert callable(arguments["video_frame_callback"])
        assert arguments["rtc_configuration"] == {"iceServers": []}

    def test_before_start_it_asks_for_the_camera(self, webrtc):
        at = open_app(PAGES["Webcam"])
        assert "Press START and allow the camera." in [info.value for info in at.info]
        assert not at.get_by_key("webcam-number").markdown

    def test_a_frame_through_the_callback_shows_its_number(self, webrtc, mnist):
        import av

        at = open_app(PAGES["Webcam"])
        webrtc.return_value.state.playing = True
        read_frame = webrtc.call_args.kwargs["video_frame_callback"]
        photo = photo_of_number(mnist, NUMBER)
        annotated = read_frame(av.VideoFrame.from_ndarray(photo, format="bgr24"))
        at.run()
        assert not np.array_equal(annotated.to_ndarray(format="bgr24"), photo)  # boxes and labels drawn on the frame
        assert NUMBER in at.get_by_key("webcam-number").markdown[0].value

    def test_it_says_how_to_hold_the_sheet_and_offers_to_show_the_ink(self, webrtc):
        at = open_app(PAGES["Webcam"])
        assert any(caption.value.startswith("Hold the sheet flat and close") for caption in at.caption)
        assert at.toggle(key="webcam_show_ink").label == "Show the ink found"
        assert at.toggle(key="webcam_show_ink").value is False

    def test_show_the_ink_found_paints_the_ink_on_the_video(self, webrtc, mnist):
        import av

        from core.live import INK

        at = open_app(PAGES["Webcam"])
        at.toggle(key="webcam_show_ink").set_value(True).run()
        read_frame = webrtc.call_args.kwargs["video_frame_callback"]
        shown = read_frame(av.VideoFrame.from_ndarray(photo_of_number(mnist, NUMBER), format="bgr24")).to_ndarray(format="bgr24")
        assert np.all(shown == INK, axis=2).any()


@pytest.mark.usefixtures("routed", "mnist")
class TestTrainControls:
    def test_every_config_field_has_a_control_with_its_help_and_default(self):
        at = open_app(PAGES["Train"])
        controls = {widget.key: widget for kind in WIDGET_KINDS for widget in getattr(at, kind) if widget.key}
        defaults = TrainConfig()
        for spec in parameters():
            control = controls.get(f"train_{spec.name}")
            assert control is not None, f"no control for {spec.name}"
            assert control.help == spec.metadata["help"]
            assert control.value == getattr(defaults, spec.name)

    def test_quick_demo_button_sets_two_epochs_on_6000_images(self):
        at = open_app(PAGES["Train"])
        at.button(key="train_quick").click().run()
        assert at.slider(key="train_epochs").value == 2
        assert at.slider(key="train_train_size").value == 6000


@pytest.fixture(scope="module")
def trained(mnist, tmp_path_factory):
    """The Train page after a tiny real run (1 epoch on 500 MNIST images) set up and started with its own widgets."""
    folder = tmp_path_factory.mktemp("user_models")
    with (
        mock.patch.dict(os.environ, {"MNIST_USER_MODELS": str(folder)}),
        mock.patch.object(app_test_module, "PagesManager", _RoutedPagesManager),
    ):
        at = open_app(PAGES["Train"])
        at.slider(key="train_epochs").set_value(1)
        at.slider(key="train_train_size").set_value(500)
        at.slider(key="train_batch_size").set_value(64)
        at.run()
        at.button(key="train_start").click().run()
        assert not at.exception
        job = at.session_state["train_job"]
        assert job.wait(timeout=TRAIN_TIMEOUT), "the tiny training run did not end in time"
        at.run()  # the progress fragment sees the finished job, records the run and reruns the page
    return SimpleNamespace(at=at, job=job, folder=folder)


@pytest.mark.usefixtures("routed")
class TestTinyTrainingRun:
    def test_it_finishes_with_a_success_message(self, trained):
        assert not trained.at.exception
        assert [error.value for error in trained.at.error] == []
        assert trained.at.success[0].value.startswith("Finished")

    def test_the_live_chart_plots_the_epoch_losses(self, trained):
        figure = chart(trained.at, "train_live_chart")
        epoch_lines = [trace for trace in figure["data"] if trace["name"] == "my_cnn train"]
        losses = [log["loss"] for log in trained.job.progress().epoch_logs]
        assert len(losses) == 1
        assert plotly_values(epoch_lines[0]["y"]) == pytest.approx(losses)

    def test_the_run_appears_in_the_comparison(self, trained):
        figure = chart(trained.at, "train_compare_chart")
        assert any(trace["name"] == "my_cnn #1 train" for trace in figure["data"])

    def test_its_model_is_saved_in_the_user_folder(self, trained):
        assert trained.job.result.path.parent.parent == trained.folder / "sessions"  # in this session's own folder
        assert trained.job.result.path.exists()

    def test_its_model_becomes_the_active_model_in_the_sidebar(self, trained):
        picker = trained.at.sidebar.selectbox(key="models_active")
        accuracy = trained.job.result.card.metrics["test_accuracy"]
        assert picker.value == "Trained: my_cnn #1"
        assert trained.at.sidebar.metric[0].value == f"{accuracy:.2%}"

    def test_the_sidebar_switches_back_to_the_shipped_model(self, trained):
        # Runs last in this class: it changes the active model of the shared session.
        trained.at.sidebar.selectbox(key="models_active").select(SHIPPED_LABEL).run()
        assert not trained.at.exception
        assert trained.at.sidebar.selectbox(key="models_active").value == SHIPPED_LABEL
        assert trained.at.sidebar.metric[0].value != f"{trained.job.result.card.metrics['test_accuracy']:.2%}"


@pytest.fixture(scope="module")
def shipped_predictions(mnist):
    """The reference: the shipped model's answers on the Evaluate subset, computed without the app."""
    from core.inference import Recognizer

    probabilities = Recognizer.load().raw_probabilities(mnist.x_test[:EVAL_COUNT] / np.float32(255))
    return probabilities.argmax(axis=1)


@pytest.mark.usefixtures("routed")
class TestEvaluate:
    def test_metrics_show_the_accuracy_on_the_subset(self, mnist, shipped_predictions):
        at = open_app(PAGES["Evaluate"])
        metrics = {metric.label: metric.value for metric in at.get_by_key("eval-metrics").metric}
        accuracy = (shipped_predictions == mnist.y_test[:EVAL_COUNT]).mean()
        assert metrics["Test images"] == f"{EVAL_COUNT:,}"
        assert metrics["Accuracy"] == f"{accuracy:.2%}"

    def test_confusion_matrix_counts_every_answer(self, mnist, shipped_predictions):
        at = open_app(PAGES["Evaluate"])
        reference = np.zeros((10, 10), int)
        np.add.at(reference, (mnist.y_test[:EVAL_COUNT], shipped_predictions), 1)
        assert np.array_equal(plotly_values(chart(at, "eval_confusion")["data"][0]["text"]), reference)

    def test_mistakes_tab_lists_every_mistake(self, mnist, shipped_predictions):
        at = open_app(PAGES["Evaluate"])
        mistakes = int((shipped_predictions != mnist.y_test[:EVAL_COUNT]).sum())
        assert any(caption.value.startswith(f"{mistakes} mistakes") for caption in at.caption)


@pytest.mark.usefixtures("routed", "mnist")
class TestModelUpload:
    def test_a_valid_model_file_becomes_the_active_model(self):
        at = open_app()
        at.sidebar.file_uploader(key="models_upload").upload("digits.keras", SHIPPED_MODEL.read_bytes()).run()
        assert not at.exception
        assert at.sidebar.selectbox(key="models_active").value == "Uploaded: digits.keras"
        assert at.sidebar.success[0].value == "Loaded digits.keras."

    def test_a_broken_model_file_is_refused_with_one_message(self):
        at = open_app()
        at.sidebar.file_uploader(key="models_upload").upload("broken.keras", b"not a keras model at all").run()
        assert not at.exception
        assert len(at.sidebar.error) == 1
        assert "broken.keras" in at.sidebar.error[0].value

    def test_a_broken_model_file_leaves_the_shipped_model_active(self):
        at = open_app()
        at.sidebar.file_uploader(key="models_upload").upload("broken.keras", b"not a keras model at all").run()
        assert at.sidebar.selectbox(key="models_active").value == SHIPPED_LABEL
        assert at.sidebar.selectbox(key="models_active").options == [SHIPPED_LABEL]


class TestKerasState:
    def test_survives_a_script_run(self, routed):
        # Streamlit clears Keras's global state after every run by default, under models that other sessions and a
        # training thread are using (and, every 0.5 s, stalling the live webcam); pages/ui/routing.py opts out.
        import keras

        before = keras.backend.get_uid("digit-lab-probe")
        open_app(PAGES["Home"])

        assert keras.backend.get_uid("digit-lab-probe") == before + 1
