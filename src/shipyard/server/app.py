"""The server's app factory: one client (session) shared by every route."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from shipyard.server.deps import IdempotencyKeys
from shipyard.server.errors import document_errors, install_error_handlers
from shipyard.server.gzip_requests import GzipRequests
from shipyard.server.routes import (
    audit,
    blobs,
    features,
    flows,
    monitoring,
    predictions,
    registry,
    store_rpc,
    tracking,
)
from shipyard.server.routes import mlflow as mlflow_routes
from shipyard.server.security_headers import SecurityHeaders
from shipyard.tracking import Client


def create_app(client: Client | None = None) -> FastAPI:
    """The team server's ASGI app over ``client``'s stores (the settings' by default)."""
    app = FastAPI(title="Shipyard", version="1")
    app.state.client = client or Client()
    app.state.idempotency_keys = IdempotencyKeys()
    install_error_handlers(app)
    app.add_middleware(GzipRequests)
    app.add_middleware(SecurityHeaders)  # outermost: on every answer, errors included
    for module in (tracking, blobs, store_rpc, features, registry, predictions, monitoring, flows):
        app.include_router(module.router)
    app.include_router(audit.router)
    mlflow_routes.install(app, app.state.client)
    _declare_errors(app)
    return app


def _with_models(schema: dict[str, Any], models: tuple[type[BaseModel], ...]) -> dict[str, Any]:
    """Add the schemas of bodies that routes parse themselves to the components."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in models:
        body = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in body.pop("$defs", {}).items():
            components.setdefault(name, sub)
        components.setdefault(model.__name__, body)
    return schema


def _declare_errors(app: FastAPI) -> None:
    """``/openapi.json`` says what an error answer looks like."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(_with_models(generate(), tracking.RAW_BODIES))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
