"""`shipyard serve`: a registered model behind a REST API in one command."""

from __future__ import annotations

from typing import Any

import click

from shipyard.serving import Deployment, ServeOptions
from shipyard.serving import serve as run_server


@click.command("serve")
@click.argument("model", required=False)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes (each loads the model).",
)
@click.option(
    "--spec",
    "spec",
    type=click.Path(exists=True, dir_okay=False),
    help="Deployment YAML: weighted variants, shadows, sticky_key.",
)
@click.option(
    "--split",
    multiple=True,
    metavar="MODEL=PERCENT",
    help="Send PERCENT of the traffic to MODEL (A/B, canary); repeatable.",
)
@click.option(
    "--shadow",
    multiple=True,
    metavar="MODEL",
    help="Copy the traffic to MODEL without affecting responses; repeatable.",
)
@click.option("--sticky-key", help="Request column that pins a caller to one variant.")
@click.option("--no-log", is_flag=True, help="Do not log predictions.")
@click.option(
    "--max-body-mb",
    default=16.0,
    show_default=True,
    type=click.FloatRange(0.001),
    help="Largest request body accepted (413 beyond).",
)
@click.option(
    "--poll",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Seconds between checks for alias moves (hot swap).",
)
@click.option("--access-log", is_flag=True, help="Log every request (slower).")
def serve(
    model: str | None,
    host: str,
    port: int,
    workers: int,
    spec: str | None,
    split: tuple[str, ...],
    shadow: tuple[str, ...],
    sticky_key: str | None,
    no_log: bool,
    max_body_mb: float,
    poll: float,
    access_log: bool,
) -> None:
    """Serve MODEL (churn@production, churn/3, or a `models build` folder) over HTTP:
    POST /predict, /invocations (MLflow), /v2/models/NAME/infer (Open Inference), and
    /health, /ready, /metrics. An alias is followed: when it moves, the server swaps
    the model without dropping requests."""
    if spec and (model or split or shadow or sticky_key):
        raise click.UsageError("give either --spec or MODEL with --split/--shadow/--sticky-key")
    if not spec and not model:
        raise click.UsageError("give MODEL (e.g. churn@production) or --spec deploy.yaml")
    deployment = (
        Deployment.from_yaml(spec)
        if spec
        else Deployment.from_flags(str(model), split, shadow, sticky_key)
    )
    options = ServeOptions(host, port, workers, not no_log, max_body_mb, poll, access_log)

    def announce(app: Any) -> None:
        service = app.state.service
        total = sum(s.variant.weight for s in service.slots)
        for slot in (*service.slots, *service.shadows):
            share = "shadow" if slot.shadow else f"{slot.variant.weight / total:.0%}"
            click.echo(
                f"{slot.name}: {slot.current.name} v{slot.current.version} "
                f"({slot.ref.uri}, {share})",
                err=True,
            )
        click.echo(
            f"serving on http://{host}:{port} with {workers} worker(s): POST /predict, "
            "/invocations, /v2/models/{name}/infer; GET /health, /ready, /metrics, /docs",
            err=True,
        )

    run_server(deployment, options, announce)
