"""`shipyard runs ls|show|compare|delete|restore|reap`."""

from __future__ import annotations

import click
from rich.markup import escape

from shipyard.cli import _output as out
from shipyard.store.filters import parse_filter
from shipyard.tracking import Client


@click.group()
def runs() -> None:
    """List, inspect, compare and delete runs."""


@runs.command("ls")
@click.option("--project", "-p", multiple=True, help="Only these projects (repeatable).")
@click.option(
    "--filter",
    "-f",
    "filter_",
    default="",
    help="e.g. \"metrics.acc > 0.9 and params.model = 'xgb'\"",
)
@click.option("--order-by", "-o", multiple=True, help="e.g. 'metrics.acc desc' (repeatable).")
@click.option("--limit", "-n", default=50, show_default=True, help="At most this many runs.")
@click.option("--deleted", is_flag=True, help="Include deleted runs.")
@click.option("--tasks", is_flag=True, help="Include the task runs of flows.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def ls(
    project: tuple[str, ...],
    filter_: str,
    order_by: tuple[str, ...],
    limit: int,
    deleted: bool,
    tasks: bool,
    as_json: bool,
) -> None:
    """List runs, newest first (dead runs are marked KILLED first)."""
    client = Client()
    client.reap_dead_runs(if_allowed=True)
    parse_filter(filter_)  # errors point into the filter as typed, not the one built here
    # runs and flow runs (and their tasks with --tasks); not the MLflow routes' bookkeeping
    kinds = "kind in ('run', 'flow', 'task')" if tasks else "kind in ('run', 'flow')"
    query = kinds + (f" and ({filter_})" if filter_ else "")
    found = client.search_runs(
        list(project) or None, query, list(order_by), limit, include_deleted=deleted
    )
    if as_json:
        out.print_json([r.to_dict() for r in found])
        return
    metric_keys = sorted({k for r in found for k in r.metrics})[:6]
    grid = out.table(None, ["id", "project", "name", "status", "started", "duration", *metric_keys])
    for run in found:
        grid.add_row(
            run.id[:8],
            run.project,
            run.name,
            out.status(run),
            out.when(run.start_time),
            out.duration(run),
            *[out.number(run.metrics[k]) if k in run.metrics else "" for k in metric_keys],
        )
    out.console().print(grid)
    if not found:
        click.echo(
            "no runs match" if filter_ or project else "no runs yet: try `shipyard quickstart`"
        )


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def show(run_id: str, as_json: bool) -> None:
    """Everything about one run: params, metrics, tags, artifacts, environment."""
    client = Client()
    run = out.resolve_run(client, run_id)
    artifacts = client.list_artifacts(run.id)
    missing = {a.blob_hash for a in artifacts if not client.blobs.exists(a.blob_hash)}
    if as_json:
        data = run.to_dict()
        data["artifacts"] = [
            {"path": a.path, "size": a.size, "serializer": a.serializer, "hash": a.blob_hash}
            | ({"missing_blob": True} if a.blob_hash in missing else {})
            for a in artifacts
        ]
        out.print_json(data)
        return
    environment = client.get_environment(run.id)
    console = out.console()
    info = out.table(f"run {run.id}", ["field", "value"])
    for field, value in [
        ("project", run.project),
        ("name", run.name),
        ("status", out.status(run)),
        ("started", out.when(run.start_time)),
        ("ended", out.when(run.end_time)),
        ("duration", out.duration(run)),
        ("user", run.user),
        ("host", f"{run.host} pid {run.pid}"),
        ("command", run.command),
        ("code version", run.code_version or "(not a git checkout)"),
        ("python", environment.get("python", "")),
        ("packages", str(len(environment.get("packages", {})))),
        ("parent", run.parent_id or ""),
    ]:
        info.add_row(field, str(value))
    console.print(info)
    for title, values in (("params", run.params), ("tags", run.tags)):
        if values:
            grid = out.table(title, ["key", "value"])
            for key, value in sorted(values.items()):
                grid.add_row(key, value)
            console.print(grid)
    if run.metrics:
        grid = out.table("metrics (latest)", ["key", "value"])
        for key, value in sorted(run.metrics.items()):
            grid.add_row(key, out.number(value))
        console.print(grid)
    if artifacts:
        grid = out.table("artifacts", ["path", "size", "serializer", "sha256"])
        for a in artifacts:
            path = escape(a.path) + (" [red](missing blob)[/]" if a.blob_hash in missing else "")
            grid.add_row(path, f"{a.size:,}", a.serializer, a.blob_hash[:12])
        console.print(grid)
        if missing:
            click.echo(
                f"{len(missing)} artifact blob(s) are missing: `shipyard doctor` lists what to do",
                err=True,
            )


@runs.command("compare")
@click.argument("run_ids", nargs=-1, required=True)
@click.option("--all", "show_all", is_flag=True, help="Show params that are equal too.")
@out.json_option
def compare(run_ids: tuple[str, ...], show_all: bool, as_json: bool) -> None:
    """Params and metrics of several runs side by side; differing params are highlighted."""
    client = Client()
    found = [out.resolve_run(client, r) for r in run_ids]
    if as_json:
        out.print_json([r.to_dict() for r in found])
        return
    grid = out.table(None, ["", *[f"{r.name}\n{r.id[:8]}" for r in found]])
    grid.add_row("status", *[out.status(r) for r in found])
    for key in sorted({k for r in found for k in r.params}):
        texts = [r.params.get(key, "—") for r in found]
        differs = len(set(texts)) > 1
        if differs or show_all:
            grid.add_row(
                f"params.{key}", *[f"[bold yellow]{t}[/]" if differs else t for t in texts]
            )
    for key in sorted({k for r in found for k in r.metrics}):
        numbers = [r.metrics.get(key) for r in found]
        grid.add_row(f"metrics.{key}", *["—" if v is None else out.number(v) for v in numbers])
    out.console().print(grid)


@runs.command("delete")
@click.argument("run_ids", nargs=-1, required=True)
def delete(run_ids: tuple[str, ...]) -> None:
    """Delete runs (reversible with `restore` until `shipyard gc --yes` purges them)."""
    client = Client()
    for text in run_ids:
        run = out.resolve_run(client, text)
        client.delete_run(run.id)
        click.echo(f"deleted run {run.id} ({run.project}/{run.name})")


@runs.command("restore")
@click.argument("run_ids", nargs=-1, required=True)
def restore(run_ids: tuple[str, ...]) -> None:
    """Undo `shipyard runs delete`."""
    client = Client()
    for text in run_ids:
        run = out.resolve_run(client, text)
        client.restore_run(run.id)
        click.echo(f"restored run {run.id} ({run.project}/{run.name})")


@runs.command("reap")
def reap() -> None:
    """Mark RUNNING runs whose process died as KILLED."""
    killed = Client().reap_dead_runs()
    click.echo(f"marked {len(killed)} run(s) KILLED" + (": " + ", ".join(killed) if killed else ""))
