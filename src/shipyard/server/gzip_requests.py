"""Request bodies sent with ``Content-Encoding: gzip`` are inflated before the routes see
them, up to ``limit`` bytes inflated (64 MiB): more is refused with 413, a body that is
not gzip with 400, both in the server's JSON error form."""

from __future__ import annotations

import zlib
from typing import Any

import orjson

MAX_INFLATED = 64 * 1024 * 1024

Scope = dict[str, Any]
Message = dict[str, Any]


class GzipRequests:
    """ASGI middleware: inflate gzip request bodies; everything else passes untouched."""

    def __init__(self, app: Any, limit: int = MAX_INFLATED) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not _is_gzip(scope):
            await self.app(scope, receive, send)
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
                    await _error(send, 413, "PAYLOAD_TOO_LARGE", self._too_large())
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

    def _too_large(self) -> str:
        return f"the request body inflates to more than {self.limit // (1024 * 1024)} MiB"


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
