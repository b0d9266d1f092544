"""The quickstart's monitoring part: traffic with a deliberate shift in one feature sent
through the real server (so it lands in the prediction log), a drift monitor and a
performance monitor run once, the alert delivered to a webhook receiver the quickstart
starts on 127.0.0.1, and the HTML report written to the store's home."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import click

SHIFTED_FEATURE = "age"
SHIFTED_AGES = (60, 90)  # the training customers are 18 to 79


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local HTTP endpoint that keeps the JSON bodies POSTed to it: (URL, bodies)."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append(json.loads(body or b"{}"))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alerts", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def send_shifted(http: Any, customers: int, requests: int, seed: int = 11) -> list[tuple[int, str]]:
    """``requests`` predictions for customers whose age the client sends, drawn from an
    older population than the model was trained on (the other features are fetched online,
    the sent value wins); returns (customer, prediction id) pairs."""
    import numpy as np

    rng = np.random.default_rng(seed)
    sent = []
    for i in range(requests):
        customer = 1 + (i * 104_729) % customers
        age = int(rng.integers(*SHIFTED_AGES))
        response = http.post(
            "/predict",
            json={
                "record": {"customer_id": customer, SHIFTED_FEATURE: age},
                "method": "predict_proba",
            },
        )
        response.raise_for_status()
        sent.append((customer, response.json()["prediction_ids"][0]))
    return sent


def monitors() -> list[Any]:
    from shipyard.cli.quickstart_features import feature_columns
    from shipyard.monitoring import Monitor

    return [
        Monitor("churn-drift", model="churn@production", check="drift",
                features=feature_columns(), window="1h"),
        Monitor("churn-auc", model="churn@production", check="performance",
                metric="roc_auc", threshold=0.6, window="1h"),
    ]  # fmt: skip


def watch(model: str = "churn") -> Path:
    """Run the monitors once with a local webhook receiver, print what it got, write the
    report; returns the report's path."""
    from shipyard.monitoring import report, run_monitors
    from shipyard.tracking import Client

    client = Client()
    with webhook_receiver() as (url, received):
        results = run_monitors(monitors(), client=client, webhooks=[url])
    for r in results:
        click.echo(f"monitor {r.monitor}: {r.status.upper()} ({_summary(r)})")
    for body in received:
        click.echo(f"webhook {url} received: {body.get('event')}: {body.get('text')}")
    if not received:
        fired = any(r.status == "fired" for r in results)
        why = (
            "the alert was already open (delivered once while it fires)"
            if fired
            else ("no monitor fired")
        )
        click.echo(f"webhook {url} received nothing: {why}")
    out = Path(client.settings.home) / "reports" / f"{model}-production.html"
    path: Path = report(f"{model}@production", out, since="1h", client=client)
    click.echo(f"report: {path}")
    click.echo(f"open it: python -m webbrowser {path.as_uri()}")
    return path


def _summary(r: Any) -> str:
    if r.status == "error":
        return str(r.details.get("error", ""))
    drifted = r.details.get("drifted")
    if drifted is not None:
        return f"{len(drifted)} feature(s) drifted" + (f": {', '.join(drifted)}" if drifted else "")
    value = "n/a" if r.value is None else f"{r.value:.3f}"
    return f"{r.details.get('metric')} {value}, fires {r.details.get('fires_when')} {r.threshold}"
