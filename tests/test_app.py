"""Every page under Streamlit's AppTest: renders with and without MNIST, trains, evaluates, reads uploads, switches models."""

from __future__ import annotations

import base64
import json
import os
import re
import time
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import cv2
import numpy as np
import pytest
import streamlit.testing.v1.app_test as app_test_module
from resources import wait_until
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


PHONE_BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
LAPTOP_BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


@pytest.mark.usefixtures("routed", "mnist")
class TestDrawCanvasSize:
    @pytest.mark.parametrize(("browser", "size"), [(PHONE_BROWSER, "Narrow (phone)"), (LAPTOP_BROWSER, "Wide (numbers)")])
    def test_the_canvas_starts_at_the_size_that_fits_the_device(self, browser, size):
        with mock.patch("pages.ui.canvas._headers", return_value={"User-Agent": browser}):
            at = open_app(PAGES["Draw"])
        assert not at.exception
        assert at.radio(key="draw_canvas_size").value == size


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

    def test_a_frame_misread_now_and_then_does_not_change_the_number_shown(self, webrtc, mnist):
        import av

        at = open_app(PAGES["Webcam"])
        webrtc.return_value.state.playing = True
        read_frame = webrtc.call_args.kwargs["video_frame_callback"]
        for _ in range(2):
            read_frame(av.VideoFrame.from_ndarray(photo_of_number(mnist, NUMBER), format="bgr24"))
        read_frame(av.VideoFrame.from_ndarray(np.full((480, 640, 3), 235, np.uint8), format="bgr24"))  # the sheet lost a moment
        at.run()
        assert NUMBER in at.get_by_key("webcam-number").markdown[0].value
        assert any("the last frame alone read no digit" in caption.value for caption in at.caption)

    def test_it_says_how_to_hold_the_sheet_and_offers_to_show_the_ink(self, webrtc):
        at = open_app(PAGES["Webcam"])
        assert any(caption.value.startswith("Hold the sheet flat and close") for caption in at.caption)
        assert at.toggle(key="webcam_show_ink").label == "Show the ink found"
        assert at.toggle(key="webcam_show_ink").value is False

    def test_the_snapshot_camera_opens_only_when_asked_for(self, webrtc):
        at = open_app(PAGES["Webcam"])
        assert not at.get("camera_input")  # no second live preview of the camera on page load
        at.toggle(key="webcam_snapshot_on").set_value(True).run()
        assert len(at.get("camera_input")) == 1

    def test_a_visitor_on_this_computer_is_not_told_about_turn_servers(self, webrtc):
        at = open_app(PAGES["Webcam"])
        shown = " ".join([info.value for info in at.info] + [text.value for text in at.markdown])
        assert "TURN" not in shown and "TWILIO" not in shown

    def test_a_remote_visitor_without_turn_gets_one_plain_line_and_the_owner_the_details(self, webrtc, monkeypatch):
        import pages.ui.webrtc

        monkeypatch.setattr(pages.ui.webrtc, "on_this_computer", lambda: False)
        at = open_app(PAGES["Webcam"])
        notices = [info.value for info in at.info]
        assert any(notice.startswith("If the live video stays black") for notice in notices)
        assert not any("TWILIO" in notice for notice in notices)  # no variable names in what every visitor reads
        assert [expander.label for expander in at.expander if "owner" in expander.label] == [
            "For the app's owner: live video from anywhere"
        ]
        assert any("TWILIO_ACCOUNT_SID" in text.value for text in at.markdown)

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

    def test_every_control_has_a_label_in_plain_words(self):
        at = open_app(PAGES["Train"])
        controls = {widget.key: widget for kind in WIDGET_KINDS for widget in getattr(at, kind) if widget.key}
        labels = [controls[f"train_{spec.name}"].label for spec in parameters()]

        assert labels == [spec.metadata["label"] for spec in parameters()]
        assert not {"Lr schedule", "Share", "Square", "Styles", "Distribution"} & set(labels)


@pytest.fixture(scope="module")
def stopped(mnist, tmp_path_factory):
    """The Train page after a run stopped in its first epoch; meanwhile a second visitor pressed Start and was refused.

    The run: 3 epochs of 675 batches of 8 images, without the augmentations that add images (they take a while to
    make). Stop is pressed once its time left has been measured.
    """
    folder = tmp_path_factory.mktemp("user_models")
    with (
        mock.patch.dict(os.environ, {"MNIST_USER_MODELS": str(folder)}),
        mock.patch.object(app_test_module, "PagesManager", _RoutedPagesManager),
    ):
        at = open_app(PAGES["Train"])
        at.slider(key="train_epochs").set_value(3)
        at.slider(key="train_train_size").set_value(6000)
        at.slider(key="train_batch_size").set_value(8)
        for augmentation in ("square", "styles", "pens"):
            at.toggle(key=f"train_augment_{augmentation}").set_value(False)
        at.run()
        at.button(key="train_start").click().run()
        job = at.session_state["train_job"]
        first_label = at.progress[0].text if at.progress else ""
        assert wait_until(lambda: job.progress().eta_seconds is not None or not job.running, TRAIN_TIMEOUT), "no time left was measured"
        at.run()
        measured_label = at.progress[0].text
        other_visitor = open_app(PAGES["Train"])
        other_visitor.button(key="train_start").click().run()
        at.button(key="train_stop").click().run()
        assert job.wait(timeout=TRAIN_TIMEOUT), "the stopped run did not end in time"
        at.run()  # the progress fragment sees the stopped job, records the run and reruns the page
    return SimpleNamespace(at=at, job=job, first_label=first_label, measured_label=measured_label, other_visitor=other_visitor)


@pytest.mark.usefixtures("routed")
class TestStoppedRun:
    def test_it_was_stopped_inside_the_first_epoch(self, stopped):
        assert not stopped.at.exception
        assert stopped.job.result.card.epochs_completed == 0

    def test_the_time_left_says_estimating_until_batches_are_measured(self, stopped):
        assert stopped.first_label.endswith("estimating the time left…") or stopped.first_label.startswith("Preparing")
        assert stopped.measured_label.endswith(" left") and "estimating" not in stopped.measured_label

    def test_a_refused_visitor_is_told_the_time_the_run_has_left(self, stopped):
        warning = stopped.other_visitor.warning[0].value
        assert warning.startswith("Another visitor is training")
        assert re.search(r"It has about \d+ (s|minutes?|hours?) left: try again then\.$", warning)

    def test_it_is_marked_partial_in_words_a_student_reads(self, stopped):
        warning = stopped.at.get_by_key("train-partial").warning[0].value
        assert warning.startswith("Stopped") and "partly trained" in warning
        assert stopped.job.result.card.partial
        assert stopped.job.result.card.notes == "Stopped by the user during the first of 3 epochs: only partly trained."

    def test_it_leaves_the_active_model_alone_and_waits_in_the_list(self, stopped):
        picker = stopped.at.sidebar.selectbox(key="models_active")
        assert picker.value == SHIPPED_LABEL
        assert "Trained: my_cnn #1 (partial)" in picker.options

    def test_it_appears_in_compare_runs_with_its_batches(self, stopped):
        figure = chart(stopped.at, "train_compare_chart")
        batches = [trace for trace in figure["data"] if trace["name"] == "my_cnn #1 (stopped) train (batches)"]
        assert batches and len(plotly_values(batches[0]["x"])) >= 1
        assert figure["layout"]["xaxis"]["rangemode"] == "tozero"

    def test_the_chart_explains_validation_above_training(self, stopped):
        captions = [caption.value for caption in stopped.at.get_by_key("train-chart").caption]
        assert any("dropout and augmentation" in caption for caption in captions)

    def test_the_person_can_still_choose_it(self, stopped):
        # Runs last in this class: it changes the active model of the shared session.
        stopped.at.button(key="train_use_partial").click().run()
        stopped.at.run()  # the sidebar applies the choice at the start of the next run
        assert stopped.at.sidebar.selectbox(key="models_active").value == "Trained: my_cnn #1 (partial)"


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
class TestEvaluationsAreShared:
    def test_a_rerun_and_a_second_visitor_reuse_the_evaluation_without_computing_it_again(self, monkeypatch):
        from core import evaluate
        from pages.ui.evaluation import _evaluation

        _evaluation.clear()  # no evaluation kept from another test
        computed = []
        evaluate_model = evaluate.evaluate_model
        monkeypatch.setattr(evaluate, "evaluate_model", lambda *args, **kwargs: computed.append(1) or evaluate_model(*args, **kwargs))
        first = open_app(PAGES["Evaluate"])
        first.run()  # a rerun replays what the cached evaluation drew (its progress bar)
        second = open_app(PAGES["Evaluate"])

        accuracy = [{metric.label: metric.value for metric in at.get_by_key("eval-metrics").metric}["Accuracy"] for at in (first, second)]
        assert not first.exception and not second.exception
        assert len(computed) == 1
        assert accuracy[0] == accuracy[1]


@pytest.fixture(scope="module")
def evaluated(mnist):
    """The Evaluate page of the shipped model on the first EVAL_COUNT test images."""
    with mock.patch.object(app_test_module, "PagesManager", _RoutedPagesManager):
        return open_app(PAGES["Evaluate"])


def per_digit_columns(at: AppTest) -> dict:
    """The column settings of Evaluate's per-digit table, as the browser receives them."""
    tables = [json.loads(table.proto.columns or "{}") for table in at.dataframe]
    return next(columns for columns in tables if "precision" in columns)


@pytest.mark.usefixtures("routed")
class TestEvaluateReadsClearly:
    def test_the_confusion_matrix_labels_every_digit(self, evaluated):
        layout = chart(evaluated, "eval_confusion")["layout"]
        assert layout["xaxis"]["tickvals"] == layout["yaxis"]["tickvals"] == [str(digit) for digit in range(10)]

    def test_precision_recall_and_f1_are_explained(self, evaluated):
        captions = " ".join(caption.value for caption in evaluated.caption)
        assert "**Precision**" in captions and "**Recall**" in captions and "**F1**" in captions
        columns = per_digit_columns(evaluated)
        assert all(columns[name]["help"] for name in ("precision", "recall", "f1"))

    def test_scores_are_percentages_with_two_decimals(self, evaluated):
        columns = per_digit_columns(evaluated)
        assert {columns[name]["type_config"]["format"] for name in ("precision", "recall", "f1")} == {"%.2f%%"}

    def test_right_and_wrong_bars_stand_side_by_side(self, evaluated):
        figure = chart(evaluated, "eval_confidence")
        assert figure["layout"]["barmode"] == "group"
        assert [trace["name"] for trace in figure["data"]] == ["right", "wrong"]
        assert figure["data"][0]["xbins"] == figure["data"][1]["xbins"]  # the same bins, so bars pair up


@pytest.mark.usefixtures("routed", "mnist")
class TestCompareUpload:
    def test_a_model_uploaded_to_compare_leaves_the_active_model_alone(self):
        at = open_app(PAGES["Evaluate"])
        at.file_uploader(key="eval_compare_upload").upload("other.keras", SHIPPED_MODEL.read_bytes()).run()
        assert not at.exception
        assert at.sidebar.selectbox(key="models_active").value == SHIPPED_LABEL
        assert at.selectbox(key="eval_compare_b").value == "Uploaded: other.keras"
        assert "Loaded other.keras." in [success.value for success in at.success]


def test_probability_bars_label_every_digit():
    from pages.ui import charts

    layout = charts.probabilities(np.full(10, 0.1)).to_plotly_json()["layout"]
    assert layout["xaxis"]["tickvals"] == [str(digit) for digit in range(10)]


@pytest.mark.parametrize("count", [1, 3])
def test_the_figures_drawn_on_every_stroke_pass_plotlys_checks(count):
    """They are built without Plotly's checks (pages/ui/charts.py): here the same figures go through them."""
    import plotly.graph_objects as go

    from core.inference import DigitReading
    from core.preprocess import Box
    from pages.ui import charts

    values = np.linspace(0.0, 1.0, 10, dtype=np.float32) / 4.5
    digits = [DigitReading(9, float(values[9]), Box(0, 0, 10, 10), values, np.zeros((28, 28), np.float32))] * count
    figure = charts.digit_probabilities(digits)
    checked = go.Figure(figure.to_dict())  # raises ValueError on any property Plotly does not know

    # The checks only spell values out (a colour scale's name becomes its colours); no property is dropped.
    assert set(checked.to_dict()["data"][0]) == set(figure.to_dict()["data"][0])
    assert set(checked.to_dict()["layout"]) == set(figure.to_dict()["layout"])
    assert len(checked.data) == 1 and checked.data[0].type == ("bar" if count == 1 else "heatmap")


def _inside_the_network(photo_path: str) -> None:
    """A page that reads a saved photo with the active model and shows Draw's 'Inside the network' for its digits."""
    import numpy as np

    from pages.ui import explain, models

    model = models.active_model()
    explain.show(model, model.recognizer.read(np.load(photo_path)).digits)


@pytest.fixture(scope="module")
def inside_the_network(mnist, tmp_path_factory):
    photo_path = tmp_path_factory.mktemp("photo") / f"{NUMBER}.npy"
    np.save(photo_path, photo_of_number(mnist, NUMBER))
    return AppTest.from_function(_inside_the_network, args=(str(photo_path),), default_timeout=RUN_TIMEOUT).run()


class TestInsideTheNetwork:
    def test_the_visitor_chooses_which_digit_to_explain(self, inside_the_network):
        choice = inside_the_network.get("button_group")[0]
        assert choice.options == [f"#{index + 1}: {digit}" for index, digit in enumerate(NUMBER)]
        assert "evidence for 3" in inside_the_network.get("image")[1].captions[0]

    def test_each_panel_has_one_plain_sentence(self, inside_the_network):
        captions = [image.captions[0] for image in inside_the_network.get("image")]
        assert len(captions) == 6 and all(caption.count(". ") == 0 and caption.endswith(".") for caption in captions)
        assert captions[0].startswith("What the network sees") and captions[3].startswith("The first convolution")
        assert not any("empty space beside the stroke" in caption for caption in captions)  # said only of a 1

    def test_choosing_another_digit_explains_it(self, inside_the_network):
        # Runs last in this class: it changes the shared page's choice.
        inside_the_network.get("button_group")[0].set_value("#3: 7").run()
        assert "evidence for 7" in inside_the_network.get("image")[1].captions[0]


def test_the_heatmaps_lie_over_the_digit_in_panels_of_one_size(mnist, recognizer):
    from core.explain import Explainer
    from pages.ui import explain

    model_input = recognizer.classify(mnist.x_test[0]).model_input  # a 7
    shown = explain.panels(model_input, Explainer(recognizer.model).explain(model_input))
    assert {picture.shape[:2] for picture, _ in shown} == {(168, 168)}
    cam = shown[1][0]
    assert cam.ndim == 3 and (cam[..., 0] - cam[..., 2]).max() > 0.5  # red heat, not a grey blob
    ink_only = (model_input > 0.5) & (Explainer(recognizer.model).explain(model_input).grad_cam < 0.01)
    if ink_only.any():  # where there is ink and no heat, the digit shows in grey beneath
        row, column = np.argwhere(ink_only)[0] * 6
        assert np.allclose(cam[row, column], cam[row, column, 0])


def test_only_a_1_is_said_to_be_told_by_the_empty_space_beside_it():
    from core.explain import Explanation
    from pages.ui import explain

    blank = np.zeros((28, 28), np.float32)
    for digit, said in ((1, True), (7, False)):
        captions = [caption for _, caption in explain.panels(blank, Explanation(digit, blank, blank, {}))]
        assert ("empty space beside the stroke" in captions[1]) is said


class TestProgressLabel:
    def test_it_says_estimating_until_batches_after_the_warm_up_are_timed(self):
        from core.progress import TrainingProgress, TrainingStatus
        from pages.ui.training import progress_label

        early = TrainingProgress(total_steps=3360, steps_done=4, status=TrainingStatus.RUNNING)
        assert progress_label(early, TrainingStatus.RUNNING) == "4/3,360 batches, estimating the time left…"

    def test_it_gives_the_measured_time_left_in_minutes(self):
        from core.progress import TrainingProgress, TrainingStatus
        from pages.ui.training import progress_label

        # 100 batches timed in 10 s since the warm-up: 3,240 batches left take about 324 s.
        measured = TrainingProgress(total_steps=3360, steps_done=120, status=TrainingStatus.RUNNING, timed_steps=20)
        measured.timed_since = time.monotonic() - 10.0
        assert progress_label(measured, TrainingStatus.RUNNING) == "120/3,360 batches, about 5 minutes left"


class TestTrainingCurves:
    HEALTHY = [{"epoch": 1, "loss": 0.3, "accuracy": 0.9}, {"epoch": 2, "loss": 0.1, "accuracy": 0.97}]

    def test_a_diverged_run_does_not_flatten_the_others(self):
        from pages.ui import charts

        diverged = [{"epoch": 0.4, "loss": 3e6, "accuracy": 0.1}]
        layout = charts.training_curves([("good", [], self.HEALTHY), ("bad (diverged)", diverged, [])]).to_plotly_json()["layout"]
        assert layout["yaxis"]["range"] == [0, charts.LOSS_CEILING]
        assert "off the chart" in layout["annotations"][-1]["text"]

    def test_healthy_runs_keep_their_own_loss_scale(self):
        from pages.ui import charts

        layout = charts.training_curves([("good", [], self.HEALTHY)]).to_plotly_json()["layout"]
        assert "range" not in layout["yaxis"]

    def test_an_empty_chart_spans_the_planned_epochs_from_zero(self):
        from pages.ui import charts

        layout = charts.training_curves([("starting", [], [])], planned_epochs=12).to_plotly_json()["layout"]
        assert layout["xaxis"]["range"] == [0, 12] and layout["xaxis2"]["range"] == [0, 12]


@pytest.mark.usefixtures("routed", "mnist")
class TestHome:
    def test_the_model_card_is_shown_once_in_the_sidebar(self):
        at = open_app(PAGES["Home"])
        assert not at.main.metric and not at.main.expander
        assert [metric.label for metric in at.sidebar.metric] == ["MNIST test accuracy"]

    def test_it_leads_with_a_sentence_a_student_reads(self):
        at = open_app(PAGES["Home"])
        sentence = at.get_by_key("home-model").markdown[0].value
        assert sentence.startswith("It reads 99.52% of the 10,000 MNIST test digits right: it gets 48 digits wrong.")
        assert "calibrated: when it says 90%, it is right about 9 times in 10" in sentence
        how = at.sidebar.expander[0]
        assert how.label == "How it was trained" and how.markdown[0].value == sentence
        assert "calibration temperature 1.59" in how.caption[-1].value


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


class TestStartingTheApp:
    def test_the_file_watcher_polls_the_projects_files_instead_of_watching_the_folder(self, monkeypatch):
        # Watchdog watched the app's folder recursively, .venv included: "Inotify queue overflowed", hundreds of times.
        from streamlit import config
        from streamlit.watcher.path_watcher import get_default_path_watcher_class
        from streamlit.watcher.polling_path_watcher import PollingPathWatcher

        monkeypatch.chdir(APP.parent)
        config.get_config_options(force_reparse=True)
        try:
            assert get_default_path_watcher_class() is PollingPathWatcher
        finally:
            config.get_config_options(force_reparse=True)

    def test_python_311_to_313_are_supported_and_314_is_not(self):
        import tomllib

        from packaging.specifiers import SpecifierSet

        supported = SpecifierSet(tomllib.loads((APP.parent / "pyproject.toml").read_text())["project"]["requires-python"])
        assert [version in supported for version in ("3.10", "3.11", "3.12", "3.13", "3.14")] == [False, True, True, True, False]

    def test_the_readme_tells_a_community_cloud_user_which_python_to_pick(self):
        readme = (APP.parent / "README.md").read_text()
        deploying = " ".join(readme[readme.index("## Deploying on Streamlit Community Cloud") :].split())
        assert "Python 3.11, 3.12 or 3.13" in readme
        assert "pick **Python 3.12**" in deploying and "Do not pick 3.14" in deploying


class TestKerasState:
    def test_survives_a_script_run(self, routed):
        # Streamlit clears Keras's global state after every run by default, under models that other sessions and a
        # training thread are using (and, every 0.5 s, stalling the live webcam); pages/ui/routing.py opts out.
        import keras

        before = keras.backend.get_uid("digit-lab-probe")
        open_app(PAGES["Home"])

        assert keras.backend.get_uid("digit-lab-probe") == before + 1
