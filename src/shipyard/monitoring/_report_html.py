"""The report's HTML: one page, its CSS inline, no script, nothing fetched. Every string that
comes from users or data (model, feature and category names, messages) goes through
``esc``; figures are inline SVG from ``_report_plots``."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: #1f2933; margin: 0 auto; max-width: 1100px; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 32px 0 8px;
  border-bottom: 1px solid #d9e2ec; padding-bottom: 4px; } h3 { font-size: 15px; margin: 0; }
.meta { color: #52606d; margin: 0 0 4px; } .note { color: #52606d; font-style: italic; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border-bottom: 1px solid #e4e7eb; padding: 3px 10px 3px 0; text-align: left;
         vertical-align: top; }
th { color: #52606d; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.bad td { background: #fff1ee; } .bad { color: #c0392b; font-weight: 600; }
.ok { color: #2f855a; font-weight: 600; } .warn { color: #b7791f; font-weight: 600; }
.features { display: flex; flex-wrap: wrap; gap: 12px; }
.feature { border: 1px solid #e4e7eb; border-radius: 6px; padding: 8px 10px; }
.feature.drifted { border-color: #e4572e; } .feature p { margin: 2px 0; font-size: 12px; }
.key span { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 12px; }
svg { display: block; max-width: 100%; height: auto; }
"""


def esc(value: Any) -> str:
    """HTML-escaped text of any value (quotes too, so it is safe in attributes)."""
    return html.escape(str(value), quote=True)


def num(value: Any, digits: int = 4) -> str:
    """A number for a table: ints with separators, floats to ``digits`` significant digits,
    missing values as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return esc(value)
    if math.isnan(number):
        return "—"
    if math.isinf(number):
        return "∞" if number > 0 else "-∞"
    return f"{number:.{digits}g}"


def pct(value: float | None) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.1%}"


def when(moment: datetime | None) -> str:
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


class Cell:
    """A table cell: ``html`` is trusted markup (already escaped); ``cls`` a CSS class."""

    def __init__(self, markup: str, cls: str = "") -> None:
        self.markup, self.cls = markup, cls


def cell(value: Any, cls: str = "") -> Cell:
    """A cell of plain data: numbers formatted, text escaped."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Cell(num(value), cls or "n")
    return Cell(num(value) if isinstance(value, bool) or value is None else esc(value), cls)


def table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], row_class: Sequence[str] = ()
) -> str:
    """A table; each value is a ``Cell`` or plain data (escaped)."""
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for i, row in enumerate(rows):
        cells = []
        for value in row:
            c = value if isinstance(value, Cell) else cell(value)
            attr = f' class="{c.cls}"' if c.cls else ""
            cells.append(f"<td{attr}>{c.markup}</td>")
        cls = row_class[i] if i < len(row_class) else ""
        attr = f' class="{cls}"' if cls else ""
        body.append(f"<tr{attr}>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def section(anchor: str, title: str, *parts: str) -> str:
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{"".join(parts)}</section>'


def para(markup: str, cls: str = "") -> str:
    return f'<p class="{cls}">{markup}</p>' if cls else f"<p>{markup}</p>"


def page(title: str, header: str, sections: Sequence[str]) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f"<body>{header}{''.join(sections)}</body></html>\n"
    )
