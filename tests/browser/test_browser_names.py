"""A model uploaded under a name full of Markdown, HTML and LaTeX is shown as typed in the real page."""

from __future__ import annotations

import pytest

from core.model import ModelCard, save_model

pytestmark = pytest.mark.browser

# No slash: a browser's file name cannot hold one. The image would be fetched from the app's own host.
NAME = "![t](track.png) [click me](x) <img src=x> $\\frac{1}{0}$ :red[red] *em*.keras"


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory) -> bytes:
    from test_robustness_hostile import dense_model

    path = tmp_path_factory.mktemp("model") / "small.keras"
    save_model(dense_model(), ModelCard(name="small", notes="Card notes: [card link](x) <b>bold</b>"), path)
    return path.read_bytes()


class TestNamesInThePage:
    def test_an_uploaded_models_name_creates_no_image_link_or_formula(self, app, model_bytes):
        requests: list[str] = []
        app.page.on("request", lambda request: requests.append(request.url))
        app.open()
        sidebar = app.page.get_by_test_id("stSidebar")

        sidebar.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
            files=[{"name": NAME, "mimeType": "application/octet-stream", "buffer": model_bytes}]
        )
        success = sidebar.get_by_test_id("stAlertContentSuccess")
        success.wait_for()
        app.wait_until_idle()

        assert success.inner_text().strip() == f"Loaded {NAME}."
        assert "Card notes: [card link](x) <b>bold</b>" in sidebar.inner_text()
        assert sidebar.locator("[data-testid='stAlertContentSuccess'] :is(img, a, b, em, .katex)").count() == 0
        assert sidebar.locator("[data-testid='stCaptionContainer'] :is(img, a, b, .katex)").count() == 0
        assert not [url for url in requests if url.endswith(("/track.png", "/x"))]
