"""`shipyard usage`: what flow runs used (wall, CPU and GPU hours, peak memory), rolled up
by project, flow or user from the totals each flow run records when it ends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import click

from shipyard._clock import since_millis
from shipyard.cli import _output as out
from shipyard.flows import usage
from shipyard.tracking import Client, Run

_PAGE = 1000
_KEYS: dict[str, Callable[[Run], str]] = {
    "project": lambda run: run.project,
    "flow": lambda run: run.name.rpartition("/")[0] or run.name,  # runs are FLOW/NUMBER
    "user": lambda run: run.user,
}


@click.command("usage")
@click.option(
    "--by",
    type=click.Choice(sorted(_KEYS)),
    default="flow",
    show_default=True,
    help="Roll up per project, flow or user.",
)
@click.option("--since", default=None, help="Only runs started since: 30d, 12h, 2026-12-01...")
@out.json_option
def usage_command(by: str, since: str | None, as_json: bool) -> None:
    """Resources used by ended flow runs: runs, task attempts, wall, CPU and GPU hours and
    the largest peak memory of a task, per project, flow or user."""
    client = Client()
    try:
        since_ms = None if since is None else since_millis(since, client.clock.now(), "--since")
        rows = rollup(_ended_flow_runs(client, since_ms), by)
    finally:
        client.close()
    if as_json:
        out.print_json(rows)
        return
    window = f" since {since}" if since else ""
    grid = out.table(
        f"usage of ended flow runs by {by}{window}",
        [by, "runs", "tasks", "wall h", "CPU h", "GPU h", "peak MB"],
    )
    for row in rows:
        grid.add_row(*_cells(row, by))
    if len(rows) > 1:
        grid.add_section()
        grid.add_row(*_cells(_total(rows, by), by))
    out.console().print(grid)
    if not rows:
        click.echo("no ended flow runs" + window)


def _cells(row: dict[str, Any], by: str) -> list[str]:
    return [
        row[by],
        f"{row['runs']:,}",
        f"{row['tasks']:,}",
        _hours(row["wall_seconds"]),
        _hours(row["cpu_seconds"]),
        _hours(row["gpu_seconds"]) if row["gpu_seconds"] else "",
        f"{row['peak_memory_mb']:,.0f}",
    ]


def _hours(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:,.2f}" if hours >= 1 else f"{hours:.4f}"


def _total(rows: list[dict[str, Any]], by: str) -> dict[str, Any]:
    total: dict[str, Any] = {by: "all"}
    for name in ("runs", "tasks", "wall_seconds", "cpu_seconds", "gpu_seconds"):
        total[name] = sum(row[name] for row in rows)
    total["peak_memory_mb"] = max(row["peak_memory_mb"] for row in rows)
    return total


def rollup(runs: Iterator[Run], by: str) -> list[dict[str, Any]]:
    """Flow runs' recorded totals summed per key (peak memory: the largest), by key."""
    key = _KEYS[by]
    groups: dict[str, dict[str, Any]] = {}
    for run in runs:
        name = key(run)
        row = groups.setdefault(
            name,
            {
                by: name,
                "runs": 0,
                "tasks": 0,
                "wall_seconds": 0.0,
                "cpu_seconds": 0.0,
                "gpu_seconds": 0.0,
                "peak_memory_mb": 0.0,
            },
        )
        metrics = run.metrics
        row["runs"] += 1
        row["tasks"] += int(metrics.get(usage.TASKS, 0))
        row["wall_seconds"] += metrics.get(usage.WALL, 0.0)
        row["cpu_seconds"] += metrics.get(usage.CPU, 0.0)
        row["gpu_seconds"] += metrics.get(usage.GPU, 0.0)
        row["peak_memory_mb"] = max(row["peak_memory_mb"], metrics.get(usage.PEAK_MEMORY, 0.0))
    return [groups[name] for name in sorted(groups)]


def _ended_flow_runs(client: Client, since_ms: int | None) -> Iterator[Run]:
    """Flow runs that ended (their totals are recorded then), a page at a time."""
    query = "kind = 'flow' and end_time is not null"
    if since_ms is not None:
        query += f" and start_time >= {since_ms:d}"
    offset = 0
    while True:
        page = client.search_runs(None, query, ["start_time", "run_id"], _PAGE, offset)
        yield from page
        if len(page) < _PAGE:
            return
        offset += _PAGE
