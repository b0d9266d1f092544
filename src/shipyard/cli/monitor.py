"""`shipyard monitor apply|run|ls|history`: declared checks on live predictions."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Any

import click

from shipyard._clock import from_millis
from shipyard.cli import _output as out
from shipyard.cli._ray_options import ray_options
from shipyard.cli.monitor_perf import performance_cmd, segments_cmd
from shipyard.store.base import MonitorResultRecord
from shipyard.tracking import Client

_STYLE = {"ok": "green", "fired": "red", "error": "yellow"}


@click.group()
def monitor() -> None:
    """Monitors: drift, performance, latency, error rate and volume checks on a model's
    predictions, evaluated on demand (cron, CI) with alerts to webhooks."""


@monitor.command("apply")
@click.argument("file", type=click.Path(dir_okay=False))
def apply(file: str) -> None:
    """Store the monitors declared in FILE (YAML), replacing those of the same name."""
    from shipyard.monitoring.monitors import load_monitors
    from shipyard.monitoring.runner import apply_monitors

    records = apply_monitors(load_monitors(file), Client())
    for r in records:
        click.echo(f"applied {r.name} on {r.model}{_target(r.target)} ({r.check_kind})")


@monitor.command("run")
@click.option("--model", help="Only the monitors of this model (NAME, NAME@ALIAS, NAME/N).")
@click.option(
    "--file", "file", type=click.Path(dir_okay=False), help="Apply and run the monitors of FILE."
)
@ray_options(
    "Where drift monitors read their windows and compute: here, or on Ray (for windows too "
    "large for one process; same statistics).",
    "reading slices of a window",
)
def run(
    model: str | None,
    file: str | None,
    executor: str | None,
    ray_address: str | None,
    workers: int | None,
) -> None:
    """Evaluate the monitors once and store the results, one line per monitor; exit 1 when
    one fires or cannot be evaluated (for cron or CI)."""
    from shipyard.monitoring.monitors import load_monitors
    from shipyard.monitoring.runner import run_monitors

    declared = load_monitors(file) if file else None
    results = run_monitors(
        declared,
        model=model,
        client=Client(),
        executor=executor,
        ray_address=ray_address,
        workers=workers,
    )
    if not results:
        click.echo("no monitors to run; declare some with `shipyard monitor apply FILE`")
        return
    for r in results:
        click.echo(_line(r))
    if any(r.status != "ok" for r in results):
        sys.exit(1)


def _target(target: str) -> str:
    return target if target.startswith("@") or not target else f"/{target}"


def _summary(r: MonitorResultRecord) -> str:
    if r.status == "error":
        return str(r.details.get("error", ""))
    drifted = r.details.get("drifted")
    if drifted is not None:
        return f"{len(drifted)} feature(s) drifted" + (f": {', '.join(drifted)}" if drifted else "")
    metric = r.details.get("metric", "value")
    value = "n/a" if r.value is None else out.number(r.value)
    threshold = "" if r.threshold is None else f" (fires {r.details.get('fires_when')} "
    threshold += "" if r.threshold is None else f"{out.number(r.threshold)})"
    return f"{metric} {value}{threshold}"


def _line(r: MonitorResultRecord) -> str:
    version = "" if r.version is None else f" v{r.version}"
    return f"{r.status.upper():<5} {r.monitor} on {r.model}{version}: {_summary(r)}"


@monitor.command("ls")
@click.option("--model", help="Only the monitors of this model.")
@out.json_option
def ls(model: str | None, as_json: bool) -> None:
    """Stored monitors and their latest result."""
    client = Client()
    store = client.store.monitors
    if as_json:
        out.print_json(
            [
                out.plain(m) | {"last": [_result_json(r) for r in store.results(m.id, limit=1)]}
                for m in store.list_monitors(model)
            ]
        )
        return
    grid = out.table(
        None, ["model", "monitor", "check", "window", "threshold", "schedule", "last", "when"]
    )
    for m in store.list_monitors(model):
        latest = store.results(m.id, limit=1)
        spec = m.spec
        last = latest[0] if latest else None
        threshold = spec.get("threshold")
        grid.add_row(
            f"{m.model}{_target(m.target)}",
            m.name,
            m.check_kind + (f" {spec['metric']}" if spec.get("metric") else ""),
            str(spec.get("window", "1h")),
            "" if threshold is None else out.number(threshold),
            m.schedule,
            "" if last is None else f"[{_STYLE[last.status]}]{last.status}[/]",
            "" if last is None else out.when(from_millis(last.evaluated_ms)),
        )
    out.console().print(grid)


@monitor.command("history")
@click.argument("name")
@click.option("--model", help="The model, when several have a monitor of this name.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def history(name: str, model: str | None, limit: int, as_json: bool) -> None:
    """Results of monitor NAME over time, newest first."""
    client = Client()
    record = client.store.monitors.get_monitor(name, model)
    results = client.store.monitors.results(record.id, limit=limit)
    if as_json:
        out.print_json([_result_json(r) for r in results])
        return
    grid = out.table(
        f"{record.name} on {record.model}{_target(record.target)}",
        ["evaluated", "version", "status", "value", "threshold", "summary"],
    )
    for r in results:
        grid.add_row(
            out.when(from_millis(r.evaluated_ms)),
            "" if r.version is None else f"v{r.version}",
            f"[{_STYLE[r.status]}]{r.status}[/]",
            "" if r.value is None else out.number(r.value),
            "" if r.threshold is None else out.number(r.threshold),
            _summary(r),
        )
    out.console().print(grid)


def _result_json(r: MonitorResultRecord) -> dict[str, Any]:
    data = asdict(r)
    for key in ("evaluated_ms", "window_start_ms", "window_end_ms"):
        data[key.removesuffix("_ms")] = from_millis(data.pop(key)).isoformat()
    return data


@monitor.command("report")
@click.argument("model")
@click.option(
    "--out", "out_path", required=True, type=click.Path(dir_okay=False), help="The HTML file."
)
@click.option("--since", default="7d", show_default=True, help="How far back: 30m, 2h, 7d.")
@click.option("--window", default="1h", show_default=True, help="Bucket size: 15min, 1h, 1d.")
def report(model: str, out_path: str, since: str, window: str) -> None:
    """Write one self-contained HTML report on MODEL (NAME, NAME/N, NAME@ALIAS): drift per
    feature with distribution plots, the prediction, performance, volume and latency over
    time, monitors and open alerts. Nothing in it is fetched from the network."""
    from shipyard.monitoring import report as write_report

    path = write_report(model, out_path, since=since, window=window, client=Client())
    click.echo(f"report written to {path}; open it with: python -m webbrowser {path.as_uri()}")


monitor.add_command(performance_cmd)
monitor.add_command(segments_cmd)
