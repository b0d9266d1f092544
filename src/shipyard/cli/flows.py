"""`shipyard flows ls|show|graph|logs|card`: flows and their runs, as recorded in the store."""

from __future__ import annotations

import json
from typing import Any

import click

from shipyard.cli import _output as out
from shipyard.flows import Flow, Run, usage
from shipyard.flows.client import task_logs
from shipyard.tracking import Client


@click.group()
def flows() -> None:
    """Flows, their runs, steps and logs."""


@flows.command("ls")
@out.json_option
def ls(as_json: bool) -> None:
    """Every flow with its number of runs and its latest run."""
    client = Client()
    records = client.store.flows.list_flow_runs()
    if as_json:
        out.print_json(_flows_json(client, records))
        return
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
@out.json_option
def show(target: str, as_json: bool) -> None:
    """A flow's runs (FLOW), or a run's steps and tasks (FLOW/NUMBER) with what they used:
    wall and CPU seconds and GPU seconds summed over a step's tasks, their largest peak
    memory, and the run's totals (its wall time is its own duration)."""
    client = Client()
    if as_json:
        out.print_json(
            _runs_json(client, target) if "/" not in target else _steps_json(client, target)
        )
        return
    if "/" not in target:
        grid = out.table(
            f"runs of {target}", ["run", "status", "started", "duration", "tags", "resumed"]
        )
        for run in Flow(target, client=client, namespace_check=False).runs(all_namespaces=True):
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
    run = Run(target, client=client, namespace_check=False)
    steps = [(step, step.attempts()) for step in run.steps_in_graph_order()]
    infos = {t.id: client.get_run(t.id) for _, tasks in steps for t in tasks}
    used = {step.name: usage.combine(infos[t.id].metrics for t in tasks) for step, tasks in steps}
    gpu = any(usage.GPU in u for u in used.values())
    measured = _USAGE_COLUMNS if gpu else _USAGE_COLUMNS[:3]
    grid = out.table(
        f"{run.pathspec} ({run.status.value})",
        ["step", "tasks", "finished", "failed", "cloned", *measured, "errors"],
    )
    for step, tasks in steps:
        mine = [infos[t.id] for t in tasks]
        grid.add_row(
            step.name,
            str(len(tasks)),
            str(sum(i.status.value == "FINISHED" for i in mine)),
            str(sum(i.status.value in ("FAILED", "KILLED") for i in mine)),
            str(sum("cloned_from" in i.tags for i in mine)),
            *_usage_cells(used[step.name], gpu),
            "; ".join(sorted({t.error for t in tasks if t.error}))[:120],
        )
    grid.add_section()
    grid.add_row("run", str(len(infos)), "", "", "", *_usage_cells(run.info.metrics, gpu), "")
    out.console().print(grid)


_USAGE_COLUMNS = ("wall s", "CPU s", "peak MB", "GPU s")


def _usage_cells(used: dict[str, float], gpu: bool) -> list[str]:
    """Wall, CPU and GPU seconds and peak memory; blank where not recorded."""
    cells = [
        f"{used[name]:,.1f}" if name in used else ""
        for name in (usage.WALL, usage.CPU, usage.PEAK_MEMORY, usage.GPU)
    ]
    return cells if gpu else cells[:3]


def _flows_json(client: Client, records: list[Any]) -> list[dict[str, Any]]:
    found = []
    for name in sorted({r.flow_name for r in records}):
        runs = [r for r in records if r.flow_name == name]
        latest = client.get_run(runs[0].run_id)
        found.append(
            {
                "flow": name,
                "runs": len(runs),
                "latest": f"{name}/{runs[0].number}",
                "status": latest.status,
                "started": latest.start_time,
            }
        )
    return found


def _runs_json(client: Client, flow: str) -> list[dict[str, Any]]:
    return [
        {
            "run": run.pathspec,
            "run_id": run.info.id,
            "status": run.info.status,
            "started": run.info.start_time,
            "ended": run.info.end_time,
            "tags": run.tags,
            "resumed_from": run.origin_number,
        }
        for run in Flow(flow, client=client, namespace_check=False).runs(all_namespaces=True)
    ]


def _steps_json(client: Client, pathspec: str) -> dict[str, Any]:
    run = Run(pathspec, client=client, namespace_check=False)
    steps = []
    for step in run.steps_in_graph_order():
        tasks = []
        metrics = []
        for task in step.attempts():
            info = client.get_run(task.id)
            tasks.append(
                {
                    "task": task.pathspec,
                    "run_id": task.id,
                    "status": info.status,
                    "started": info.start_time,
                    "ended": info.end_time,
                    "cloned": "cloned_from" in info.tags,
                    "error": task.error,
                    "usage": usage.short(info.metrics),
                }
            )
            metrics.append(info.metrics)
        used = usage.short(usage.combine(metrics))
        steps.append({"step": step.name, "tasks": tasks, "usage": used})
    return {
        "run": run.pathspec,
        "status": run.status,
        "usage": usage.short(run.info.metrics),
        "steps": steps,
    }


@flows.command("graph")
@click.argument("run_pathspec")
def graph(run_pathspec: str) -> None:
    """The graph a run was executed with (FLOW/NUMBER)."""
    run = Run(run_pathspec, client=Client(), namespace_check=False)
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


@flows.command("card")
@click.argument("pathspec")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False), default=None, help="Write it to a file."
)
def card(pathspec: str, output: str | None) -> None:
    """The HTML card @card made for FLOW/NUMBER/STEP (its task) or FLOW/NUMBER/STEP/TASK."""
    parts = pathspec.strip("/").split("/")
    if len(parts) not in (3, 4):
        raise click.UsageError(f"{pathspec!r}: give FLOW/NUMBER/STEP or FLOW/NUMBER/STEP/TASK")
    run = Run("/".join(parts[:2]), client=Client(), namespace_check=False)
    try:
        step = run[parts[2]]
        task = step[parts[3]] if len(parts) == 4 else step.task
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0])) from None
    html = task.card
    if html is None:
        raise click.ClickException(f"{task.pathspec} has no card: decorate its step with @card")
    if output is None:
        click.echo(html)
        return
    with open(output, "w", encoding="utf-8") as handle:
        handle.write(html)
    click.echo(f"wrote {output}")
