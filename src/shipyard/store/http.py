"""The HTTP side of the remote stores: one connection pool per process, JSON calls with
gzip bodies, retries with backoff, and server errors turned back into ``ShipyardError``s.

A call is retried when the server could not have seen it (the connection was refused) or
when repeating it is harmless (a read, or a write sent with an ``Idempotency-Key``): after
a connection drop, a 502/503/504, up to ``ATTEMPTS`` times with backoff 0.1 s, 0.2 s, ...
Then it raises ``StoreUnavailable`` in one line naming the server's URL.
"""

from __future__ import annotations

import gzip
import os
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
import orjson

from shipyard.config import redact_uri
from shipyard.errors import (
    Conflict,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ShipyardError,
    StoreUnavailable,
    TooManyRequests,
    Unauthenticated,
    from_json,
)

GZIP_OVER = 4 * 1024
ATTEMPTS = 6
TIMEOUT = httpx.Timeout(60.0, connect=5.0)
_RETRY_STATUS = frozenset({502, 503, 504})
_BY_STATUS: dict[int, type[ShipyardError]] = {
    400: InvalidArgument,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    413: InvalidArgument,
    429: TooManyRequests,
    422: InvalidArgument,
}


class Http:
    """A base URL and a pooled ``httpx.Client`` (made again after a fork)."""

    def __init__(self, base_url: str, attempts: int = ATTEMPTS) -> None:
        self.base_url = base_url.rstrip("/")
        self.attempts = attempts
        self._client: httpx.Client | None = None
        self._pid = 0
        self._lock = threading.Lock()

    @property
    def client(self) -> httpx.Client:
        if self._client is None or self._pid != os.getpid():
            with self._lock:
                if self._client is None or self._pid != os.getpid():
                    client = httpx.Client(
                        base_url=self.base_url, timeout=TIMEOUT, headers=_auth_headers()
                    )
                    weakref.finalize(self, client.close)  # no socket left open when dropped
                    self._client, self._pid = client, os.getpid()
        return self._client

    def close(self) -> None:
        if self._client is not None and self._pid == os.getpid():
            self._client.close()
        self._client = None

    def json(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        body: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        repeatable: bool = False,
    ) -> Any:
        """Send ``payload`` (or raw JSON ``body``) and return the decoded JSON answer."""
        if body is None and payload is not None:
            body = orjson.dumps(payload)
        sent = dict(headers or {})
        if body is not None:
            sent["content-type"] = "application/json"
            if len(body) > GZIP_OVER:
                body = gzip.compress(body, compresslevel=1)
                sent["content-encoding"] = "gzip"
        response = self.send(method, path, content=body, params=params, headers=sent,
                             repeatable=repeatable)  # fmt: skip
        return orjson.loads(response.content) if response.content else None

    def send(
        self, method: str, path: str, *, repeatable: bool = False, **kw: Any
    ) -> httpx.Response:
        """One request, retried as the module says; an error answer raised as its class."""
        delay = 0.1
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.client.request(method, path, **kw)
            except httpx.ConnectError as exc:
                problem: Exception = exc  # never reached the server: always safe to repeat
            except httpx.TransportError as exc:
                if not repeatable:
                    raise self._unavailable(exc) from exc
                problem = exc
            else:
                if response.status_code not in _RETRY_STATUS or not repeatable:
                    raise_for_error(response, self.base_url)
                    return response
                problem = error_of(response, self.base_url)
            if attempt == self.attempts:
                if isinstance(problem, ShipyardError):
                    raise problem
                raise self._unavailable(problem) from problem
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def stream(self, method: str, path: str, **kw: Any) -> Iterator[httpx.Response]:
        """A streamed answer (downloads), its error raised as its class."""
        try:
            with self.client.stream(method, path, **kw) as response:
                if response.status_code >= 400:
                    response.read()
                    raise_for_error(response, self.base_url)
                yield response
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: Exception) -> StoreUnavailable:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        where = redact_uri(self.base_url)
        return StoreUnavailable(f"cannot reach the Shipyard server at {where}: {reason}")


def _auth_headers() -> dict[str, str]:
    """The API token of the settings (SHIPYARD_TOKEN), as a bearer token."""
    from shipyard.config import load_settings

    token = load_settings().token
    return {"Authorization": f"Bearer {token}"} if token else {}


def error_of(response: httpx.Response, base_url: str) -> ShipyardError:
    base_url = redact_uri(base_url)  # a password in SHIPYARD_URI stays out of messages
    url = response.request.url.path
    try:
        payload = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        return from_json(payload)
    if response.status_code >= 500:
        return StoreUnavailable(
            f"the Shipyard server at {base_url} answered {response.status_code} "
            f"{response.reason_phrase}"
        )
    cls = _BY_STATUS.get(response.status_code, ShipyardError)  # e.g. HEAD: no body
    return cls(f"the Shipyard server at {base_url} answered {response.status_code} for {url}")


def raise_for_error(response: httpx.Response, base_url: str) -> None:
    if response.status_code >= 400:
        raise error_of(response, base_url)
