"""The team server: one shared Shipyard over HTTP (``shipyard server``).

A versioned REST API under ``/api/v1/`` over every capability, the MLflow tracking and
registry REST API under ``/api/2.0/mlflow/``, all answered from one process-wide session.
"""

from shipyard.server.app import create_app

__all__ = ["create_app"]
