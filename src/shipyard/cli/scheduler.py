"""`shipyard scheduler`: run deployed flows on their @schedule and @trigger events.

shipyard scheduler deploy flow.py      # store the flow, its schedule and triggers
shipyard scheduler                     # long-running: a pass every --interval seconds
shipyard scheduler --once              # one pass, wait for its runs (for cron)
shipyard scheduler ls | history | undeploy NAME | emit NAME --payload '{...}'
"""

from __future__ import annotations

import json
import signal
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from shipyard._clock import from_millis, to_millis
from shipyard.cli import _output as out
from shipyard.errors import InvalidArgument
from shipyard.store.base import DeploymentRecord, FiringRecord
from shipyard.tracking import Client


def _when(ms: int | None) -> str:
    return "" if ms is None else out.when(from_millis(ms))


@click.group(invoke_without_command=True)
@click.option("--once", is_flag=True, help="One pass, wait for the runs it started, exit.")
@click.option(
    "--interval", type=click.FloatRange(min=1), default=30.0, show_default=True,
    help="Seconds between passes when long-running.",
)  # fmt: skip
@click.pass_context
def scheduler(ctx: click.Context, once: bool, interval: float) -> None:
    """Run deployed flows on their cron schedule (@schedule) and on events (@trigger).

    Each firing is claimed in the store first, so several schedulers on one store never
    start the same run twice. With --once, exits 1 when a run it started failed."""
    if ctx.invoked_subcommand is not None:
        return
    from shipyard.flows.scheduler import Scheduler

    runner = Scheduler(Client(), echo=click.echo)
    if once:
        firings = runner.run_once()
        bad = [f for f in firings if f.status not in ("succeeded",)]
        click.echo(f"{len(firings)} firing(s), {len(bad)} not succeeded")
        if bad:
            ctx.exit(1)
        return
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    click.echo(f"scheduler {runner.owner}: a pass every {interval:g} s (Ctrl-C to stop)")
    try:
        runner.serve(interval, stop=lambda: bool(stopping))
    except KeyboardInterrupt:
        click.echo(f"stopping; waiting for {len(runner.running)} run(s) in flight")
        runner.wait()


@scheduler.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", default=None, help="Deployment name (default: the flow's class name).")
@click.option("--flow", default=None, help="The FlowSpec class, when the file has several.")
def deploy(path: Path, name: str | None, flow: str | None) -> None:
    """Store a flow file with its @schedule and @trigger (replacing one of the same name)."""
    from shipyard.flows.deploy import deploy as deploy_flow

    record = deploy_flow(path, name=name, flow=flow)
    click.echo(f"deployed {record.name} ({record.flow_name} in {record.path}): {_plan(record)}")


def _plan(d: DeploymentRecord) -> str:
    parts = []
    if d.schedule:
        parts.append(f"cron '{d.schedule}'" + (f" {d.timezone}" if d.timezone else " UTC"))
    for t in d.triggers:
        filters = ", ".join(f"{k}={v}" for k, v in t.get("filters", {}).items())
        parts.append(f"on {t['name']}" + (f" ({filters})" if filters else ""))
    return "; ".join(parts)


@scheduler.command()
@click.argument("name")
def undeploy(name: str) -> None:
    """Stop scheduling a deployment (its history stays)."""
    from shipyard.flows.deploy import undeploy as undeploy_flow

    undeploy_flow(name)
    click.echo(f"undeployed {name}")


@scheduler.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def ls(as_json: bool) -> None:
    """Deployments: what runs when, and whether the file changed since deployed."""
    from shipyard.flows.deploy import file_hash
    from shipyard.flows.scheduler import latest_due

    client = Client()
    found = client.store.events.list_deployments()
    rows: list[dict[str, Any]] = []
    for d in found:
        path = Path(d.path)
        state = "missing" if not path.is_file() else (
            "deployed" if file_hash(path) == d.file_hash else "changed since deployed"
        )  # fmt: skip
        last = None
        if d.schedule:
            last = latest_due(d.schedule, d.timezone, client.clock.now()).isoformat()
        rows.append({**asdict(d), "file": state, "plan": _plan(d), "last_due": last})
    if as_json:
        out.print_json(rows)
        return
    if not rows:
        click.echo("no deployments; `shipyard scheduler deploy flow.py` adds one")
        return
    grid = out.table(None, ["name", "flow", "runs", "file", "path", "deployed"])
    for r in rows:
        grid.add_row(
            r["name"], r["flow_name"], r["plan"], r["file"], r["path"], _when(r["updated_ms"])
        )
    out.console().print(grid)


@scheduler.command()
@click.argument("name", required=False)
@click.option("--limit", type=int, default=50, show_default=True, help="Newest firings shown.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def history(name: str | None, limit: int, as_json: bool) -> None:
    """Firings, newest first: why each ran, its flow run, how it ended."""
    found = Client().store.events.firings(name, limit=limit)
    if as_json:
        out.print_json([asdict(f) for f in found])
        return
    if not found:
        click.echo("no firings yet")
        return
    grid = out.table(None, ["id", "deployment", "why", "status", "flow run", "started", "message"])
    for f in found:
        grid.add_row(
            str(f.id), f.deployment, _why(f), _status(f.status), f.flow_run or "",
            _when(f.started_ms), f.message,
        )  # fmt: skip
    out.console().print(grid)


def _why(f: FiringRecord) -> str:
    if f.kind == "schedule":
        return f"cron {out.when(from_millis(f.due_ms))}"
    return f"event {f.event_id}"


def _status(status: str) -> str:
    style = {"succeeded": "green", "failed": "red", "error": "red", "lost": "yellow"}
    return f"[{style[status]}]{status}[/]" if status in style else status


@scheduler.command()
@click.argument("name")
@click.option("--payload", default="{}", help="The event's payload, a JSON object.")
def emit(name: str, payload: str) -> None:
    """Send an event by hand (a custom event, or to test a @trigger)."""
    try:
        body = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"--payload is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidArgument('--payload must be a JSON object, e.g. \'{"model": "churn"}\'')
    client = Client()
    event = client.store.events.emit(name, body, to_millis(client.clock.now()), "cli")
    click.echo(f"emitted {event.name} (event {event.id})")
