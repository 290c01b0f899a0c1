"""Issue 17's pages under AppTest: build your own network and share it in a link (Train), the learned space (Evaluate)."""

from __future__ import annotations

from unittest import mock

import pytest
import streamlit.testing.v1.app_test as app_test_module
from streamlit.testing.v1 import AppTest
from test_app import APP, PAGES, RUN_TIMEOUT, _RoutedPagesManager, open_app

from core.architecture import describe
from core.config import TrainConfig, to_query


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
