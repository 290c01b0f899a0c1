"""Issue 17's views in Chromium: a network shared in a link (Train), the map of the space it learns (Evaluate), fool it (Draw)."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
from playwright.sync_api import expect
from test_browser_draw import draw_with_mouse, open_draw, strokes_for

pytestmark = pytest.mark.browser

DIGITS = [str(digit) for digit in range(10)]
DEFAULT_BUDGET = 0.2  # the "Size of the change" slider's starting value

# The map's traces as the browser holds them: name, point count, marker colour, and each point's test image index.
MAP_TRACES = """() => Array.from(document.querySelector('.st-key-eval_embedding_map .js-plotly-plot')._fullData,
    trace => ({name: trace.name, points: trace.x.length, colour: trace.marker.color,
               first: trace.customdata.length ? Number(trace.customdata[0][0]) : null}))"""
# Where on the screen the first point of the trace named `name` is drawn, from the plot's own axes.
POINT_ON_SCREEN = """([name]) => {
    const plot = document.querySelector('.st-key-eval_embedding_map .js-plotly-plot');
    const trace = plot._fullData.find(candidate => candidate.name.startsWith(name));
    const {xaxis, yaxis} = plot._fullLayout, box = plot.getBoundingClientRect();
    return {x: box.left + xaxis._offset + xaxis.d2p(trace.x[0]), y: box.top + yaxis._offset + yaxis.d2p(trace.y[0])};
}"""


class TestASharedNetwork:
    def test_a_link_opens_train_with_its_network_in_the_layer_table(self, new_app):
        # TrainConfig(conv_blocks=3, conv3_batchnorm=True, dense_layers=2): 138,698 parameters (core.architecture).
        app = new_app(viewport={"width": 1280, "height": 1600})
        app.open("train?conv_blocks=3&conv3_batchnorm=1&dense_layers=2")
        app.page.get_by_role("tab", name="Network").click()
        table = app.keyed("train-architecture")

        expect(table).to_contain_text("138,698")
        expect(table).to_contain_text("Grad-CAM on Draw reads the last convolution, conv3.")
        assert "conv_blocks=3" in app.page.url and not app.exceptions().count()
        app.screenshot("train-network", app.page.get_by_role("tabpanel", name="Network"))


class TestTheSpaceItLearns:
    @pytest.fixture
    def shown_map(self, new_app):
        app = new_app(viewport={"width": 1280, "height": 1400})
        app.open("evaluate")
        section = app.keyed("eval-embedding")
        section.scroll_into_view_if_needed()
        app.keyed("eval_embedding_on").get_by_text("Show the map of 5,000 test digits").click()
        expect(section).to_contain_text("On this map")
        expect(app.keyed("eval_embedding_map").locator(".js-plotly-plot")).to_be_visible()
        app.wait_until_idle()
        return app

    def test_5000_test_digits_in_ten_colours_with_the_mistakes_marked(self, shown_map):
        traces = shown_map.page.evaluate(MAP_TRACES)
        digits = [trace for trace in traces if trace["name"] in DIGITS]

        assert [trace["name"] for trace in digits] == DIGITS
        assert sum(trace["points"] for trace in digits) == 5000
        assert len({trace["colour"] for trace in digits}) == 10
        mistakes = traces[-1]
        counted = re.fullmatch(r"read wrong \((\d+)\)", mistakes["name"])
        assert counted and mistakes["points"] == int(counted.group(1)) > 0
        assert not shown_map.exceptions().count()

    def test_clicking_a_dot_shows_its_digit_and_its_neighbours(self, shown_map):
        first_mistake = shown_map.page.evaluate(MAP_TRACES)[-1]["first"]
        shown_map.keyed("eval_embedding_map").scroll_into_view_if_needed()  # a click outside the viewport is lost
        point = shown_map.page.evaluate(POINT_ON_SCREEN, ["read wrong"])
        shown_map.page.mouse.click(point["x"], point["y"])
        section = shown_map.keyed("eval-embedding")

        expect(section).to_contain_text(f"Test image #{first_mistake} (first) and its 7 nearest neighbours on the map.")
        expect(section.get_by_test_id("stImage")).to_have_count(8)
        shown_map.wait_until_idle()
        assert not shown_map.exceptions().count()
        shown_map.screenshot("evaluate-embedding", section)


def picture(app, image) -> np.ndarray:
    """The pixels of an image on the page, fetched from the server as the browser did.  -> (h, w) uint8."""
    source = image.get_attribute("src")
    response = app.page.request.get(source if source.startswith("http") else f"{app.server.url}{source}")
    return cv2.imdecode(np.frombuffer(response.body(), np.uint8), cv2.IMREAD_GRAYSCALE)


def drawn_seven(new_app):
    """Draw, with a 7 drawn by the mouse and read."""
    app = new_app(viewport={"width": 1280, "height": 1800})
    open_draw(app)
    draw_with_mouse(app.page, strokes_for("7"))
    expect(app.keyed("draw-digit")).to_have_text("7")
    return app


class TestFoolIt:
    def test_a_drawn_seven_is_changed_within_the_budget_into_another_digit(self, new_app):
        app = drawn_seven(new_app)
        section = app.keyed("draw-fool")
        expect(section).to_contain_text("Fool it")
        expect(section.locator("img")).to_have_count(0)  # computed only when asked for
        app.keyed("draw_fool_on").get_by_text("Try to fool the network").click()

        expect(section).to_contain_text("Why this matters")
        expect(section).to_contain_text("Fooled: the network now reads")
        app.wait_until_idle()
        read = int(re.search(r"now reads (\d)", section.inner_text()).group(1))
        assert read != 7
        images = section.get_by_test_id("stImage").locator("img")
        expect(images).to_have_count(3)
        original, changed = picture(app, images.nth(0)), picture(app, images.nth(2))
        difference = np.abs(changed.astype(int) - original.astype(int))
        assert 0 < difference.max() <= DEFAULT_BUDGET * 255 + 1  # changed, but no pixel by more than the budget
        assert not app.exceptions().count()
        section.scroll_into_view_if_needed()
        app.screenshot("draw-fool", section)


class TestYourDrawingOnTheMap:
    def test_a_drawn_seven_is_a_star_among_the_sevens(self, new_app):
        app = drawn_seven(new_app)
        app.keyed("draw_map_on").get_by_text("Place my drawing on the map of 5,000 test digits").click()
        section = app.keyed("draw-map")

        expect(section).to_contain_text("The star your 7: the 10 test digits nearest to it on the map are")
        app.wait_until_idle()
        star = app.page.evaluate("() => document.querySelector('.st-key-draw_map_chart .js-plotly-plot')._fullData.at(-1).text")
        assert star == ["your 7"]
        nearest = re.search(r"on the map are ([\d, ]+)\.", section.inner_text()).group(1).split(", ")
        assert len(nearest) == 10 and max(DIGITS, key=nearest.count) == "7"  # measured: 5 of the 10 are 7s, 4 are 9s
        assert not app.exceptions().count()
        section.scroll_into_view_if_needed()
        app.screenshot("draw-map", section)
