"""`shipyard monitor performance|segments MODEL`: how right a model is on its labelled
predictions, over time and per segment of a column (registered in the `monitor` group)."""

from __future__ import annotations

import json
import math
from typing import Any

import click

from shipyard.cli import _output as out
from shipyard.errors import InvalidArgument


def _target(ref: str) -> tuple[str, int | None, Any]:
    """(model name, version or None for all, client) of NAME, NAME/VERSION or NAME@ALIAS."""
    from shipyard.registry import ModelRegistry, parse_model_ref
    from shipyard.tracking import Client

    client = Client()
    parsed = parse_model_ref(ref)
    if parsed is None:
        raise InvalidArgument(
            f"{ref!r} does not name a model: use NAME, NAME/VERSION or NAME@ALIAS"
        )
    name, version, alias, _ = parsed
    if version is None and alias is None:
        return name, None, client  # every version of the model
    found = ModelRegistry(client).find_version(ref)
    return found.name, found.version, client


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _records(frame: Any) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in r.items()} for r in frame.to_dict(orient="records")]


def _show(title: str, frame: Any) -> None:
    grid = out.table(title, [str(c) for c in frame.columns])
    for row in _records(frame):
        grid.add_row(
            *(
                "" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)
                for v in row.values()
            )
        )
    out.console().print(grid)


@click.command("performance")
@click.argument("model")
@click.option("--since", default="7d", show_default=True, help="How far back: 30m, 2h, 7d.")
@click.option("--window", default="1h", show_default=True, help="Window size: 15min, 1h, 1d.")
@click.option("--by", default=None, help="Also group by this column (e.g. variant).")
@click.option("--task", type=click.Choice(["classification", "regression"]), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def performance_cmd(
    model: str, since: str, window: str, by: str | None, task: str | None, as_json: bool
) -> None:
    """Accuracy, F1, ROC AUC… or MAE, RMSE, R² of MODEL's labelled predictions per window,
    with row counts and latency percentiles."""
    from shipyard.monitoring import performance, read_window

    name, version, client = _target(model)
    frame = read_window(name, version, since=since, client=client)
    result = performance(frame, task=task, by=by, window=window)
    if as_json:
        click.echo(json.dumps({"model": name, "version": version, "task": result.attrs["task"],
                               "windows": _records(result)}, indent=2))  # fmt: skip
        return
    _show(f"{model}: {result.attrs['task']} over the last {since}, per {window}", result)


@click.command("segments")
@click.argument("model")
@click.option("--by", required=True, help="The column to segment by (e.g. region, age).")
@click.option("--since", default="7d", show_default=True, help="How far back: 30m, 2h, 7d.")
@click.option("--metric", default=None, help="The metric gaps are judged on (default f1/rmse).")
@click.option("--bins", default=4, show_default=True, type=click.IntRange(2), help="Bands.")
@click.option("--gap", default=0.05, show_default=True, type=float, help="Flag beyond this.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def segments_cmd(
    model: str,
    by: str,
    since: str,
    metric: str | None,
    bins: int,
    gap: float,
    as_json: bool,
) -> None:
    """Performance and prediction rates of MODEL per segment of a column; segments doing
    worse than the whole by more than --gap are flagged."""
    from shipyard.monitoring import read_window, segments

    name, version, client = _target(model)
    frame = read_window(name, version, since=since, client=client)
    result = segments(frame, by, metric=metric, bins=bins, gap=gap)
    attrs = result.attrs
    if as_json:
        body = {
            "model": name,
            "version": version,
            "by": by,
            "metric": attrs["metric"],
            "overall": {k: _plain(v) for k, v in attrs["overall"].items()},
            "max_gap": _plain(attrs["max_gap"]),
            "segments": _records(result),
        }
        click.echo(json.dumps(body, indent=2))
        return
    overall = attrs["overall"][attrs["metric"]]
    _show(
        f"{model} by {by}: {attrs['metric']} {overall:.4g} overall, max gap {attrs['max_gap']:.4g}",
        result,
    )
    flagged = result[result["flagged"]]["segment"].tolist()
    if flagged:
        out.console().print(f"flagged: {', '.join(map(str, flagged))}")
