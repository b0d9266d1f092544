"""`shipyard audit ls`: who changed what, when and from where (the append-only audit log)."""

from __future__ import annotations

import json

import click

from shipyard._clock import from_millis, since_millis
from shipyard.cli import _output as out
from shipyard.tracking import Client


@click.group()
def audit() -> None:
    """The audit log: every change to runs, models, features, monitors and deployments."""


@audit.command("ls")
@click.option(
    "--object", "obj", help="Exact (model:churn/3), or a prefix ending in * (model:churn*)."
)
@click.option("--user", help="Only changes by this user (local:<os user> on the embedded store).")
@click.option("--action", help="Exact (run.create), or a prefix ending in * (model.*).")
@click.option("--since", help="How far back: 30m, 7d, a date (2026-12-01, UTC) or ISO 8601.")
@click.option("--until", help="Up to (excluded), as --since.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@out.json_option
def ls(
    obj: str | None,
    user: str | None,
    action: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Audit entries, newest first: time, user, action, object, what changed, source."""
    client = Client()
    try:
        now = client.clock.now()
        found = client.store.audit.list_audit(
            object=obj,
            actor=user,
            action=action,
            since_ms=None if since is None else since_millis(since, now, "--since"),
            until_ms=None if until is None else since_millis(until, now, "--until"),
            limit=limit,
        )
    finally:
        client.close()
    if as_json:
        out.print_json([out.plain(e) | {"time": from_millis(e.ts_ms)} for e in found])
        return
    grid = out.table(
        f"{len(found):,} audit entr{'y' if len(found) == 1 else 'ies'}, newest first",
        ["time", "user", "action", "object", "summary", "source", "request"],
    )
    for e in found:
        grid.add_row(
            out.when(from_millis(e.ts_ms)),
            e.actor,
            e.action,
            e.object,
            _short(json.dumps(e.summary, sort_keys=True)),
            e.source,
            e.request_id or "",
        )
    out.console().print(grid)


def _short(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
