"""`shipyard predictions ls|show|seal|prune`: what a model answered, to whom, on what."""

from __future__ import annotations

import json
import re
from typing import Any

import click

from shipyard._clock import from_millis, to_millis
from shipyard.cli import _output as out
from shipyard.errors import InvalidArgument, NotFound
from shipyard.tracking import Client

_SPAN = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _span_ms(text: str, option: str = "--since") -> int:
    match = _SPAN.match(text.strip())
    if match is None:
        raise InvalidArgument(f"{option} {text!r} must look like 30m, 2h or 7d")
    return int(float(match[1]) * _SECONDS[match[2]] * 1000)


@click.group()
def predictions() -> None:
    """The prediction log: every prediction a server or `shipyard predict` made."""


@predictions.command("ls")
@click.argument("model")
@click.option("--version", type=int, help="Only this model version.")
@click.option("--since", default="1d", show_default=True, help="How far back: 30m, 2h, 7d.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1))
@click.option("--labelled/--unlabelled", default=None, help="Only with (or without) a label.")
@click.option("--shadow/--live", default=None, help="Only shadow (or live) predictions.")
@out.json_option
def ls(
    model: str,
    version: int | None,
    since: str,
    limit: int,
    labelled: bool | None,
    shadow: bool | None,
    as_json: bool,
) -> None:
    """MODEL's newest predictions: id, time, version, variant, output, label, latency."""
    client = Client()
    try:
        start = to_millis(client.clock.now()) - _span_ms(since)
        found = client.store.predictions.query(
            model, version=version, start_ms=start, labelled=labelled, shadow=shadow
        )
    finally:
        client.close()
    if as_json:
        out.print_json([out.plain(p) for p in reversed(found[-limit:])])
        return
    grid = out.table(
        f"{model}: {len(found):,} prediction(s) in the last {since}, newest first",
        ["id", "time", "version", "variant", "output", "label", "ms"],
    )
    for p in reversed(found[-limit:]):
        variant = f"{p.variant} (shadow)" if p.shadow else p.variant
        label = "" if p.labelled_ms is None else _short(p.label)
        grid.add_row(
            p.id,
            out.when(from_millis(p.ts_ms)),
            f"v{p.version}",
            variant,
            _short(p.output) if p.error is None else f"FAILED {p.error.split(':', 1)[0]}",
            label,
            f"{p.latency_ms:.2f}",
        )
    out.console().print(grid)


@predictions.command("seal")
@click.argument("model", required=False)
@click.option("--since", default=None, help="Only hours from this far back: 2h, 7d (default: all).")
def seal(model: str | None, since: str | None) -> None:
    """Write the columnar segments monitoring reads for finished hours of the log that have
    none yet (servers do this as they go; this catches up on older or batch-scored logs)."""
    from shipyard.store.log_segments import seal_all

    client = Client()
    now = to_millis(client.clock.now())
    since_ms = None if since is None else now - _span_ms(since)
    models = None if model is None else [model]
    try:
        written = seal_all(
            client.store.predictions, client.blobs, models, now_ms=now, since_ms=since_ms
        )
    finally:
        client.close()
    click.echo(f"wrote {written} segment(s)")


@predictions.command("prune")
@click.argument("model", required=False)
@click.option("--older-than", "older_than", required=True, help="Keep this much: 30d, 12h.")
def prune(model: str | None, older_than: str) -> None:
    """Delete calls older than --older-than (of MODEL, else of every model) with their
    labels and columnar segments, in whole hours: the retention of the log. Run it from
    cron or a scheduled flow; `shipyard gc` then frees the segments' blobs."""
    from shipyard.store.log_segments import bucket_of

    client = Client()
    try:
        before = bucket_of(to_millis(client.clock.now()) - _span_ms(older_than, "--older-than"))
        gone = client.store.predictions.prune(before, model)
    finally:
        client.close()
    click.echo(
        f"deleted {gone['calls']:,} call(s), {gone['labels']:,} label(s) and "
        f"{gone['segments']:,} segment(s) from before {out.when(from_millis(before))}"
    )


@predictions.command("show")
@click.argument("prediction_id")
@click.option("--json", "as_json", is_flag=True, help="Accepted for scripts; the output is JSON.")
def show(prediction_id: str, as_json: bool) -> None:
    """One prediction in full: inputs, fetched features, output, label, and the model
    version that made it with its run, dataset and feature service."""
    client = Client()
    try:
        _show(client, prediction_id)
    finally:
        client.close()


def _show(client: Client, prediction_id: str) -> None:
    found = client.store.predictions.get([prediction_id])
    if not found:
        raise NotFound(
            f"no prediction {prediction_id!r} in the prediction log; "
            "`shipyard predictions ls MODEL` lists recent ones"
        )
    p = found[0]
    version = client.store.models.get_model_version(p.model, p.version)
    out.print_json(
        {
            "id": p.id,
            "time": out.when(from_millis(p.ts_ms)),
            "model": f"models:/{p.model}/{p.version}",
            "variant": p.variant,
            "shadow": p.shadow,
            "latency_ms": p.latency_ms,
            "inputs": p.inputs,
            "features": p.features,
            "output": p.output,
            "error": p.error,
            "label": p.label,
            "labelled": out.when(from_millis(p.labelled_ms)) if p.labelled_ms else None,
            "lineage": {
                "run": version.run_id,
                "dataset": version.dataset,
                "feature_service": version.feature_service,
                "flavor": version.flavor,
                "registered_by": version.created_by,
            },
        }
    )


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."
