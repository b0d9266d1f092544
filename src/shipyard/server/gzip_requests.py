"""Request bodies sent with ``Content-Encoding: gzip`` are inflated before the routes see
them, up to ``limit`` bytes inflated (64 MiB): more is refused with 413, a body that is
not gzip with 400, both in the server's JSON error form. A plain body declared larger
than the limit is refused too on the /api/v1 routes that read their body whole (blobs and
uploads stream theirs); so is one sent in chunks without a size, once more than the
limit has arrived, and the same holds for MLflow's JSON routes."""

from __future__ import annotations

import zlib
from typing import Any

import orjson

from shipyard.errors import InvalidArgument

MAX_INFLATED = 64 * 1024 * 1024

Scope = dict[str, Any]
Message = dict[str, Any]


class GzipRequests:
    """ASGI middleware: inflate gzip request bodies; everything else passes untouched."""

    def __init__(self, app: Any, limit: int = MAX_INFLATED) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not _is_gzip(scope):
            if not _is_json_route(scope["path"]):
                await self.app(scope, receive, send)
            elif _declared_size(scope) > self.limit:
                await _error(send, 413, "PAYLOAD_TOO_LARGE", self._too_large("is"))
            else:  # a chunked body declares no size: count what arrives
                await self.app(scope, _counted(receive, self.limit, self._too_large("is")), send)
            return
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        parts: list[bytes] = []
        size = 0
        more = True
        try:
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    await self.app(scope, _replay([], message, receive), send)
                    return
                more = message.get("more_body", False)
                chunk = inflater.decompress(message.get("body", b""), self.limit + 1 - size)
                size += len(chunk)
                if size > self.limit or inflater.unconsumed_tail:
                    await _error(send, 413, "PAYLOAD_TOO_LARGE", self._too_large("inflates to"))
                    return
                parts.append(chunk)
            parts.append(inflater.flush())
        except zlib.error as exc:
            await _error(send, 400, "INVALID_ARGUMENT", f"the gzip request body is corrupt: {exc}")
            return
        body = b"".join(parts)
        headers = [
            (k, v) for k, v in scope["headers"] if k not in (b"content-encoding", b"content-length")
        ]
        headers.append((b"content-length", str(len(body)).encode()))
        inner = dict(scope, headers=headers)
        await self.app(inner, _replay([body], None, receive), send)

    def _too_large(self, verb: str) -> str:
        return f"the request body {verb} more than {self.limit // (1024 * 1024)} MiB"


def _declared_size(scope: Scope) -> int:
    for key, value in scope["headers"]:
        if key == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


def _is_json_route(path: str) -> bool:
    """The routes that read their whole body: /api/v1 (but blobs and uploads, which stream
    theirs) and MLflow's JSON API (but its artifact routes, which stream too)."""
    if path.startswith("/api/v1/"):
        return not path.startswith(("/api/v1/blobs/", "/api/v1/uploads"))
    return path.startswith(("/api/2.0/mlflow/", "/api/3.0/mlflow/", "/ajax-api/"))


class PayloadTooLarge(InvalidArgument):
    code = "PAYLOAD_TOO_LARGE"
    http_status = 413


def _counted(receive: Any, limit: int, message: str) -> Any:
    """``receive`` that refuses the body once more than ``limit`` bytes have arrived."""
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        event: Message = await receive()
        if event["type"] == "http.request":
            seen += len(event.get("body", b""))
            if seen > limit:
                raise PayloadTooLarge(message)
        return event

    return counted


def _is_gzip(scope: Scope) -> bool:
    for key, value in scope["headers"]:
        if key == b"content-encoding":
            return bool(value.strip().lower() == b"gzip")
    return False


def _replay(bodies: list[bytes], then: Message | None, original: Any) -> Any:
    """Hand out what was read already, then wait on the connection as before."""
    queue: list[Message] = [{"type": "http.request", "body": b, "more_body": False} for b in bodies]
    if then is not None:
        queue.append(then)

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        message: Message = await original()
        return message

    return receive


async def _error(send: Any, status: int, code: str, message: str) -> None:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
