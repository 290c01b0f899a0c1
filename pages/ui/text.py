"""Text a visitor chose (file names, model names, card fields), made safe to show in Markdown and in charts."""

from __future__ import annotations

import html
import re

# Characters that start Markdown inside a line: links and images ([ ]), HTML (<), emphasis (* _ ~), code (`),
# formulas ($), Streamlit's :colour[text] ([), and a backslash itself. A backslash makes each literal (CommonMark);
# other punctuation is left alone so that "digits.keras: not a valid archive (...)" reads the same in tests.
_INLINE = re.compile(r"([\\`*_~\[\]<$])")
_BLOCK_START = re.compile(r"^([#>+=-]|\d+[.)])")  # a heading, quote, list or underline if it starts the text
# http://... and www.... become links; :name is a directive to Streamlit's Markdown (:red[...], :smile:), and
# one without a label is dropped from the text.
_COLON_OR_WWW = re.compile(r"(:)(?=//|[a-z])|(?<=\bwww)(\.)", re.IGNORECASE)


def literal(text: object) -> str:
    """`text` for any Streamlit element that renders Markdown (st.error, st.caption, ...), shown exactly as typed.

    Line breaks become spaces, so a name can never start a heading, a list or a block of its own.
    """
    flat = " ".join(str(text).split())
    escaped = _COLON_OR_WWW.sub(lambda match: "\\" + match.group(0), _INLINE.sub(r"\\\1", flat))
    return _BLOCK_START.sub(lambda match: match.group(0)[:-1] + "\\" + match.group(0)[-1], escaped)


def chart_label(text: object) -> str:
    """`text` for a Plotly label (legend, title), which renders a subset of HTML such as <a href> and <b>."""
    return html.escape(" ".join(str(text).split()))
