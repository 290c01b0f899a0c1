"""Train in Chromium: a run started from the page draws its curves while it goes, and Stop ends it cleanly."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# Points plotted in the live chart, summed over its traces (loss and accuracy, per batch and per epoch).
PLOTTED_POINTS = (
    "() => { const plot = document.querySelector('.st-key-train-chart .js-plotly-plot');"
    " return plot && plot.data ? plot.data.reduce((total, trace) => total + (trace.x ? trace.x.length : 0), 0) : 0; }"
)


def plotted_points(app) -> int:
    return app.page.evaluate(PLOTTED_POINTS)


def wait_for_more_points_than(app, count: int) -> int:
    app.page.wait_for_function(f"({PLOTTED_POINTS})() > {count}")
    return plotted_points(app)


@pytest.fixture(scope="module")
def training(module_app):
    """A run started as a user would: quick demo settings (6,000 images), then 60 epochs of batches of 8.

    The run is far longer than the tests take to watch it, so it is still going when Stop is pressed.
    """
    app = module_app.open("train")
    app.keyed("train_quick").get_by_role("button").click()
    epochs = app.keyed("train_epochs").locator("input[type=range]")
    expect(epochs).to_have_value("2")
    epochs.focus()
    app.page.keyboard.press("End")
    expect(epochs).to_have_value("60")
    batch_size = app.keyed("train_batch_size").locator("input[type=range]")
    batch_size.focus()
    app.page.keyboard.press("Home")
    expect(batch_size).to_have_value("8")
    app.wait_until_idle()
    app.keyed("train_start").get_by_role("button").click()
    return app


class TestTrainingRun:
    def test_start_and_the_controls_are_disabled_while_it_trains(self, training):
        expect(training.keyed("train_start").get_by_role("button")).to_be_disabled()
        expect(training.keyed("train_stop").get_by_role("button")).to_be_enabled()
        expect(training.keyed("train_epochs").locator("input[type=range]")).to_be_disabled()

    def test_the_chart_grows_while_it_trains(self, training):
        first = wait_for_more_points_than(training, 0)
        later = wait_for_more_points_than(training, first)
        assert later > first
        expect(training.keyed("train_start").get_by_role("button")).to_be_disabled()  # the run had not ended

    def test_stop_mid_run_ends_it_with_a_message(self, training):
        wait_for_more_points_than(training, 0)
        training.keyed("train_stop").get_by_role("button").click()
        expect(training.page.get_by_test_id("stAlertContentWarning")).to_contain_text("Stopped")
        expect(training.page.get_by_test_id("stAlertContentWarning")).to_contain_text("partly trained")
        assert not training.exceptions().count()

    def test_after_stop_start_is_enabled_again(self, training):
        expect(training.keyed("train_start").get_by_role("button")).to_be_enabled()
        expect(training.keyed("train_stop").get_by_role("button")).to_be_disabled()

    def test_the_stopped_runs_model_leaves_the_active_model_alone_until_chosen(self, training):
        picker = training.page.get_by_test_id("stSidebar").get_by_role("combobox", name="Active model")
        expect(picker).to_have_value("Shipped: mnist_cnn.keras")
        expect(training.page.get_by_text("Compare runs")).to_be_visible()
        training.keyed("train_use_partial").get_by_role("button").click()
        expect(picker).to_have_value("Trained: my_cnn #1 (partial)")

    def test_after_stop_the_progress_shows_no_time_left(self, training):
        expect(training.page.get_by_test_id("stProgress")).not_to_contain_text("left")
        training.page.set_viewport_size({"width": 1280, "height": 1800})  # the screenshot shows the curves and the outcome
        training.wait_until_idle()
        training.screenshot("train")
