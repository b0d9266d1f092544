"""The server's app factory: one client (session) shared by every route."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI
from pydantic import BaseModel

from shipyard.server import ui
from shipyard.server.auth import AuthConfig, Authenticate
from shipyard.server.authz import authorize
from shipyard.server.deps import IdempotencyKeys
from shipyard.server.errors import document_errors, install_error_handlers
from shipyard.server.gzip_requests import GzipRequests
from shipyard.server.routes import (
    audit,
    blobs,
    features,
    flows,
    lineage,
    monitoring,
    predictions,
    registry,
    store_rpc,
    tracking,
)
from shipyard.server.routes import mlflow as mlflow_routes
from shipyard.server.security_headers import SecurityHeaders
from shipyard.tracking import Client


def create_app(client: Client | None = None, auth: AuthConfig | None = None) -> FastAPI:
    """The team server's ASGI app over ``client``'s stores (the settings' by default).

    ``auth`` off by default here (an app made in a test or a notebook); ``shipyard
    server`` passes it on unless it listens only on loopback (``run.auth_config``)."""
    app = FastAPI(title="Shipyard", version="1", dependencies=[Depends(authorize)])
    app.state.client = client = client or Client()
    app.state.auth = auth = auth or AuthConfig(enabled=False)
    app.state.idempotency_keys = IdempotencyKeys()
    install_error_handlers(app)
    app.add_middleware(GzipRequests)
    app.add_middleware(
        Authenticate, config=auth, identity=client.store.identity, clock_ms=_clock_ms(client)
    )
    app.add_middleware(SecurityHeaders)  # outermost: on every answer, errors included
    for module in (tracking, blobs, store_rpc, features, registry, predictions, monitoring, flows):
        app.include_router(module.router)
    app.include_router(lineage.router)
    app.include_router(audit.router)
    mlflow_routes.install(app, app.state.client)
    ui.install(app)
    _declare_errors(app)
    return app


def _clock_ms(client: Client) -> Any:
    return lambda: int(client.clock.now().timestamp() * 1000)


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
