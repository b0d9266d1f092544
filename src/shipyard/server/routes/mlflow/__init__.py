"""The MLflow tracking, registry and artifact REST API (``/api/2.0/mlflow/...``)."""

from fastapi import FastAPI

from shipyard.tracking import Client


def install(app: FastAPI, client: Client) -> None:
    """Add MLflow's routes (and their own error shape) to ``app``."""
