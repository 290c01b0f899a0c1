"""Home, Evaluate and every page's layout in Chromium: the tour leads to each page, Evaluate shows its numbers."""

from __future__ import annotations

import pytest
from conftest import WAIT_MS
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

TOUR = ["Draw", "Webcam", "Train", "Evaluate"]
URLS = {"Home": "", "Draw": "draw", "Webcam": "webcam", "Train": "train", "Evaluate": "evaluate"}


METRICS = ["Accuracy", "Loss", "Test images", "Mistakes"]
SHOWN_METRICS = """labels => {
    const shown = {};
    for (const metric of document.querySelectorAll(".st-key-eval-metrics [data-testid='stMetric']")) {
        const label = metric.querySelector("[data-testid='stMetricLabel']");
        const value = metric.querySelector("[data-testid='stMetricValue']");
        if (label && value) shown[label.innerText.trim()] = value.innerText.trim();
    }
    return labels.every(label => label in shown) ? shown : null;
}"""


def metrics(app) -> dict[str, str]:
    """Evaluate's headline numbers by label, as shown: read in one snapshot once all four are on the page.

    Reading them one element at a time raced a rerun that redrew the row between two reads (a CI run lost "Mistakes").
    """
    return app.page.wait_for_function(SHOWN_METRICS, arg=METRICS, timeout=WAIT_MS).json_value()


def as_count(text: str) -> int:
    return int(text.replace(",", ""))


class TestHome:
    def test_the_tour_links_every_page_and_shows_the_active_model(self, app):
        app.open()
        links = app.page.get_by_test_id("stMain").get_by_test_id("stPageLink")
        expect(links).to_have_count(len(TOUR))
        for name, link in zip(TOUR, links.all(), strict=True):
            expect(link).to_contain_text(name)
        expect(app.keyed("home-model")).to_contain_text("of the 10,000 MNIST test digits right")
        expect(app.page.get_by_test_id("stMain").get_by_test_id("stMetric")).to_have_count(0)  # the card is the sidebar's
        assert not app.exceptions().count()
        app.screenshot("home")

    def test_a_tour_link_opens_its_page(self, app):
        app.open()
        app.page.get_by_test_id("stMain").get_by_test_id("stPageLink").filter(has_text="Draw").click()
        expect(app.page.locator("h1")).to_have_text("Draw")
        assert app.page.url.endswith("/draw")


class TestLayout:
    @pytest.mark.parametrize("name", URLS)
    def test_no_text_is_cut_off_on_a_laptop_screen(self, app, name):
        app.open(URLS[name])
        expect(app.page.get_by_test_id("stMain").locator("h1").first).to_be_visible()
        assert app.cut_off_texts() == []


class TestEvaluate:
    def test_metrics_show_accuracy_loss_and_mistakes_on_the_test_set(self, app):
        app.open("evaluate")
        expect(app.keyed("eval-metrics")).to_contain_text("Accuracy")
        expect(app.keyed("eval-metrics")).to_contain_text("Mistakes")
        shown = metrics(app)
        mistakes, images = as_count(shown["Mistakes"]), as_count(shown["Test images"])
        assert images == 10_000
        assert shown["Accuracy"] == f"{(images - mistakes) / images:.2%}"
        assert float(shown["Loss"]) > 0
        assert not app.exceptions().count()

    def test_the_confusion_matrix_counts_every_test_image(self, app):
        app.open("evaluate")
        cells = app.keyed("eval_confusion").locator("g.heatmap-label text")
        expect(cells).to_have_count(100)
        counts = [as_count(text) for text in cells.all_text_contents()]  # row by row: true digit 0..9
        app.wait_until_idle()  # the page may still be rerunning: read the metrics once it has finished
        expect(app.keyed("eval-metrics")).to_contain_text("Mistakes")
        shown = metrics(app)
        assert sum(counts) == as_count(shown["Test images"])
        assert sum(counts) - sum(counts[digit * 11] for digit in range(10)) == as_count(shown["Mistakes"])
        app.wait_until_idle()
        app.screenshot("evaluate")
