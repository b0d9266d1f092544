"""Authentication: who is calling, from the request's API token, before any route runs.

A pure ASGI middleware: it reads ``Authorization: Bearer <token>`` (or HTTP Basic with the
token as the password, which is what MLflow's client sends with MLFLOW_TRACKING_USERNAME
and MLFLOW_TRACKING_PASSWORD), checks it against the identity store, and puts the caller
(a ``Principal``) in the request scope and the acting identity in ``current_actor()`` for
the audit log. It refuses a bad token with 401 at once; whether the caller may make the
call is the route's rule (``authz.py``). Failed sign-ins are rate-limited per source
address: after ``FailedSignIns.limit`` failures within a window, that address gets 429
until the window passes, good token or not.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from shipyard.errors import ShipyardError, TooManyRequests, Unauthenticated
from shipyard.governance import authenticate, hash_secret
from shipyard.store.actor import Actor, acting_as
from shipyard.store.base.identity_store import TokenRecord, UserRecord
from shipyard.store.identity_changes import identity_changes

_REQUEST_ID = re.compile(r"[A-Za-z0-9._\-]{1,64}")


@dataclass(frozen=True)
class AuthConfig:
    """``enabled``: callers must present a token (anonymous ones only read, and only with
    ``anonymous_read``). Off: every caller may do everything, as on the embedded store."""

    enabled: bool
    anonymous_read: bool = False


@dataclass(frozen=True)
class Principal:
    user: UserRecord | None  # None: no token was sent
    roles: dict[str, str] = field(default_factory=dict)  # project -> role


class FailedSignIns:
    """Failed token checks per source address in a sliding window."""

    def __init__(self, limit: int = 20, window_s: float = 60.0) -> None:
        self.limit, self.window_s = limit, window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, source: str, now: float) -> deque[float]:
        times = self._failures.setdefault(source, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def check(self, source: str) -> None:
        with self._lock:
            times = self._recent(source, time.monotonic())
            if len(times) >= self.limit:
                wait = int(times[0] + self.window_s - time.monotonic()) + 1
                raise TooManyRequests(
                    f"too many failed sign-ins from {source}; try again in {wait} s"
                )

    def failed(self, source: str) -> None:
        with self._lock:
            self._recent(source, time.monotonic()).append(time.monotonic())
            if len(self._failures) > 100_000:  # a flood of sources: forget the quiet ones
                for key in [k for k, v in self._failures.items() if not v][:50_000]:
                    del self._failures[key]


SESSION_COOKIE = "shipyard_session"


def session_of(headers: dict[bytes, bytes]) -> str | None:
    """The API token of a web UI session (the ``shipyard_session`` cookie), if any."""
    raw = headers.get(b"cookie")
    if raw is None:
        return None
    found = cookie_parser(raw.decode("latin-1")).get(SESSION_COOKIE)
    return found or None


def token_of(headers: dict[bytes, bytes]) -> str | None:
    """The API token an ``Authorization`` header carries (None: no header)."""
    raw = headers.get(b"authorization")
    if raw is None:
        return None
    scheme, _, value = raw.decode("latin-1").strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            _, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except ValueError:
            return ""
        return password
    return ""


class SignIns:
    """Recent token checks, kept ``ttl_s`` seconds so that a busy client costs the store
    one lookup every few seconds instead of two per request. A change to users, tokens or
    roles made through this process forgets them at once (``identity_changes``); one made
    through another worker or process takes effect within ``ttl_s``."""

    def __init__(self, identity: Any, ttl_s: float = 2.0) -> None:
        self.identity, self.ttl_s = identity, ttl_s
        self._known: dict[str, tuple[float, int, UserRecord, TokenRecord, dict[str, str]]] = {}
        self._touched: dict[int, float] = {}  # token id -> when last_used_ms was written

    def remembered(self, token: str, now_ms: int) -> Principal | None:
        """The principal of a token checked less than ``ttl_s`` ago (None: look it up)."""
        found = self._known.get(hash_secret(token))
        if found is None or found[0] < time.monotonic() or found[1] != identity_changes():
            return None
        if not found[3].usable(now_ms):
            return None
        return Principal(found[2], found[4])

    def principal(self, token: str, now_ms: int) -> Principal:
        key = hash_secret(token)
        now, generation = time.monotonic(), identity_changes()
        found = self._known.get(key)
        if found is None or found[0] < now or found[1] != generation:
            user, record = authenticate(self.identity, token, now_ms)
            roles = {r.project: r.role for r in self.identity.list_roles(user.name)}
            if self._touched.get(record.id, 0.0) < now - 60:  # last use, to the minute
                self._touched[record.id] = now
                self.identity.touch_tokens([record.id], now_ms)
            if len(self._known) > 10_000:
                self._known.clear()
            found = self._known[key] = (now + self.ttl_s, generation, user, record, roles)
        _, _, user, record, roles = found
        if not record.usable(now_ms):  # it expired since it was looked up
            self._known.pop(key, None)
            raise Unauthenticated("the API token is unknown, expired or revoked")
        return Principal(user, roles)


class Authenticate:
    def __init__(self, app: ASGIApp, config: AuthConfig, identity: Any, clock_ms: Any) -> None:
        self.app, self.config, self.clock_ms = app, config, clock_ms
        self.sign_ins = SignIns(identity)
        self.failures = FailedSignIns()
        self.ended_sessions: dict[str, float] = {}  # cookie hash -> until when it is known

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        source = (scope.get("client") or ("unknown",))[0]
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        try:
            principal = await self._principal(headers, source, state)
        except ShipyardError as exc:
            await _refuse(send, exc, request_id, mlflow=_is_mlflow(scope["path"]))
            return
        state["principal"] = principal
        user = principal.user.name if principal.user else "anonymous"
        with acting_as(Actor(user=user, source=source, request_id=request_id)):
            await self.app(scope, receive, _with_request_id(send, request_id))

    async def _principal(
        self, headers: dict[bytes, bytes], source: str, state: dict[str, Any]
    ) -> Principal:
        token = token_of(headers)
        if token is None and self.config.enabled:
            token = session_of(headers)
            if token is not None:  # a browser signed in to the web UI
                state["via_cookie"] = True
                return await self._session(token, source)
        if not self.config.enabled or token is None:
            return Principal(None)
        return await self._checked(token, source)

    async def _session(self, token: str, source: str) -> Principal:
        """A session cookie's user; nobody once it ended (the UI then asks to sign in
        again). An ended session counts as one failed sign-in, not one per request: a
        page loads several files, each sending the cookie."""
        key, now = hash_secret(token), time.monotonic()
        if self.ended_sessions.get(key, 0.0) > now:
            return Principal(None)
        try:
            return await self._checked(token, source)
        except Unauthenticated:
            if len(self.ended_sessions) > 10_000:
                self.ended_sessions.clear()
            self.ended_sessions[key] = now + 600
            return Principal(None)

    async def _checked(self, token: str, source: str) -> Principal:
        self.failures.check(source)
        now_ms = self.clock_ms()
        remembered = self.sign_ins.remembered(token, now_ms)  # no thread for a known token
        if remembered is not None:
            return remembered
        try:
            return await run_in_threadpool(self.sign_ins.principal, token, now_ms)
        except Unauthenticated:
            self.failures.failed(source)
            raise


def _with_request_id(send: Send, request_id: str) -> Send:
    async def sending(message: Any) -> None:
        if message["type"] == "http.response.start":
            message.setdefault("headers", [])
            message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
        await send(message)

    return sending


def _is_mlflow(path: str) -> bool:
    return path.startswith(("/api/2.0/mlflow", "/api/3.0/mlflow", "/ajax-api/"))


async def _refuse(send: Send, exc: ShipyardError, request_id: str, mlflow: bool) -> None:
    """The error in Shipyard's JSON shape, or MLflow's on MLflow's routes."""
    error = {"error_code": exc.code, "message": exc.message} if mlflow else exc.to_json()
    if mlflow and exc.code == "TOO_MANY_REQUESTS":
        error["error_code"] = "REQUEST_LIMIT_EXCEEDED"
    body = orjson.dumps(error)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
    ]
    if exc.http_status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="shipyard"'))
    await send({"type": "http.response.start", "status": exc.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
