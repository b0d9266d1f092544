"""MLflow's error shape, ``{"error_code": ..., "message": ...}``, for MLflow's routes only.

Shipyard's errors are mapped to the closed set of codes the MLflow client knows:

    NotFound                     -> RESOURCE_DOES_NOT_EXIST  404
    AlreadyExists                -> RESOURCE_ALREADY_EXISTS  400
    InvalidArgument, Conflict    -> INVALID_PARAMETER_VALUE  400 (MLflow calls changing a
                                    logged param an invalid value, not a conflict)
    Unauthenticated              -> UNAUTHENTICATED          401
    PermissionDenied             -> PERMISSION_DENIED        403
    TooManyRequests              -> REQUEST_LIMIT_EXCEEDED   429
    anything else                -> INTERNAL_ERROR           500

A route raises ``MlflowError`` to choose the code itself (MLflow says a missing alias is
INVALID_PARAMETER_VALUE, for example).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from shipyard.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ShipyardError,
    TooManyRequests,
    Unauthenticated,
)

log = logging.getLogger("shipyard.server.mlflow")

NOT_FOUND = "RESOURCE_DOES_NOT_EXIST"
EXISTS = "RESOURCE_ALREADY_EXISTS"
INVALID = "INVALID_PARAMETER_VALUE"
INTERNAL = "INTERNAL_ERROR"
STATUS = {
    NOT_FOUND: 404, EXISTS: 400, INVALID: 400, INTERNAL: 500, "ENDPOINT_NOT_FOUND": 404,
    "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "REQUEST_LIMIT_EXCEEDED": 429,
}  # fmt: skip
_BY_CLASS: tuple[tuple[type[ShipyardError], str], ...] = (
    (Unauthenticated, "UNAUTHENTICATED"),
    (PermissionDenied, "PERMISSION_DENIED"),
    (TooManyRequests, "REQUEST_LIMIT_EXCEEDED"),
)


class MlflowError(Exception):
    """An error answered with MLflow's code and status."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def mlflow_code(exc: Exception) -> str:
    if isinstance(exc, MlflowError):
        return exc.code
    for cls, code in _BY_CLASS:
        if isinstance(exc, cls):
            return code
    if isinstance(exc, NotFound):
        return NOT_FOUND
    if isinstance(exc, AlreadyExists):
        return EXISTS
    if isinstance(exc, InvalidArgument | Conflict | RequestValidationError | ValueError):
        return INVALID
    return INTERNAL


def error_response(code: str, message: str) -> Response:
    import orjson

    body = orjson.dumps({"error_code": code, "message": message})
    return Response(body, STATUS.get(code, 400), media_type="application/json")


class MlflowRoute(APIRoute):
    """A route whose errors come back in MLflow's shape instead of Shipyard's."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPException as exc:
                code = NOT_FOUND if exc.status_code == 404 else INVALID
                return error_response(code, str(exc.detail))
            except (MlflowError, ShipyardError, RequestValidationError, ValueError) as exc:
                message = getattr(exc, "message", None) or str(exc)
                return error_response(mlflow_code(exc), message)
            except Exception:
                log.exception("unhandled error on %s %s", request.method, request.url.path)
                return error_response(INTERNAL, "internal server error")

        return handle
