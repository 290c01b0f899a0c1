"""My handwriting in Chromium: a Draw reading corrected with one click, a digit collected with the mouse, sessions apart."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from test_browser_draw import draw_with_mouse, open_draw, strokes_for

pytestmark = pytest.mark.browser


def open_mine(app) -> None:
    app.open("my-handwriting")
    expect(app.page.locator("canvas.upper-canvas")).to_be_visible()


class TestCorrectAndCollect:
    def test_a_corrected_drawing_joins_this_sessions_samples_and_no_other(self, new_app):
        app = new_app()
        open_draw(app)
        draw_with_mouse(app.page, strokes_for("7"))
        expect(app.keyed("draw-digit")).to_have_text("7")
        app.keyed("draw-correct").get_by_text("1", exact=True).click(timeout=30_000)
        expect(app.keyed("draw-correct")).to_contain_text("Kept as a 1 (1 of 1 in your samples).")

        # Through the sidebar: a new URL typed in would open a new session, which starts with no samples.
        app.page.locator("[data-testid='stSidebarNav'] a", has_text="My handwriting").click()
        expect(app.keyed("hw_row_1").locator("img")).to_have_count(1)
        assert not app.exceptions().count()

        other = new_app()  # a second visitor on the same server
        open_mine(other)
        expect(other.page.get_by_text("Your samples (0;")).to_be_visible()
        assert other.keyed("hw_row_1").count() == 0

    def test_a_digit_written_with_the_mouse_is_kept_as_the_guided_digit(self, app):
        open_mine(app)
        draw_with_mouse(app.page, strokes_for("0"))
        app.wait_until_idle()
        app.keyed("hw_add").get_by_role("button").click()
        expect(app.keyed("my-handwriting")).to_contain_text("Kept as a 0 (1 of 0 in your samples).")
        expect(app.keyed("hw_row_0").locator("img")).to_have_count(1)
        app.keyed("hw_remove_0").get_by_role("button").click()
        expect(app.page.get_by_text("Your samples (0;")).to_be_visible()
