"""Issue 17's pages under AppTest: build your own network and share it in a link (Train), the learned space (Evaluate),
fool it (Draw).

Draw's canvas is a browser component that AppTest cannot draw on; it is replaced by one holding a real MNIST test
digit, drawn large in black on a white canvas as the component returns it (RGBA).
"""

from __future__ import annotations

import sys
from types import SimpleNamespace
from unittest import mock

import cv2
import numpy as np
import pytest
import streamlit.testing.v1.app_test as app_test_module
from streamlit.testing.v1 import AppTest
from test_app import APP, PAGES, RUN_TIMEOUT, _RoutedPagesManager, chart, open_app, plotly_values

from core.architecture import describe
from core.config import TrainConfig, to_query
from core.model import SHIPPED_MODEL


@pytest.fixture(autouse=True)
def routed(mnist):
    with mock.patch.object(app_test_module, "PagesManager", _RoutedPagesManager):
        yield


def open_link(query: dict[str, str]) -> AppTest:
    """A new visitor opening the Train page from a link carrying `query`."""
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)
    at.query_params.update(query)
    at.run()
    return at.switch_page(PAGES["Train"]).run()


def layer_rows(at: AppTest) -> list[tuple[str, str, int]]:
    table = at.get_by_key("train-architecture").dataframe[0].value
    return list(zip(table["layer"], table["output"], table["parameters"], strict=True))


class TestBuildYourOwnNetwork:
    def test_the_layer_table_shows_the_seed_network_and_its_totals(self):
        at = open_app(PAGES["Train"])
        totals = {metric.label: metric.value for metric in at.metric}

        assert layer_rows(at)[1] == ("conv1", "26 x 26 x 32", 320)
        assert totals["Parameters"] == "225,034" and totals["File size"] == "about 2.7 MB"

    def test_a_third_block_with_batch_norm_appears_in_the_table(self):
        at = open_app(PAGES["Train"])
        at.slider(key="train_conv_blocks").set_value(3).run()
        at.toggle(key="train_conv3_batchnorm").set_value(True).run()
        expected = describe(TrainConfig(conv_blocks=3, conv3_batchnorm=True))

        assert [row[0] for row in layer_rows(at)] == [layer.name for layer in expected.layers]
        assert {m.label: m.value for m in at.metric}["Parameters"] == f"{expected.parameters:,}"

    def test_controls_of_unused_blocks_are_greyed_out(self):
        at = open_app(PAGES["Train"])

        assert not at.slider(key="train_conv2_filters").disabled
        assert at.slider(key="train_conv3_filters").disabled and at.slider(key="train_dense2_units").disabled

    def test_an_impossible_network_gets_a_sentence_and_start_is_disabled(self):
        at = open_app(PAGES["Train"])
        at.slider(key="train_conv_blocks").set_value(4).run()
        at.selectbox(key="train_conv3_pooling").set_value("max").run()

        assert not at.exception
        assert at.error[0].value.startswith("Block 4's 3x3 convolution does not fit the 1x1 map")
        assert at.button(key="train_start").disabled


class TestSettingsInTheLink:
    def test_changed_settings_are_written_to_the_url(self):
        at = open_app(PAGES["Train"])
        at.slider(key="train_epochs").set_value(5).run()
        at.selectbox(key="train_conv1_pooling").set_value("avg").run()

        assert dict(at.query_params) == {"epochs": "5", "conv1_pooling": "avg"}

    def test_a_link_opens_the_page_with_every_setting_it_carries(self):
        config = TrainConfig(epochs=3, learning_rate=3e-4, conv_blocks=3, conv2_batchnorm=True, dense_layers=2, augment_pens=False)
        at = open_link(to_query(config))

        assert not at.exception and not at.warning
        assert at.slider(key="train_epochs").value == 3 and at.select_slider(key="train_learning_rate").value == 3e-4
        assert at.toggle(key="train_conv2_batchnorm").value and not at.toggle(key="train_augment_pens").value
        assert [row[0] for row in layer_rows(at)] == [layer.name for layer in describe(config).layers]

    def test_invalid_values_in_a_link_get_a_sentence_and_the_default(self):
        at = open_link({"epochs": "many", "conv_blocks": "9", "learning_rate": "0.0005", "dense_layers": "3"})

        assert not at.exception
        messages = [warning.value for warning in at.warning]
        assert len(messages) == 3 and all("was not used" in message for message in messages)
        assert at.slider(key="train_epochs").value == 12 and at.slider(key="train_conv_blocks").value == 2
        assert at.slider(key="train_dense_layers").value == 3  # the valid value is still used


# --- The space it learns (Evaluate) ----------------------------------------------------------------------------------

DIGITS = [str(digit) for digit in range(10)]
MAP_COUNT = 5000


@pytest.fixture(scope="module")
def learned_space_page(mnist):
    """The Evaluate page with the map of the shipped model's learned space shown."""
    with mock.patch.object(app_test_module, "PagesManager", _RoutedPagesManager):
        at = open_app(PAGES["Evaluate"])
        at.toggle(key="eval_embedding_on").set_value(True).run()
    return at


def customdata(trace: dict) -> np.ndarray:
    return plotly_values(trace["customdata"]).reshape(-1, 3)


class TestTheSpaceItLearns:
    def test_the_map_is_computed_only_when_asked_for(self):
        at = open_app(PAGES["Evaluate"])
        section = at.get_by_key("eval-embedding")

        assert section.subheader[0].value == "The space it learns"
        assert not section.toggle[0].value and not section.get("plotly_chart")

    def test_the_shipped_models_map_is_computed_once_for_every_visitor(self, monkeypatch):
        import core.embedding
        from pages.ui.embedding import _shared_map

        _shared_map.clear()  # no map kept from another test
        computed = []
        learned_space = core.embedding.LearnedSpace
        monkeypatch.setattr(core.embedding, "LearnedSpace", lambda *args, **kwargs: computed.append(1) or learned_space(*args, **kwargs))
        visitors = [open_app(PAGES["Evaluate"]) for _ in range(2)]
        for at in visitors:
            at.toggle(key="eval_embedding_on").set_value(True).run()
            at.run()  # a rerun replays what the cached map drew (its progress bar)

        assert not any(at.exception for at in visitors)
        assert len(computed) == 1
        assert all(chart(at, "eval_embedding_map")["data"] for at in visitors)

    def test_a_visitors_own_models_map_is_computed_once_in_its_session(self, monkeypatch):
        import core.embedding

        computed = []
        learned_space = core.embedding.LearnedSpace
        monkeypatch.setattr(core.embedding, "LearnedSpace", lambda *args, **kwargs: computed.append(1) or learned_space(*args, **kwargs))
        at = open_app()
        at.sidebar.file_uploader(key="models_upload").upload("digits.keras", SHIPPED_MODEL.read_bytes()).run()
        at.switch_page(PAGES["Evaluate"]).run()
        at.toggle(key="eval_embedding_on").set_value(True).run()
        at.run()

        assert not at.exception
        assert at.sidebar.selectbox(key="models_active").value == "Uploaded: digits.keras"
        assert len(computed) == 1
        assert chart(at, "eval_embedding_map")["data"]

    def test_it_shows_5000_test_digits_in_ten_colours(self, learned_space_page):
        traces = chart(learned_space_page, "eval_embedding_map")["data"]
        digits = [trace for trace in traces if trace["name"] in DIGITS]

        assert not learned_space_page.exception
        assert [trace["name"] for trace in digits] == DIGITS
        assert sum(len(plotly_values(trace["x"])) for trace in digits) == MAP_COUNT
        assert len({trace["marker"]["color"] for trace in digits}) == 10

    def test_each_colour_holds_the_test_images_of_its_digit(self, learned_space_page, mnist):
        traces = chart(learned_space_page, "eval_embedding_map")["data"]

        for trace in traces[:10]:
            indices = customdata(trace)[:, 0].astype(int)
            assert set(mnist.y_test[indices]) == {int(trace["name"])}

    def test_every_mistake_of_the_model_is_marked(self, learned_space_page, mnist, recognizer):
        images = mnist.x_test[:MAP_COUNT, :, :, None].astype(np.float32) / 255
        wrong = np.flatnonzero(recognizer.model.predict(images, batch_size=500, verbose=0).argmax(axis=1) != mnist.y_test[:MAP_COUNT])
        marked = next(trace for trace in chart(learned_space_page, "eval_embedding_map")["data"] if trace["name"].startswith("read wrong"))

        assert marked["name"] == f"read wrong ({len(wrong)})" and marked["marker"]["symbol"] == "x"
        np.testing.assert_array_equal(customdata(marked)[:, 0].astype(int), wrong)

    def test_hovering_a_dot_names_the_test_image_and_what_it_was_read_as(self, learned_space_page):
        first = chart(learned_space_page, "eval_embedding_map")["data"][0]

        assert first["hovertemplate"].startswith("test image #%{customdata[0]}: a %{fullData.name}, read %{customdata[1]}")

    def test_it_says_how_well_two_dimensions_keep_the_digits_apart(self, learned_space_page):
        captions = [caption.value for caption in learned_space_page.get_by_key("eval-embedding").caption]

        said = next(caption for caption in captions if caption.startswith("On this map"))
        assert 60 <= int(said.split("%")[0].removeprefix("On this map ")) <= 100  # about 66% for the shipped model


def test_a_dot_clicked_on_the_map_is_the_test_image_shown():
    from pages.ui.embedding import selected_indices

    # As the browser sends it: numpy customdata reaches Plotly as a typed array, whose row comes back as an object.
    clicked = {"points": [{"curve_number": 3, "point_index": 12, "customdata": {"0": 4021, "1": 3, "2": 0.99}}], "point_indices": [12]}

    assert selected_indices(clicked) == [4021]
    assert selected_indices({"points": [{"customdata": [17, 2, 0.5]}, {"customdata": [17, 2, 0.5]}]}) == [17]
    assert selected_indices({"points": [], "point_indices": []}) == []


# --- Fool it (Draw) --------------------------------------------------------------------------------------------------


def canvas_with(digit: np.ndarray) -> np.ndarray:
    """An MNIST digit (light ink on black) drawn 224 px tall, dark on a white 560x280 canvas.  -> (280, 560, 4) uint8 RGBA."""
    canvas = np.full((280, 560, 4), 255, np.uint8)
    canvas[28:252, 168:392, :3] = (255 - cv2.resize(digit, (224, 224), interpolation=cv2.INTER_LINEAR))[..., None]
    return canvas


@pytest.fixture(scope="module")
def seven(mnist):
    """The first MNIST test image, a 7, as Draw's canvas returns it."""
    assert mnist.y_test[0] == 7
    return canvas_with(mnist.x_test[0])


@pytest.fixture(scope="module")
def fool_page(seven):
    """Draw with a 7 on the canvas and "Fool it" switched on.

    NOTE: the canvas component's module can only be imported inside a script run, so it is patched after the page
    imported it, and stays patched for this module's runs.
    """
    drawn = SimpleNamespace(image_data=seven, json_data={"objects": [{"type": "path"}]})
    with mock.patch.object(app_test_module, "PagesManager", _RoutedPagesManager), pytest.MonkeyPatch.context() as patch:
        at = open_app(PAGES["Draw"])
        patch.setattr(sys.modules["streamlit_drawable_canvas"], "st_canvas", lambda **kwargs: drawn)
        at.run()
        assert at.get_by_key("draw-digit").markdown[0].value.endswith(">7</p>")  # precondition: the 7 is read as a 7
        at.toggle(key="draw_fool_on").set_value(True).run()
        yield at


def fool(at: AppTest, budget: float, method: str = "Iterative: 12 small steps", target: str | int = "any other digit") -> np.ndarray:
    """Set the three controls, run, and return the probabilities shown for the changed drawing.  -> (10,)."""
    at.radio(key="draw_fool_method").set_value(method)
    at.slider(key="draw_fool_budget").set_value(budget)
    at.selectbox(key="draw_fool_target").set_value(target).run()
    assert not at.exception
    return plotly_values(chart(at, "draw_fool_probabilities")["data"][0]["y"]).astype(float)


def verdict(at: AppTest) -> str:
    return next(text.value for text in at.get_by_key("draw-fool").markdown if text.value.startswith("**"))


class TestFoolIt:
    def test_it_is_computed_only_when_asked_for(self, seven, monkeypatch):
        at = open_app(PAGES["Draw"])
        drawn = SimpleNamespace(image_data=seven, json_data={"objects": [{"type": "path"}]})
        monkeypatch.setattr(sys.modules["streamlit_drawable_canvas"], "st_canvas", lambda **kwargs: drawn)
        at.run()
        section = at.get_by_key("draw-fool")

        assert section.subheader[0].value == "Fool it"
        assert not section.toggle[0].value and not section.get("image")

    def test_a_large_enough_change_makes_the_network_read_another_digit(self, fool_page):
        probabilities = fool(fool_page, 0.3)

        assert probabilities.argmax() != 7
        assert probabilities.min() >= 0 and abs(probabilities.sum() - 1) < 1e-3
        assert verdict(fool_page).startswith(f"**Fooled:** the network now reads **{probabilities.argmax()}**")

    def test_one_fgsm_step_changes_the_reading_too(self, fool_page):
        assert fool(fool_page, 0.3, method="FGSM: one step").argmax() != 7

    def test_a_chosen_target_digit_is_what_it_then_reads(self, fool_page):
        assert fool(fool_page, 0.3, target=3).argmax() == 3
        assert verdict(fool_page).startswith("**Fooled:** the network now reads **3**")

    def test_no_change_leaves_the_seven_a_seven(self, fool_page):
        assert fool(fool_page, 0.0).argmax() == 7
        assert verdict(fool_page).startswith("**Not fooled:** it still reads 7")

    def test_it_shows_the_drawing_the_change_and_the_changed_drawing_and_says_why_it_matters(self, fool_page):
        fool(fool_page, 0.3)
        captions = [image.captions[0] for image in fool_page.get_by_key("draw-fool").get("image")]

        assert len(captions) == 3
        assert captions[0].endswith("a 7.") and captions[1].startswith("The change, amplified") and "up to 0.30" in captions[1]
        assert any(caption.value.startswith("Why this matters") for caption in fool_page.get_by_key("draw-fool").caption)


class TestYourDrawingOnTheMap:
    def test_a_drawn_seven_is_placed_among_the_sevens(self, fool_page):
        fool_page.toggle(key="draw_map_on").set_value(True).run()
        traces = chart(fool_page, "draw_map_chart")["data"]
        digits, star = traces[:10], traces[-1]
        points = np.concatenate([np.stack([plotly_values(trace["x"]), plotly_values(trace["y"])], axis=1) for trace in digits])
        labels = np.concatenate([np.full(len(plotly_values(trace["x"])), int(trace["name"])) for trace in digits])
        where = np.array([plotly_values(star["x"])[0], plotly_values(star["y"])[0]])
        nearest = labels[np.argsort(np.linalg.norm(points - where, axis=1))[:10]]

        assert not fool_page.exception
        assert star["name"] == "your drawing" and list(star["text"]) == ["your 7"]
        assert (nearest == 7).mean() >= 0.5
        captions = [caption.value for caption in fool_page.get_by_key("draw-map").caption]
        assert captions[0].startswith("The star *your 7*: the 10 test digits nearest to it on the map are ")
