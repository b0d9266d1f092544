"""`shipyard projects ls`."""

from __future__ import annotations

from collections import Counter

import click

from shipyard._clock import from_millis
from shipyard.cli import _output as out
from shipyard.tracking import Client


@click.group()
def projects() -> None:
    """Projects (experiments) group runs."""


@projects.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def ls(as_json: bool) -> None:
    """List projects with their number of runs."""
    client = Client()
    found = client.list_projects()
    counts = Counter(r.project for r in client.search_runs(None, limit=100_000))
    if as_json:
        out.print_json(
            [
                {
                    "name": p.name,
                    "description": p.description,
                    "runs": counts[p.name],
                    "created": from_millis(p.created_ms).isoformat(),
                }
                for p in found
            ]
        )
        return
    grid = out.table(None, ["name", "runs", "created", "description"])
    for project in found:
        grid.add_row(
            project.name,
            str(counts[project.name]),
            out.when(from_millis(project.created_ms)),
            project.description,
        )
    out.console().print(grid)
