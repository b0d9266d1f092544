"""The report's figures, drawn with matplotlib and returned as inline SVG text.

No pyplot and no global backend switch: each figure is a ``matplotlib.figure.Figure``
saved straight to SVG (what matplotlib recommends for servers and libraries), under an
``rc_context`` so the caller's settings are neither read nor changed. ``svg.fonttype`` is
``none``: text stays text in the page's font, so nothing (fonts, images, scripts) is ever
fetched. The XML prologue, the DOCTYPE and the metadata block are dropped for inlining.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

REFERENCE = "#9aa5b1"
CURRENT = "#2e86de"
DRIFTED = "#e4572e"
_RC: Any = {  # matplotlib types its keys as literals
    "svg.fonttype": "none",
    "font.size": 8,
    "axes.titlesize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_PROLOGUE = re.compile(r"^.*?(?=<svg\b)", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
_XMLNS = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
LABEL_CHARS = 18


def text(value: Any, limit: int = LABEL_CHARS) -> str:
    """A user string as matplotlib must get it: shortened, and ``$`` escaped so it is never
    read as mathtext (matplotlib escapes the rest for XML)."""
    label = str(value)
    if len(label) > limit:
        label = label[: limit - 1] + "…"
    return label.replace("$", r"\$")


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=72)


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    svg = _PROLOGUE.sub("", buffer.getvalue(), count=1)
    svg = _METADATA.sub("", svg, count=1)
    head, _, body = svg.partition(">")
    return _XMLNS.sub("", head) + ">" + body


def _share_axis(ax: Axes) -> None:
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    ax.yaxis.set_major_locator(MaxNLocator(3))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))


def distribution(
    labels: Sequence[str],
    reference: Sequence[float] | None,
    current: Sequence[float],
    drifted: bool,
) -> str:
    """Grouped bars of the share of non-null values per bin or category: the reference's
    (grey) next to the current window's (blue, red when the feature drifted)."""
    import matplotlib
    import numpy as np

    with matplotlib.rc_context(_RC):
        fig = _figure(max(3.4, 0.42 * len(labels) + 1.2), 2.0)
        ax = fig.add_subplot()
        x = np.arange(len(labels))
        width = 0.4 if reference is not None else 0.7
        if reference is not None:
            ax.bar(x - width / 2, reference, width, color=REFERENCE, linewidth=0)
        offset = width / 2 if reference is not None else 0.0
        ax.bar(x + offset, current, width, color=DRIFTED if drifted else CURRENT, linewidth=0)
        ax.set_xticks(x, [text(v) for v in labels], rotation=30, ha="right")
        _share_axis(ax)
        fig.subplots_adjust(left=0.1, right=0.98, top=0.95, bottom=0.34)
        return _svg(fig)


def histogram(values: Sequence[float], label: str) -> str:
    """A histogram of the current window only (for outputs the reference cannot match)."""
    import matplotlib
    import numpy as np

    with matplotlib.rc_context(_RC):
        fig = _figure(4.6, 2.0)
        ax = fig.add_subplot()
        data = np.asarray(values, dtype=float)
        weights = np.full(data.size, 1.0 / max(data.size, 1))
        ax.hist(data, bins=20, weights=weights, color=CURRENT)
        ax.set_xlabel(text(label, 60))
        _share_axis(ax)
        fig.subplots_adjust(left=0.1, right=0.98, top=0.95, bottom=0.24)
        return _svg(fig)


def time_series(
    x: Sequence[Any],
    series: Mapping[str, Sequence[float]],
    ylabel: str,
    limits: tuple[Any, Any],
    scores: bool = False,
) -> str:
    """One line per series over time (performance metrics per window); ``limits`` are the
    ends of the time axis; ``scores`` puts the y axis on [0, 1] with the legend below it."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig = _figure(6.4, 2.4)
        ax = fig.add_subplot()
        for name, values in series.items():
            ax.plot(x, values, marker="o", markersize=3, linewidth=1.2, label=text(name))
        ax.set_ylabel(text(ylabel))
        if scores:
            ax.set_ylim(0, 1.02)
        ax.legend(loc="lower left", frameon=False, ncols=min(len(series), 5))
        _dates(fig, limits, ax)
        return _svg(fig)


def traffic(
    x: Sequence[Any],
    volume: Sequence[int],
    latency: Mapping[str, Sequence[float]],
    limits: tuple[Any, Any],
) -> str:
    """Predictions per window and latency percentiles per window, side by side."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig = _figure(8.4, 2.3)
        left, right = fig.subplots(1, 2)
        left.plot(x, volume, color=CURRENT, marker="o", markersize=3, linewidth=1.2)
        left.set_ylim(bottom=0)
        left.set_ylabel("predictions")
        for name, values in latency.items():
            right.plot(x, values, marker="o", markersize=3, linewidth=1.2, label=name)
        right.set_ylim(bottom=0)
        right.set_ylabel("latency (ms)")
        if latency:
            right.legend(loc="best", frameon=False, ncols=len(latency))
        _dates(fig, limits, left, right)
        fig.subplots_adjust(wspace=0.3)
        return _svg(fig)


def _dates(fig: Figure, limits: tuple[Any, Any], *axes: Axes) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    for ax in axes:
        ax.set_xlim(*limits)
        locator = AutoDateLocator()  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    fig.subplots_adjust(left=0.09, right=0.98, top=0.93, bottom=0.2)
