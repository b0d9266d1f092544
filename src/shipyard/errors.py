"""Every error Shipyard raises on purpose, with its wire form.

    ShipyardError                      500-class only when it is a bug
     ├── InvalidArgument  (ValueError)  400  bad input from the caller
     │    ├── FilterSyntaxError         400  run filter / order_by does not parse
     │    ├── InvalidFlow               400  a flow's graph or parameters are wrong
     │    ├── InvalidFeature            400  a feature definition disagrees with itself or its data
     │    └── InvalidInput              422  a prediction request does not fit the model's signature
     ├── Unauthenticated                401  no token, or one that is unknown, expired or revoked
 ├── PermissionDenied               403  the user's roles do not allow the call
 ├── NotFound         (LookupError) 404  a project, run, artifact or blob is missing
     ├── AlreadyExists                  409  a unique name or key is taken
     ├── Conflict                       409  the call disagrees with stored state
     ├── TaskFailed                     422  a flow step raised; the run failed
     ├── GateFailed                     422  a promotion gate did not hold; the alias stayed
 ├── TooManyRequests                429  too many failed sign-ins from one address: wait
     ├── IntegrityError                 500  stored bytes do not match their hash
     ├── StoreUnavailable               503  the database or blob store cannot be reached
     ├── SchemaOutOfDate                503  the database needs `shipyard db upgrade`
     └── MissingExtra     (ImportError) 500  an optional dependency is not installed

A client maps the closed set of codes in ``ERROR_CODES`` back to classes; it never imports
a class named by a server.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ShipyardError(Exception):
    """Base class: a message a user can act on, a stable code and an HTTP status."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


class InvalidArgument(ShipyardError, ValueError):
    code = "INVALID_ARGUMENT"
    http_status = 400


class FilterSyntaxError(InvalidArgument):
    code = "INVALID_FILTER"


class InvalidFlow(InvalidArgument):
    code = "INVALID_FLOW"


class InvalidFeature(InvalidArgument):
    code = "INVALID_FEATURE"


class InvalidInput(InvalidArgument):
    """A prediction request that parses but does not fit the model; ``field`` names the
    offending input column, when there is one."""

    code = "INVALID_INPUT"
    http_status = 422

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def to_json(self) -> dict[str, Any]:
        body = super().to_json()
        if self.field is not None:
            body["error"]["field"] = self.field
        return body


class Unauthenticated(ShipyardError):
    code = "UNAUTHENTICATED"
    http_status = 401


class PermissionDenied(ShipyardError):
    code = "PERMISSION_DENIED"
    http_status = 403


class NotFound(ShipyardError, LookupError):
    code = "NOT_FOUND"
    http_status = 404


class AlreadyExists(ShipyardError):
    code = "ALREADY_EXISTS"
    http_status = 409


class Conflict(ShipyardError):
    code = "CONFLICT"
    http_status = 409


class TaskFailed(ShipyardError):
    code = "TASK_FAILED"
    http_status = 422


class GateFailed(ShipyardError):
    """A promotion was refused because a gate did not hold; nothing moved.

    ``results`` holds every gate's result when raised locally (the wire form keeps only the
    message, which names the failed gates)."""

    code = "GATE_FAILED"
    http_status = 422

    def __init__(self, message: str, results: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.results = list(results or [])


class TooManyRequests(ShipyardError):
    code = "TOO_MANY_REQUESTS"
    http_status = 429


class IntegrityError(ShipyardError):
    code = "INTEGRITY_ERROR"
    http_status = 500


class StoreUnavailable(ShipyardError):
    code = "STORE_UNAVAILABLE"
    http_status = 503


class SchemaOutOfDate(ShipyardError):
    code = "SCHEMA_OUT_OF_DATE"
    http_status = 503


class MissingExtra(ShipyardError, ImportError):
    code = "MISSING_EXTRA"
    http_status = 500

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the '{package}' package: pip install 'shipyard[{extra}]'"
        )


ERROR_CODES: dict[str, type[ShipyardError]] = {
    cls.code: cls
    for cls in (
        ShipyardError,
        InvalidArgument,
        FilterSyntaxError,
        InvalidFlow,
        InvalidFeature,
        InvalidInput,
        Unauthenticated,
        PermissionDenied,
        NotFound,
        AlreadyExists,
        Conflict,
        TaskFailed,
        GateFailed,
        TooManyRequests,
        IntegrityError,
        StoreUnavailable,
        SchemaOutOfDate,
    )
}


def from_json(payload: dict[str, Any]) -> ShipyardError:
    """Rebuild an error from its wire form; unknown codes become a plain ShipyardError."""
    body = payload.get("error", {})
    cls = ERROR_CODES.get(str(body.get("code")), ShipyardError)
    return cls(str(body.get("message", "unknown error")))
