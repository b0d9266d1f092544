"""The prediction endpoints as plain ASGI, answered before FastAPI's layers.

On a single row, FastAPI's middleware, routing, dependency solving and Response objects
cost as much as the server's own work around the model, so ``POST`` requests to the
prediction paths (``/predict``, ``/invocations``, ``/v2/models/NAME[/versions/V]/infer``)
are answered here: the body read against its size limit, the handler, the JSON answer and
the request metrics, in one function. Everything else (GET endpoints, ``/docs``, unknown
routes and methods) goes through FastAPI. The prediction paths keep their FastAPI routes,
for ``/docs`` and for a request this table does not take; those run the same endpoint.

A handler (a coroutine) takes the body, its content type and the path parameters and
returns what to answer as JSON (200); a ``ShipyardError`` becomes its JSON error with its
4xx status, any other exception a logged 500. Every request is counted by endpoint and
status and timed; a client that hangs up mid-body is counted as ``499`` and gets nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from starlette.requests import ClientDisconnect

from shipyard.errors import InvalidArgument, ShipyardError

log = logging.getLogger("shipyard.serving")
CLIENT_CLOSED = 499  # nginx's "client closed request": the client hung up, not our failure
JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
INTERNAL_ERROR = {"error": {"code": "INTERNAL_ERROR", "message": "internal server error"}}

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Handler = Callable[[bytes, bytes, dict[str, str]], Awaitable[Any]]


class PayloadTooLarge(InvalidArgument):
    code = "PAYLOAD_TOO_LARGE"
    http_status = 413


def error_status(exc: ShipyardError) -> int:
    """A ShipyardError's HTTP status; a 5xx other than an unavailable store is a bug: 500."""
    status = exc.http_status
    return status if status < 500 or exc.code == "STORE_UNAVAILABLE" else 500


class Endpoint:
    """One prediction endpoint: ``await endpoint(scope, receive, send, path_params)``."""

    def __init__(
        self,
        name: str,
        handler: Handler,
        metrics: Any,
        max_body_bytes: int,
        on_failure: Callable[[BaseException, float], None],
    ) -> None:
        self.name = name
        self.handler = handler
        self.max_body_bytes = max_body_bytes
        self.on_failure = on_failure  # logs a failed request (never raises)
        self._latency = metrics.request_latency.labels(name)
        self._requests = metrics.requests
        self._counts: dict[int, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send, params: Any) -> None:
        started = time.perf_counter()
        try:
            body, content_type = await self._read(scope, receive)
            answer = await self.handler(body, content_type, params)
            status, data = 200, orjson.dumps(answer, option=JSON_OPTIONS)
        except ClientDisconnect:
            # the client's doing: counted under its own status, no latency (it measures
            # the client), logged at info; nobody is left to read an answer
            _client_closed(scope, self.name)
            self._count(CLIENT_CLOSED)
            return
        except ShipyardError as exc:
            status, data = error_status(exc), orjson.dumps(exc.to_json())
            self.on_failure(exc, started)
        except Exception as exc:  # a bug: answer in JSON, keep serving
            log.exception("%s failed", self.name)
            status, data = 500, orjson.dumps(INTERNAL_ERROR)
            self.on_failure(exc, started)
        self._latency.observe(time.perf_counter() - started)
        self._count(status)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"%d" % len(data)),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})

    def _count(self, status: int) -> None:
        counter = self._counts.get(status)
        if counter is None:
            counter = self._counts[status] = self._requests.labels(self.name, str(status))
        counter.inc()

    async def _read(self, scope: Scope, receive: Receive) -> tuple[bytes, bytes]:
        """(body, content type); the body is refused (413) past the limit, checked while
        it streams in."""
        content_type, declared = b"", b""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                declared = value
        limit = self.max_body_bytes
        if declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(_too_large(int(declared), limit))
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):  # the common case: one message
            if len(body) > limit:
                raise PayloadTooLarge(_too_large(len(body), limit))
            return body, content_type
        buffer = bytearray(body)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            buffer += message.get("body", b"")
            if len(buffer) > limit:
                raise PayloadTooLarge(_too_large(len(buffer), limit))
            if not message.get("more_body", False):
                return bytes(buffer), content_type


class FastRoutes:
    """The paths answered by an Endpoint: exact paths, and the v2 inference paths."""

    def __init__(self) -> None:
        self.exact: dict[str, Endpoint] = {}
        self.v2: Endpoint | None = None

    def match(self, scope: Scope) -> tuple[Endpoint, dict[str, str]] | None:
        path: str = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root + "/"):  # mounted or behind --root-path
            path = path[len(root) :]
        endpoint = self.exact.get(path)
        if endpoint is not None:
            return endpoint, {}
        if self.v2 is not None and path.startswith("/v2/models/") and path.endswith("/infer"):
            parts = path.split("/")  # "", v2, models, NAME, [versions, V,] infer
            if len(parts) == 5 and parts[3]:
                return self.v2, {"name": parts[3]}
            if len(parts) == 7 and parts[3] and parts[4] == "versions" and parts[5]:
                return self.v2, {"name": parts[3], "version": parts[5]}
        return None


def _client_closed(scope: Scope, endpoint: str) -> None:
    peer = scope.get("client")
    client = f"{peer[0]}:{peer[1]}" if peer else "a client"
    log.info(
        "%s: %s closed the connection before sending the whole request body (counted as %d)",
        endpoint,
        client,
        CLIENT_CLOSED,
    )


def _too_large(size: int, limit: int) -> str:
    return (
        f"the request body is {size:,} bytes; this server takes at most {limit:,} "
        "(start it with a larger --max-body-mb, or send smaller batches)"
    )
