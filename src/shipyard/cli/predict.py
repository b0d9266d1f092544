"""`shipyard predict`: score a file with a registered model, streamed in chunks."""

from __future__ import annotations

import click

from shipyard.cli._ray_options import ray_options
from shipyard.serving.batch import predict_file


@click.command("predict")
@click.argument("model")
@click.option("--input", "input_path", required=True, help="A .parquet or .csv file.")
@click.option("--output", "output_path", required=True, help="The .parquet file to write.")
@click.option(
    "--method",
    default="predict",
    show_default=True,
    type=click.Choice(["predict", "predict_proba", "predict_log_proba", "decision_function"]),
)
@click.option("--chunk-rows", default=10_000, show_default=True, type=click.IntRange(1))
@click.option("--no-log", is_flag=True, help="Do not log the predictions.")
@ray_options(
    "Score here, or on Ray actors (the driver still writes OUTPUT).",
    "scoring chunks (at most one per chunk)",
)
def predict(
    model: str,
    input_path: str,
    output_path: str,
    method: str,
    chunk_rows: int,
    no_log: bool,
    executor: str | None,
    ray_address: str | None,
    workers: int | None,
) -> None:
    """Score INPUT with MODEL (churn@production, churn/3): the input's columns plus
    prediction and prediction_id go to OUTPUT; predictions are logged like the server's.
    On Ray, MODEL is pinned to one version for the whole run."""
    result = predict_file(
        model,
        input_path,
        output_path,
        method=method,
        chunk_rows=chunk_rows,
        log_predictions=not no_log,
        executor=executor,
        ray_address=ray_address,
        workers=workers,
    )
    rate = result.rows / result.seconds if result.seconds else 0.0
    click.echo(
        f"{result.rows:,} rows scored by {result.model} v{result.version} in "
        f"{result.seconds:.2f} s ({rate:,.0f} rows/s) -> {result.output}"
    )
