"""Draw in Chromium: digits written with mouse strokes (and a finger on a phone) are read after every stroke."""

from __future__ import annotations

import math

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

Stroke = list[tuple[float, float]]


def _ellipse(centre_x: float, centre_y: float, radius_x: float, radius_y: float, points: int = 28) -> Stroke:
    return [
        (centre_x + radius_x * math.sin(2 * math.pi * index / points), centre_y - radius_y * math.cos(2 * math.pi * index / points))
        for index in range(points + 1)
    ]


# Each digit as a writer forms it: pen strokes in a 100 x 160 px box, in stroke order.
DIGIT_STROKES: dict[str, list[Stroke]] = {
    "1": [[(50, 15), (50, 150)]],
    "7": [[(15, 20), (90, 20), (45, 150)]],
    "0": [_ellipse(50, 82, 36, 65)],
    "4": [[(60, 15), (15, 105), (90, 105)], [(68, 55), (68, 150)]],
}
DIGIT_SPACING = 130  # px from one digit's box to the next: clearly separate digits, as on a form


def strokes_for(number: str, left: float = 40, top: float = 60) -> list[Stroke]:
    """The pen strokes that write `number` left to right, in canvas pixels."""
    return [
        [(left + position * DIGIT_SPACING + x, top + y) for x, y in stroke]
        for position, digit in enumerate(number)
        for stroke in DIGIT_STROKES[digit]
    ]


def draw_with_mouse(page: Page, strokes: list[Stroke]) -> None:
    box = page.locator("canvas.upper-canvas").bounding_box()
    for stroke in strokes:
        page.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=6)
        page.mouse.up()


def draw_with_finger(page: Page, strokes: list[Stroke]) -> None:
    """Touch strokes through the DevTools protocol (Playwright's touchscreen only taps)."""
    canvas = page.locator("canvas.upper-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    devtools = page.context.new_cdp_session(page)
    for stroke in strokes:
        points = [(box["x"] + x, box["y"] + y) for x, y in stroke]
        devtools.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": points[0][0], "y": points[0][1]}]})
        for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
            for step in range(1, 7):
                x, y = x0 + (x1 - x0) * step / 6, y0 + (y1 - y0) * step / 6
                devtools.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
        devtools.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def open_draw(app) -> None:
    app.open("draw")
    expect(app.page.locator("canvas.upper-canvas")).to_be_visible()


def expect_no_digit(app) -> None:
    expect(app.page.get_by_text("Draw a digit on the canvas.")).to_be_visible()
    app.wait_until_idle()  # the run that drew the message has finished, so no reading from an earlier run remains
    assert app.shown_text("draw-digit") == ""


class TestDrawWithMouse:
    def test_a_blank_canvas_shows_no_digit(self, app):
        open_draw(app)
        expect_no_digit(app)

    @pytest.mark.parametrize("digit", ["1", "7", "0"])
    def test_a_drawn_digit_is_read(self, app, digit):
        open_draw(app)
        draw_with_mouse(app.page, strokes_for(digit))
        expect(app.keyed("draw-digit")).to_have_text(digit)

    def test_a_digit_of_two_strokes_is_read_after_the_second(self, app):
        open_draw(app)
        draw_with_mouse(app.page, strokes_for("4"))
        expect(app.keyed("draw-digit")).to_have_text("4")

    def test_two_digits_side_by_side_read_as_a_number(self, app):
        open_draw(app)
        draw_with_mouse(app.page, strokes_for("47"))
        expect(app.keyed("draw-digit")).to_have_text("47")

    def test_the_right_end_of_the_wide_canvas_takes_strokes_on_a_laptop_screen(self, app):
        # 1280 px with the sidebar open: no part of the canvas may be hidden behind the result beside it.
        open_draw(app)
        draw_with_mouse(app.page, strokes_for("1", left=470))  # a stroke 40 px from the canvas's right edge
        expect(app.keyed("draw-digit")).to_have_text("1")

    def test_clear_empties_the_canvas(self, app):
        open_draw(app)
        draw_with_mouse(app.page, strokes_for("7"))
        expect(app.keyed("draw-digit")).to_have_text("7")
        app.keyed("draw_clear").get_by_role("button").click()
        expect_no_digit(app)
        draw_with_mouse(app.page, strokes_for("1"))
        expect(app.keyed("draw-digit")).to_have_text("1")  # read alone: the 7 is gone from the canvas too

    def test_inside_the_network_explains_the_drawn_digit(self, new_app):
        app = new_app(viewport={"width": 1280, "height": 2000})  # tall enough for the screenshot to show the explanations
        open_draw(app)
        draw_with_mouse(app.page, strokes_for("7"))
        explanation = app.keyed("draw-explain")
        expect(explanation).to_contain_text("Inside the network")
        expect(explanation.locator("img")).to_have_count(0)  # computed only when asked for
        app.keyed("draw_explain_on").get_by_text("Show what the network looks at").click()
        expect(explanation).to_contain_text("evidence for 7")  # Grad-CAM explains the digit that was drawn
        expect(explanation.locator("img").nth(3)).to_be_visible()
        app.wait_until_idle()
        assert not app.exceptions().count()
        app.screenshot("draw")


class TestTheCanvasToolbar:
    def test_it_sits_under_the_canvas_without_the_upload_like_button(self, app):
        open_draw(app)
        canvas = app.page.locator("canvas.upper-canvas")
        canvas.hover()  # the toolbar used to float up over the controls and the canvas's top edge on hover
        toolbar = app.page.locator(".dc-toolbar")
        expect(toolbar).to_be_visible()

        def below() -> bool:
            return toolbar.bounding_box()["y"] >= canvas.bounding_box()["y"] + canvas.bounding_box()["height"]

        # NOTE: pages/ui/canvas.py adds its style sheet to the canvas's shadow root within a quarter second of the
        # canvas appearing (it polls for it): give it a few seconds before judging where the toolbar is.
        for _ in range(40):
            if below():
                break
            app.page.wait_for_timeout(125)
        assert below()
        expect(app.page.get_by_role("button", name="Update the app with this drawing")).to_be_hidden()
        expect(app.page.get_by_role("button", name="Undo")).to_be_visible()

    def test_a_stroke_starting_at_the_canvas_top_edge_is_drawn(self, app):
        # The floating toolbar covered the canvas's top 4 px: a stroke started there never began.
        open_draw(app)
        draw_with_mouse(app.page, [[(150, 2), (150, 120)]])
        app.wait_until_idle()
        assert ink_at(app.page, 150, 4) and ink_at(app.page, 150, 100)


def ink_at(page: Page, x: int, y: int) -> bool:
    """True when the canvas shows a drawn stroke at (x, y) in CSS pixels (finished strokes are on its lower layer)."""
    return page.locator("canvas.dc-canvas.lower-canvas").evaluate(  # the drawing, not the background image's layer
        """(canvas, [x, y]) => { const scale = canvas.width / canvas.clientWidth;
            const [red, , , alpha] = canvas.getContext('2d').getImageData(x * scale, y * scale, 1, 1).data;
            return alpha > 128 && red < 128; }""",
        [x, y],
    )


class TestDrawOnAPhone:
    # A phone's browser says "Mobile" in its User-Agent, as real phones' browsers do.
    PHONE = {
        "viewport": {"width": 390, "height": 844},
        "has_touch": True,
        "is_mobile": True,
        "device_scale_factor": 2,
        "user_agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    }

    def test_a_finger_drawn_digit_is_read_on_the_canvas_it_starts_with(self, new_app):
        app = new_app(**self.PHONE)
        open_draw(app)
        canvas = app.page.locator("canvas.upper-canvas")
        expect(canvas).to_have_css("width", "320px")  # the phone's canvas without looking for the Narrow option
        assert canvas.bounding_box()["x"] + canvas.bounding_box()["width"] <= self.PHONE["viewport"]["width"]
        draw_with_finger(app.page, strokes_for("7", left=190, top=40))  # its right end, 30 px from the canvas's edge
        expect(app.keyed("draw-digit")).to_have_text("7")
        app.wait_until_idle()
        app.keyed("draw-digit").scroll_into_view_if_needed()
        app.screenshot("draw-phone")
