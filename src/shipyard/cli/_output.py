"""Rich tables and formatting shared by the CLI commands."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table

from shipyard.errors import InvalidArgument, NotFound
from shipyard.tracking import Client, Run

STATUS_STYLE = {"RUNNING": "cyan", "FINISHED": "green", "FAILED": "red", "KILLED": "yellow"}


def console() -> Console:
    """A console that does not squeeze tables to 80 columns when piped."""
    probe = Console()
    return Console(highlight=False, width=None if probe.is_terminal else 200)


def when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration(run: Run) -> str:
    if run.duration is None:
        return ""
    seconds = run.duration.total_seconds()
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def number(value: float) -> str:
    return f"{value:.6g}"


def status(run: Run) -> str:
    return f"[{STATUS_STYLE.get(run.status.value, '')}]{run.status.value}[/]"


def table(title: str | None, columns: Iterable[str]) -> Table:
    grid = Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD)
    for column in columns:
        grid.add_column(column, overflow="fold", no_wrap=column in ("id", "run", "started"))
    return grid


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON instead of a table (for scripts)."
)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=_plain))


def plain(record: Any) -> dict[str, Any]:
    """A dataclass record as a dict for ``print_json``."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


def _plain(value: Any) -> Any:
    """What json cannot encode itself: records as objects, times as ISO 8601 (UTC),
    durations as seconds, enums as their values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def resolve_run(client: Client, text: str) -> Run:
    """A run by its full id or a unique prefix of at least 4 characters."""
    text = text.strip().lower()
    if len(text) == 32:
        return client.get_run(text)
    if len(text) < 4 or not all(c in "0123456789abcdef" for c in text):
        raise InvalidArgument(f"{text!r} is not a run id or a prefix of one (4+ hex characters)")
    found = client.search_runs(None, f"run_id like '{text}%'", limit=2, include_deleted=True)
    if not found:
        raise NotFound(f"no run id starts with {text!r}")
    if len(found) > 1:
        raise InvalidArgument(f"run id prefix {text!r} is ambiguous; type more characters")
    return found[0]
