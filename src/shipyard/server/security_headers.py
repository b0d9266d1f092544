"""Headers every answer of the team server carries: no MIME sniffing, no framing, no
referrer, and no caching of API answers (they may hold a team's data)."""

from __future__ import annotations

from typing import Any

HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cache-control", b"no-store"),
]


# FastAPI's interactive docs load their script and styles from a CDN
_OWN_PAGES = {"/docs", "/redoc", "/docs/oauth2-redirect"}
_CSP = b"content-security-policy"


class SecurityHeaders:
    """ASGI middleware: add ``HEADERS`` to each response that does not set its own."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                if scope["path"] in _OWN_PAGES:
                    present.add(_CSP)
                headers += [(k, v) for k, v in HEADERS if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
