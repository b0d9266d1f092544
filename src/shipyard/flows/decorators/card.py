"""@card: an HTML card per task, made from the task's artifacts, as in Metaflow.

The default card lists the task's artifacts (the ones it set and the ones it inherited)
with their type and a short preview; it is stored with the task's run as ``_card.html``
and read back with ``Task.card`` (or ``shipyard.flows.client_steps.get_cards``). Only the
``default`` type is drawn; ``current.card`` components are not supported.
"""

from __future__ import annotations

import html
from typing import Any, ClassVar

from shipyard.errors import InvalidFlow
from shipyard.flows.decorators.base import StepDecorator, factory

CARD_PATH = "_card.html"  # among the task run's artifacts
_PREVIEW_CHARS = 300
_LOAD_AT_MOST = 1 << 20  # inherited artifacts larger than this are listed, not loaded


class CardDecorator(StepDecorator):
    """Draw the task's card after the step (whether it succeeded or not)."""

    name = "card"
    defaults: ClassVar[dict[str, Any]] = {
        "type": "default",
        "id": None,
        "options": {},
        "timeout": 45,
        "save_errors": True,
    }

    def check(self, flow_name: str, step: str) -> None:
        if self.attributes["type"] not in ("default", "blank"):
            raise InvalidFlow(
                f"{flow_name}.{step}: @card(type={self.attributes['type']!r}): Shipyard draws "
                "the 'default' card (and 'blank')"
            )

    def task_post_step(self, flow: Any) -> None:
        from shipyard.flows.current import current
        from shipyard.tracking import log_text

        rows = [] if self.attributes["type"] == "blank" else _rows(flow)
        log_text(render(current.pathspec, rows), CARD_PATH)


def _rows(flow: Any) -> list[tuple[str, str, str]]:
    """(name, type, preview) for every artifact the task has."""
    values = {k: v for k, v in vars(flow).items() if not k.startswith("_")}
    rows = [(name, type(value).__name__, _preview(value)) for name, value in values.items()]
    store = vars(flow).get("_artifact_store")
    for name, ref in vars(flow).get("_inherited", {}).items():
        if name in values:
            continue
        if store is None or ref.size > _LOAD_AT_MOST:
            rows.append((name, ref.serializer, f"({ref.size:,} bytes, not loaded)"))
            continue
        value = store.load(ref)
        rows.append((name, type(value).__name__, _preview(value)))
    return sorted(rows)


def _preview(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # a user's __repr__ may fail: the card still draws
        text = f"<repr failed: {exc}>"
    return text if len(text) <= _PREVIEW_CHARS else text[:_PREVIEW_CHARS] + "…"


def render(pathspec: str, rows: list[tuple[str, str, str]]) -> str:
    """The default card: a title and a table of the artifacts."""
    body = "".join(
        f"<tr><td><code>{html.escape(n)}</code></td><td>{html.escape(t)}</td>"
        f"<td><pre>{html.escape(p)}</pre></td></tr>"
        for n, t, p in rows
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(pathspec)}</title>"
        "<style>body{font-family:sans-serif}td{vertical-align:top;padding:4px 8px}"
        "pre{margin:0;white-space:pre-wrap}</style></head><body>"
        f"<h1>{html.escape(pathspec)}</h1>"
        "<table><thead><tr><th>artifact</th><th>type</th><th>value</th></tr></thead>"
        f"<tbody>{body}</tbody></table></body></html>"
    )


card = factory(CardDecorator)
