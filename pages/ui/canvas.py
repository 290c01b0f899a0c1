"""The Draw canvas on the visitor's screen: whether it is a phone's, and the canvas's toolbar kept clear of strokes."""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

# NOTE: streamlit-drawable-canvas draws its toolbar in its own shadow root, floating 2.65rem above the canvas when
# the pointer is over it: it covered the controls above and the canvas's top 4 px (a stroke starting there was lost),
# and its first button, "Update the app with this drawing" (an upload arrow), does nothing here, since every stroke
# already updates the app. Page CSS cannot reach into a shadow root, so this adds a style sheet inside each canvas's:
# the toolbar becomes an always-visible row under the canvas, without that button.
_TOOLBAR_STYLE = (
    ".dc-root{display:flex;flex-direction:column}"
    ".dc-toolbar,.dc-root:hover>.dc-toolbar,.dc-toolbar[data-pinned=true]{position:static;order:1;align-self:flex-end;opacity:1;padding:.25rem 0 0}"
    ".dc-icon-button[title='Update the app with this drawing']{display:none}"
)
_TOOLBAR_SCRIPT = f"""
<script>
if (!window.digitLabCanvasToolbar) {{
  window.digitLabCanvasToolbar = setInterval(() => {{
    for (const host of document.querySelectorAll("[class*='st-key-draw_canvas'] *")) {{
      const root = host.shadowRoot;
      if (root && root.querySelector('.dc-root') && !root.getElementById('digit-lab-toolbar')) {{
        const style = document.createElement('style');
        style.id = 'digit-lab-toolbar';
        style.textContent = {_TOOLBAR_STYLE!r};
        root.appendChild(style);
      }}
    }}
  }}, 250);
}}
</script>
"""


def _headers() -> Mapping[str, str]:
    return st.context.headers


def on_a_phone() -> bool:
    """True for a phone's browser: its User-Agent says "Mobi" (as MDN advises), or Chromium's hint says mobile."""
    headers = _headers()
    return "Mobi" in headers.get("User-Agent", "") or headers.get("Sec-CH-UA-Mobile", "") == "?1"


def keep_toolbar_clear() -> None:
    """Move the canvas's toolbar under it and drop its upload-like button (see the NOTE above)."""
    st.html(_TOOLBAR_SCRIPT, unsafe_allow_javascript=True, width="content")
