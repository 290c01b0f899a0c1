"""Plotly figures for the pages: probabilities, training curves, confusion matrix, confidence histogram, the learned space."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from pages.ui.text import chart_label

if TYPE_CHECKING:
    from core.inference import DigitReading

DIGITS = [str(digit) for digit in range(10)]
COMPACT = dict(margin=dict(l=10, r=10, t=30, b=10))
EVERY_DIGIT = dict(type="category", tickmode="array", tickvals=DIGITS, ticktext=DIGITS)  # a tick for each of the ten


def pixels(image: np.ndarray, scale: int = 6) -> np.ndarray:
    """A small image enlarged with hard pixel edges (browsers blur small images).  (h, w) -> (h*scale, w*scale)."""
    return np.kron(np.clip(image, 0.0, 1.0), np.ones((scale, scale), np.float32))


def overlay(model_input: np.ndarray, heatmap: np.ndarray, scale: int = 6) -> np.ndarray:
    """A heatmap laid over the digit as the network sees it, enlarged with hard pixel edges: heat from red to yellow.

    (28, 28) in [0, 1] each -> (28*scale, 28*scale, 3) float32 RGB in [0, 1]; where there is no heat, the grey digit.
    """
    ink = 0.8 * np.clip(model_input, 0.0, 1.0)  # a little dimmer than the input panel, so that yellow heat stands out
    heat = np.clip(heatmap, 0.0, 1.0)
    colour = np.stack([np.ones_like(heat), heat, np.zeros_like(heat)], axis=-1)  # red (some heat) to yellow (the most)
    strength = np.sqrt(heat)[..., None]  # faint heat still shows
    blended = (1.0 - strength) * ink[..., None] + strength * colour
    return np.kron(blended, np.ones((scale, scale, 1), np.float32)).astype(np.float32)


def probabilities(values: np.ndarray, title: str = "") -> go.Figure:
    best = int(np.argmax(values))
    colours = ["#2e7d32" if digit == best else "#90a4ae" for digit in range(10)]
    bars = dict(
        type="bar",
        x=DIGITS,
        y=np.asarray(values).tolist(),
        marker=dict(color=colours),
        text=[f"{v:.0%}" for v in values],
        textposition="outside",
    )
    return _per_stroke(
        bars, title=dict(text=title), yaxis=dict(range=[0, 1.15], tickformat=".0%"), xaxis=dict(EVERY_DIGIT), height=260, **COMPACT
    )


def digit_probabilities(digits: Sequence[DigitReading]) -> go.Figure:
    """Every digit read, in one figure: the bars of the one digit, or one row of ten probabilities per digit.

    One figure for all the digits on a canvas, instead of one per digit: each figure costs the server its own
    building and sending on every stroke.
    """
    if len(digits) == 1:
        return probabilities(digits[0].probabilities, f"Digit {digits[0].digit}: probabilities")
    values = np.stack([digit.probabilities for digit in digits])  # (digits, 10)
    rows = [f"#{index + 1}: {digit.digit}" for index, digit in enumerate(digits)]  # in reading order, as Explain names them
    heatmap = dict(
        type="heatmap",
        z=values.tolist(),
        x=DIGITS,
        y=rows,
        zmin=0.0,
        zmax=1.0,
        text=[[f"{value:.0%}" for value in row] for row in values],
        texttemplate="%{text}",
        colorscale="Greens",
        showscale=False,
        hovertemplate="%{y}: %{x} with probability %{text}<extra></extra>",
    )
    return _per_stroke(
        heatmap,
        title=dict(text="Probabilities of each digit (rows: the digits you wrote)"),
        xaxis=dict(EVERY_DIGIT),
        yaxis=dict(autorange="reversed", type="category"),
        height=90 + 40 * len(digits),
        **COMPACT,
    )


def _per_stroke(trace: dict[str, Any], **layout: Any) -> go.Figure:
    """A figure drawn again on every stroke, built from plain dicts without Plotly's property checks.

    NOTE: the checks took 4 of the 4.5 ms a figure cost the server per stroke; tests build these figures with the
    checks (tests/test_app.py), so a misspelt property still fails there.
    """
    return go.Figure(dict(data=[trace], layout=layout), _validate=False)


def side_by_side(images: Sequence[np.ndarray], gap: int = 2) -> np.ndarray:
    """(h, w) images in one row with thin dark gaps, for one picture instead of several.  -> (h, n*w + gaps)."""
    return tile(np.stack(images)[None], gap=gap)


# Guessing among ten digits scores a loss of ln(10) = 2.3. A run that diverged reaches millions, which would flatten
# every other curve; the loss axis stops here, and a note says that higher losses are off the chart.
LOSS_CEILING = 3.0


def training_curves(runs: Sequence[tuple[str, list[dict[str, float]], list[dict[str, float]]]], *, planned_epochs: int = 1) -> go.Figure:
    """Loss and accuracy against epochs: batches as thin lines, epochs (train and validation) as markers.

    runs: (name, batch records, epoch records) per run; several runs are overlaid for comparison. The epoch axis
    starts at 0 and, before any point is plotted, spans `planned_epochs`.
    """
    # NOTE: graph objects, not Plotly Express: px.line draws every trace of a facet alike and names it after its
    # column values ("my_cnn, train"); here each run has three differently drawn series in one legend group.
    figure = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Accuracy"))
    palette = ["#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f"]
    highest_loss = 0.0
    for index, (name, batches, epochs) in enumerate(runs):
        colour = palette[index % len(palette)]
        name = chart_label(name)  # a name the visitor typed
        for column, metric in ((1, "loss"), (2, "accuracy")):
            batch_mode = "lines" if len(batches) > 1 else "markers"  # one point drawn as a line is invisible
            series: list[tuple[list[dict[str, float]], str, str, dict[str, Any]]] = [
                (batches, metric, f"{name} train (batches)", dict(mode=batch_mode, line=dict(color=colour, width=1), opacity=0.5)),
                (epochs, metric, f"{name} train", dict(mode="markers+lines", line=dict(color=colour, width=2))),
            ]
            if any(f"val_{metric}" in e for e in epochs):
                validation_line = dict(mode="markers+lines", line=dict(color=colour, width=2, dash="dash"))
                series.append((epochs, f"val_{metric}", f"{name} validation", validation_line))
            for records, key, label, style in series:
                if records:
                    values = [record.get(key) for record in records]
                    if metric == "loss":
                        highest_loss = max([highest_loss, *(value for value in values if value is not None and np.isfinite(value))])
                    figure.add_scatter(
                        x=[record["epoch"] for record in records],
                        y=values,
                        name=label,
                        legendgroup=name,
                        showlegend=column == 1,
                        row=1,
                        col=column,
                        **style,
                    )
    if figure.data:
        figure.update_xaxes(title_text="epoch", rangemode="tozero")
    else:
        figure.update_xaxes(title_text="epoch", range=[0, max(planned_epochs, 1)])
    if highest_loss > LOSS_CEILING:
        figure.update_yaxes(range=[0, LOSS_CEILING], row=1, col=1)
        figure.add_annotation(
            text=f"losses above {LOSS_CEILING:g} (worse than guessing) are off the chart",
            xref="x domain",
            yref="y domain",
            x=1,
            y=1,
            showarrow=False,
            font=dict(size=11, color="#c62828"),
        )
    figure.update_layout(height=360, legend=dict(orientation="h", y=-0.25), **COMPACT)
    return figure


def confusion(matrix: np.ndarray, title: str = "Confusion matrix (rows: true digit, columns: predicted)") -> go.Figure:
    # Log colour scale: the diagonal holds ~1000 per cell and the mistakes a handful, both should be visible.
    figure = go.Figure(
        go.Heatmap(
            z=np.log10(matrix + 1),
            x=DIGITS,
            y=DIGITS,
            text=matrix,
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=False,
            hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>",
        )
    )
    figure.update_layout(
        title=title,
        xaxis=dict(EVERY_DIGIT, title="predicted"),
        yaxis=dict(EVERY_DIGIT, title="true", autorange="reversed"),
        height=460,
        **COMPACT,
    )
    return figure


def confidence_histogram(confidences: np.ndarray, correct: np.ndarray) -> go.Figure:
    """Right and wrong answers by confidence, as bars side by side (overlaid, the red hid the green)."""
    bins = dict(start=0.0, end=1.0, size=0.05)
    figure = go.Figure()
    figure.add_histogram(x=confidences[correct], name="right", xbins=bins, marker_color="#2e7d32")
    figure.add_histogram(x=confidences[~correct], name="wrong", xbins=bins, marker_color="#c62828")
    figure.update_layout(
        title="Confidence of each answer",
        barmode="group",
        xaxis=dict(title="confidence", range=[0, 1], tickformat=".0%"),
        yaxis=dict(title="answers (log scale)", type="log"),
        height=300,
        **COMPACT,
    )
    return figure


def learned_space(
    points: np.ndarray,
    labels: np.ndarray,
    predictions: np.ndarray,
    confidences: np.ndarray,
    explained: np.ndarray,
    drawings: Sequence[tuple[str, np.ndarray]] = (),
) -> go.Figure:
    """Digits on the 2-D map of a network's last hidden layer: a colour per true digit, a cross on each mistake.

    points: (n, 2); labels, predictions, confidences: (n,); explained: (2,) the share of the variation along each axis.
    Every point carries [test image index, digit read, confidence] as customdata, for hover and selection.
    drawings: (name, (2,) point) of a visitor's own drawings, drawn as labelled stars on top.
    """
    import plotly.express as px

    columns = {
        "x": points[:, 0],
        "y": points[:, 1],
        "digit": labels.astype(str),
        "index": np.arange(len(points)),
        "read": predictions,
        "confidence": confidences,
    }
    # NOTE: WebGL, not SVG: 5,000 SVG points make every hover and zoom slow in the browser.
    figure = px.scatter(
        columns,
        x="x",
        y="y",
        color="digit",
        category_orders={"digit": DIGITS},
        custom_data=["index", "read", "confidence"],
        render_mode="webgl",
        color_discrete_sequence=px.colors.qualitative.Plotly,  # ten colours, one per digit
    )
    picked = dict(selected=dict(marker=dict(size=10)), unselected=dict(marker=dict(opacity=0.35)))  # the map stays readable
    figure.update_traces(
        marker=dict(size=4, opacity=0.7),
        **picked,
        hovertemplate="test image #%{customdata[0]}: a %{fullData.name}, read %{customdata[1]} (%{customdata[2]:.0%})<extra></extra>",
    )
    wrong = np.flatnonzero(predictions != labels)
    figure.add_scattergl(
        x=points[wrong, 0],
        y=points[wrong, 1],
        mode="markers",
        name=f"read wrong ({len(wrong)})",
        marker=dict(symbol="x", size=8, color="black", line=dict(width=1)),
        **picked,
        customdata=np.stack([wrong, predictions[wrong], confidences[wrong]], axis=1),
        text=labels[wrong].astype(str),
        hovertemplate="test image #%{customdata[0]}: a %{text}, read %{customdata[1]} (%{customdata[2]:.0%})<extra></extra>",
    )
    if drawings:
        names, placed = [name for name, _ in drawings], np.stack([point for _, point in drawings])  # (drawings, 2)
        figure.add_scatter(
            x=placed[:, 0],
            y=placed[:, 1],
            mode="markers+text",
            name="your drawing",
            text=names,
            textposition="top center",
            marker=dict(symbol="star", size=18, color="gold", line=dict(width=1.5, color="black")),
            hovertemplate="%{text}<extra></extra>",
        )
    figure.update_layout(
        xaxis=dict(title=f"first direction ({explained[0]:.0%} of the variation)", zeroline=False),
        yaxis=dict(title=f"second direction ({explained[1]:.0%})", zeroline=False),
        legend=dict(title="true digit"),
        height=560,
        **COMPACT,
    )
    return figure


# NOTE: image grids are pictures (st.image in columns, or one picture from tile), not Plotly Express facets
# (px.imshow(images, facet_col=0, facet_col_wrap=8)). Measured for Evaluate's 48 mistakes: the facet figure took 250 ms
# to build, on every rerun, and 200-300 ms to draw in Chromium; the 48 PNGs took 10 ms and 2 ms.
def tile(grid: np.ndarray, gap: int = 2) -> np.ndarray:
    """Arrange (rows, columns, h, w) images in one picture with thin dark gaps.  -> (H, W)."""
    rows, columns, height, width = grid.shape
    canvas = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap), 0.25, np.float32)
    for row in range(rows):
        for column in range(columns):
            canvas[row * (height + gap) : row * (height + gap) + height, column * (width + gap) : column * (width + gap) + width] = grid[
                row, column
            ]
    return canvas
