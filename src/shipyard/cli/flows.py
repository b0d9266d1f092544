"""`shipyard flows ls|show|graph|logs`: flows and their runs, as recorded in the store."""

from __future__ import annotations

import json

import click

from shipyard.cli import _output as out
from shipyard.flows import Flow, Run
from shipyard.flows.client import task_logs
from shipyard.tracking import Client


@click.group()
def flows() -> None:
    """Flows, their runs, steps and logs."""


@flows.command("ls")
def ls() -> None:
    """Every flow with its number of runs and its latest run."""
    client = Client()
    records = client.store.flows.list_flow_runs()
    grid = out.table(None, ["flow", "runs", "latest", "status", "started"])
    for name in sorted({r.flow_name for r in records}):
        runs = [r for r in records if r.flow_name == name]
        latest = client.get_run(runs[0].run_id)
        grid.add_row(
            name,
            str(len(runs)),
            f"{name}/{runs[0].number}",
            out.status(latest),
            out.when(latest.start_time),
        )
    out.console().print(grid)
    if not records:
        click.echo("no flow runs yet")


@flows.command("show")
@click.argument("target")
def show(target: str) -> None:
    """A flow's runs (FLOW), or a run's steps and tasks (FLOW/NUMBER)."""
    client = Client()
    if "/" not in target:
        grid = out.table(
            f"runs of {target}", ["run", "status", "started", "duration", "tags", "resumed"]
        )
        for run in Flow(target, client=client).runs():
            info = run.info
            grid.add_row(
                run.pathspec,
                out.status(info),
                out.when(info.start_time),
                out.duration(info),
                ", ".join(run.tags),
                f"{target}/{run.origin_number}" if run.origin_number else "",
            )
        out.console().print(grid)
        return
    run = Run(target, client=client)
    grid = out.table(
        f"{run.pathspec} ({run.status.value})",
        ["step", "tasks", "finished", "failed", "cloned", "errors"],
    )
    for step in run.steps():
        tasks = step.tasks()
        infos = [client.get_run(t.id) for t in tasks]
        grid.add_row(
            step.name,
            str(len(tasks)),
            str(sum(i.status.value == "FINISHED" for i in infos)),
            str(sum(i.status.value in ("FAILED", "KILLED") for i in infos)),
            str(sum("cloned_from" in i.tags for i in infos)),
            "; ".join(sorted({t.error for t in tasks if t.error}))[:120],
        )
    out.console().print(grid)


@flows.command("graph")
@click.argument("run_pathspec")
def graph(run_pathspec: str) -> None:
    """The graph a run was executed with (FLOW/NUMBER)."""
    run = Run(run_pathspec, client=Client())
    nodes = json.loads(run._record.graph or "{}")
    for name, node in nodes.items():
        line = f"{name} ({node['type']})"
        if node["next"]:
            suffix = f" foreach self.{node['foreach']}" if node.get("foreach") else ""
            line += f" -> {', '.join(node['next'])}{suffix}"
        click.echo(line)


@flows.command("logs")
@click.argument("pathspec")
@click.option("--stderr", "which", flag_value="stderr", help="Show stderr instead of stdout.")
@click.option("--stdout", "which", flag_value="stdout", default=True, help="Show stdout.")
def logs(pathspec: str, which: str) -> None:
    """Captured output of FLOW/NUMBER/STEP (every task) or FLOW/NUMBER/STEP/TASK."""
    click.echo(task_logs(pathspec, which), nl=False)
