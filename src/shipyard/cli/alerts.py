"""`shipyard alerts ls`: alerts raised by monitors and how their deliveries went."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

import click

from shipyard._clock import from_millis
from shipyard.cli import _output as out
from shipyard.store.base import AlertDeliveryRecord, AlertRecord
from shipyard.tracking import Client


@click.group()
def alerts() -> None:
    """Alerts raised by monitors (`shipyard monitor run`) and their webhook deliveries."""


def _when(ms: int | None) -> str:
    return "" if ms is None else out.when(from_millis(ms))


def _deliveries(found: list[AlertDeliveryRecord]) -> str:
    counts = Counter(d.status for d in found)
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def _alert_json(alert: AlertRecord, found: list[AlertDeliveryRecord]) -> dict[str, Any]:
    data = asdict(alert)
    for key in ("first_fired_ms", "last_seen_ms", "resolved_ms"):
        ms = data.pop(key)
        data[key.removesuffix("_ms")] = None if ms is None else from_millis(ms).isoformat()
    data["deliveries"] = [asdict(d) for d in found]
    return data


@alerts.command("ls")
@click.option("--all", "show_all", is_flag=True, help="Resolved alerts too.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON, with every delivery.")
def ls(show_all: bool, as_json: bool) -> None:
    """Firing alerts (all with --all), newest first, with their deliveries."""
    store = Client().store.monitors
    found = store.list_alerts(include_resolved=show_all)
    by_alert: dict[int, list[AlertDeliveryRecord]] = {}
    for d in store.deliveries():
        by_alert.setdefault(d.alert_id, []).append(d)
    if as_json:
        out.print_json([_alert_json(a, by_alert.get(a.id, [])) for a in found])
        return
    if not found:
        click.echo("no firing alerts" if not show_all else "no alerts")
        return
    grid = out.table(
        None, ["id", "state", "model", "monitor", "first fired", "last seen", "resolved",
               "deliveries", "message"],
    )  # fmt: skip
    for a in found:
        state = "[red]firing[/]" if a.state == "firing" else "[green]resolved[/]"
        failed = [d for d in by_alert.get(a.id, []) if d.status == "failed"]
        deliveries = _deliveries(by_alert.get(a.id, []))
        if failed:
            deliveries += f" (last error: {failed[-1].last_error})"
        grid.add_row(
            str(a.id), state, f"{a.model} v{a.version}", a.monitor, _when(a.first_fired_ms),
            _when(a.last_seen_ms), _when(a.resolved_ms), deliveries, a.message,
        )  # fmt: skip
    out.console().print(grid)
