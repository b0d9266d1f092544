"""The MLflow tracking, registry and artifact REST API (``/api/2.0/mlflow/...``), over
Shipyard's stores: experiments are projects, runs are runs, registered models are registry
models. Errors come back in MLflow's shape (``errors.py``), not Shipyard's."""

from fastapi import FastAPI

from shipyard.server.routes.mlflow import (
    artifacts,
    experiments,
    logged_models,
    model_edits,
    models,
    runs,
)
from shipyard.server.routes.mlflow.context import Context
from shipyard.tracking import Client


def install(app: FastAPI, client: Client) -> None:
    """Add MLflow's routes (and their own error shape) to ``app``."""
    ctx = Context(client)
    for module in (experiments, runs, artifacts, models, logged_models):
        app.include_router(module.router(ctx))
    app.include_router(logged_models.server_info_router())
    app.include_router(model_edits.router(ctx))  # last: it answers unknown MLflow routes
