"""The quickstart's serving part: promote the flow's model with gates, serve it over HTTP
on a loopback port, send requests that carry only a customer id (the server fetches the
features online), then requests whose age is shifted (for the monitors), then read the
predictions back from the prediction log and attach ground truth to them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from shipyard.cli import _output as out

MODEL = "churn"
GATES = ("metrics.roc_auc >= 0.6", "metrics.roc_auc >= champion.metrics.roc_auc")
SHOWN = 5


def promote(version: int) -> int:
    """Move churn@production to ``version`` if the gates hold; returns what is live."""
    from shipyard.errors import GateFailed
    from shipyard.registry import ModelRegistry

    registry = ModelRegistry()
    try:
        move = registry.promote(MODEL, version, "production", GATES)
        results, verdict = move.gates, f"promoted: {MODEL}@production v{move.from_version or '-'}"
        verdict += f" -> v{move.to_version}"
    except GateFailed as exc:
        results, verdict = exc.results, "not promoted: production keeps its model"
    for gate in results:
        mark = "[green]✓[/]" if gate["passed"] else "[red]✗[/]"
        out.console().print(f"  {mark} {gate['gate']}  ({gate['detail']})")
    click.echo(verdict)
    return registry.get_version(f"models:/{MODEL}@production").version


def serve_and_query(
    customers: int, labels_path: Path, requests: int = 300, shifted: int = 300
) -> None:
    """Serve churn@production, send ``requests`` requests with customer ids only, print
    latency and what the prediction log recorded; then ``shifted`` requests that send an
    older age; label every prediction with the customer's ground truth."""
    import httpx
    import pandas as pd

    from shipyard.cli.quickstart_features import feature_columns
    from shipyard.cli.quickstart_monitoring import SHIFTED_AGES, SHIFTED_FEATURE, send_shifted
    from shipyard.serving import Deployment, log_labels
    from shipyard.serving.app import create_app
    from shipyard.serving.background import BackgroundServer
    from shipyard.serving.service import PredictionService

    service = PredictionService(Deployment.from_flags(f"{MODEL}@production"))
    with (
        BackgroundServer(create_app(service)) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        timings, ids = [], []
        started = time.perf_counter()
        for i in range(requests):
            customer = 1 + (i * 7919) % customers
            sent = time.perf_counter()
            response = http.post(
                "/predict",
                json={"record": {"customer_id": customer}, "method": "predict_proba"},
            )
            timings.append((time.perf_counter() - sent) * 1000)
            response.raise_for_status()
            ids.append((customer, response.json()["prediction_ids"][0]))
        elapsed = time.perf_counter() - started
        drifted = send_shifted(http, customers, shifted)
        version = http.get("/ready").json()["variants"][0]["version"]
    # the server has stopped: its prediction log is flushed
    timings.sort()
    click.echo(
        f"served {MODEL} v{version} on {server.url}: {requests} requests with only a customer id, "
        f"p50 {timings[len(timings) // 2]:.2f} ms, p99 {timings[int(len(timings) * 0.99)]:.2f} "
        f"ms, {requests / elapsed:,.0f} req/s (one client)"
    )
    logged = {p.id: p for p in service.client.store.predictions.get([i for _, i in ids])}
    shown = feature_columns()[:4]
    grid = out.table(
        "from the prediction log: features the server fetched online, and the answer",
        ["prediction id", "customer", *shown, "churn risk"],
    )
    for _customer, pid in ids[:SHOWN]:
        p = logged[pid]
        features = p.features or {}
        grid.add_row(
            pid,
            str(p.inputs["customer_id"]),
            *[_cell(features.get(f)) for f in shown],
            f"{p.output[1]:.2f}",
        )
    out.console().print(grid)
    click.echo(
        f"then {shifted} requests that send {SHIFTED_FEATURE} (drawn from {SHIFTED_AGES[0]} to "
        f"{SHIFTED_AGES[1] - 1}: older customers than in training) with the customer id"
    )
    truth = pd.read_parquet(labels_path).sort_values("event_timestamp")
    churned = truth.groupby("customer_id")["churned"].last()
    every = [*ids, *drifted]
    log_labels([pid for _, pid in every], [int(churned.get(c, 0)) for c, _ in every])
    click.echo(
        f"{len(every)} predictions logged; ground truth attached to all of them "
        "with shipyard.log_labels(ids, labels)"
    )


def _cell(value: Any) -> str:
    return "[yellow]missing[/]" if value is None else out.number(value)
