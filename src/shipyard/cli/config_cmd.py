"""`shipyard config`: the effective settings and where each came from."""

from __future__ import annotations

import click

from shipyard.cli import _output as out
from shipyard.config import SETTINGS, load_settings, redact_setting


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def config(as_json: bool) -> None:
    """Print the effective settings (env > shipyard.toml > defaults) and their sources."""
    settings = load_settings()
    rows = [
        (
            s.name,
            redact_setting(s.name, settings.values[s.name]),
            settings.source(s.name),
            s.env_var,
            s.help,
        )
        for s in SETTINGS
    ]
    if as_json:
        out.print_json(
            {
                name: {"value": value, "source": source, "env": env}
                for name, value, source, env, _ in rows
            }
        )
        return
    grid = out.table(None, ["setting", "value", "source", "env var", "meaning"])
    for row in rows:
        grid.add_row(*row)
    out.console().print(grid)
