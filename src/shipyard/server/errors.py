"""Every error in one JSON shape, ``{"error": {"code", "message"}}``, never an HTML page."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from shipyard.errors import ShipyardError

log = logging.getLogger("shipyard.server")


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    """Every error answer of the /api/v1 routes."""

    error: ErrorDetail


def document_errors(schema: dict[str, Any], prefix: str = "/api/v1/") -> dict[str, Any]:
    """Declare ``ErrorBody`` as the answer to every 4xx of the routes under ``prefix``, in
    place of FastAPI's default 422 body (which this server never sends)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorDetail, ErrorBody):
        components[model.__name__] = model.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
    components.get("ErrorBody", {}).pop("$defs", None)
    error = {
        "description": "An error: a bad request (4xx), in the JSON error form",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith(prefix):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses["4XX"] = error
    return schema


def json_error(code: str, message: str, status: int, **extra: object) -> Response:
    body = {"error": {"code": code, "message": message, **extra}}
    return Response(orjson.dumps(body), status, media_type="application/json")


def status_of(exc: ShipyardError) -> int:
    """Its HTTP status; a 5xx other than an unavailable store is a bug, so 500."""
    status = exc.http_status
    return status if status < 500 or exc.code == "STORE_UNAVAILABLE" else 500


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ShipyardError)
    async def shipyard_error(_: Request, exc: ShipyardError) -> Response:
        answer = json_error(exc.code, exc.message, status_of(exc))
        if answer.status_code == 401:
            answer.headers["www-authenticate"] = 'Bearer realm="shipyard"'
        return answer

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> Response:
        if isinstance(exc.__cause__, ShipyardError):  # FastAPI wraps errors reading a body
            return json_error(exc.__cause__.code, exc.__cause__.message, status_of(exc.__cause__))
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        response = json_error(code, str(exc.detail), exc.status_code)
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        field = ".".join(str(p) for p in first.get("loc", ()))
        return json_error("INVALID_INPUT", f"{field}: {first.get('msg')}", 422, field=field)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return json_error("INTERNAL_ERROR", "internal server error", 500)
