"""The web UI's projects and a project's runs table (run_page, artifacts and compare have
the other runs pages).

Each runs page makes a bounded number of store reads whatever the number of runs: one
search for a table page, one batched read of metric histories for a run's charts or a
comparison (downsampled to ``MAX_POINTS`` per series), never a query per run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from shipyard.errors import InvalidArgument
from shipyard.governance import Need
from shipyard.server.authz import readable_projects, rule
from shipyard.server.ui.render import page
from shipyard.server.ui.runs_common import (
    _COLUMN_KINDS,
    DEFAULT_METRIC_COLUMNS,
    DEFAULT_PARAM_COLUMNS,
    PAGE_SIZE,
    _client,
    _duration_ms,
    _key_text,
    _now_ms,
)
from shipyard.store.base import RunRecord
from shipyard.tracking import validation as v

router = APIRouter(include_in_schema=False)


@router.get("/ui/projects")
@rule(Need.READ, lists=True)
def projects_page(request: Request) -> Response:
    store = _client(request).store
    readable = readable_projects(request)
    rows = []
    for project in store.list_projects():
        if readable is not None and project.name not in readable:
            continue
        newest = store.search_runs([project.name], "", ["start_time DESC"], 1, 0, False)
        rows.append(
            {
                "name": project.name,
                "description": project.description,
                "created_ms": project.created_ms,
                "runs": store.count_runs([project.name]) if newest else 0,
                "last_ms": newest[0].start_ms if newest else None,
                "last_run": newest[0] if newest else None,
            }
        )
    rows.sort(key=lambda r: -(r["last_ms"] or r["created_ms"] or 0))
    return page(
        request, "runs_projects.html", section="runs", crumbs=[("Projects", None)], projects=rows
    )


# -- /ui/projects/{project}/runs ---------------------------------------------------------


@dataclass(frozen=True)
class Column:
    kind: str  # params | metrics | tags
    key: str

    @property
    def label(self) -> str:
        return f"{self.kind}.{self.key}"

    @property
    def sort_key(self) -> str:
        return _key_text(self.kind, self.key)

    def value(self, run: RunRecord) -> Any:
        return getattr(run, self.kind).get(self.key)


def _parse_columns(text: str) -> list[Column]:
    columns = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        prefix, _, key = item.partition(".")
        kind = _COLUMN_KINDS.get(prefix.lower())
        if kind is None or not key:
            raise InvalidArgument(f"column {item!r}: write params.NAME, metrics.NAME or tags.NAME")
        columns.append(Column(kind, key.strip('`"')))
    return list(dict.fromkeys(columns))


def _default_columns(runs: list[RunRecord]) -> list[Column]:
    """The metrics then params keys the page's runs have, the most common ones (capped;
    the column picker offers the rest)."""
    chosen: list[Column] = []
    for kind, cap in (("metrics", DEFAULT_METRIC_COLUMNS), ("params", DEFAULT_PARAM_COLUMNS)):
        counts: dict[str, int] = {}
        for run in runs:
            for key in getattr(run, kind):
                counts[key] = counts.get(key, 0) + 1
        keys = sorted(counts, key=lambda k: (-counts[k], k))
        chosen += [Column(kind, k) for k in sorted(keys[:cap])]
    return chosen


def _page_keys(runs: list[RunRecord]) -> list[Column]:
    """Every params and metrics key of the page's runs, for the column picker."""
    keys = {
        Column(kind, k)
        for run in runs
        for kind in ("params", "metrics")
        for k in getattr(run, kind)
    }
    return sorted(keys, key=lambda c: (c.kind != "metrics", c.key))


def _order_parts(order_by: str) -> tuple[str, bool]:
    """``'metrics.auc DESC'`` -> ``('metrics.auc', True)``."""
    text = order_by.strip()
    lowered = text.lower()
    for suffix, descending in ((" desc", True), (" asc", False)):
        if lowered.endswith(suffix):
            return text[: -len(suffix)].strip(), descending
    return text, False


@router.get("/ui/projects/{project}/runs")
@rule(Need.READ)
def runs_page(
    project: str,
    request: Request,
    filter: Annotated[str, Query(max_length=4000)] = "",
    order_by: Annotated[str, Query(max_length=500)] = "",
    columns: Annotated[str, Query(max_length=4000)] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = PAGE_SIZE,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    client = _client(request)
    client.store.get_project(v.check_name(project, "project name"))  # 404 for a typo
    order = order_by.strip() or "start_time DESC"
    error = None
    try:
        found = client.store.search_runs([project], filter, [order], limit + 1, offset, False)
    except InvalidArgument as exc:
        found, error = [], exc.message
    more = len(found) > limit
    runs = found[:limit]
    try:
        chosen = _parse_columns(columns) if columns.strip() else None
    except InvalidArgument as exc:
        chosen, error = None, error or exc.message
    if chosen is None:
        chosen = _default_columns(runs)
    order_key, descending = _order_parts(order)
    base = {"filter": filter, "columns": columns, "limit": limit}
    base = {k: val for k, val in base.items() if val and val != PAGE_SIZE}

    def link(**changes: Any) -> str:
        query = {**base, "order_by": order_by, "offset": offset, **changes}
        kept = {k: val for k, val in query.items() if val not in ("", 0, None)}
        return f"/ui/projects/{quote(project)}/runs" + ("?" + urlencode(kept) if kept else "")

    def sort_link(key: str) -> str:
        flip = "ASC" if order_key == key and descending else "DESC"
        return link(order_by=f"{key} {flip}", offset=0)

    def sorted_by(key: str) -> str:
        return ("desc" if descending else "asc") if key == order_key else ""

    return page(
        request,
        "runs_table.html",
        section="runs",
        crumbs=[("Projects", "/ui/projects"), (project, None)],
        flash=error,
        flash_kind="error",
        project=project,
        runs=runs,
        columns=chosen,
        other_columns=[c for c in _page_keys(runs) if c not in chosen],
        columns_link=lambda more: link(columns=",".join(c.label for c in [*chosen, *more])),
        filter=filter,
        order_by=order_by,
        columns_text=columns,
        offset=offset,
        limit=limit,
        prev_url=link(offset=max(0, offset - limit)) if offset > 0 else None,
        next_url=link(offset=offset + limit) if more else None,
        sort_link=sort_link,
        status_link=lambda status: link(filter=f"status = '{status}'", offset=0),
        sorted_by=sorted_by,
        now_ms=_now_ms(request),
        duration_ms=_duration_ms,
    )


# -- /ui/runs/{run_id} -------------------------------------------------------------------
