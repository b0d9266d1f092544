"""Who is acting: the identity every audit entry records.

The server sets it per request (the authenticated user, the client's address and the
request id) with ``acting_as``; everywhere else it is SHIPYARD_USER or the operating-system user of
this process, with source ``local``. A ContextVar, so concurrent requests in one worker never
see each other's actor.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class Actor:
    user: str
    source: str = "local"
    request_id: str | None = None


_current: ContextVar[Actor | None] = ContextVar("shipyard_actor", default=None)


@cache
def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


@cache
def _local(name: str) -> Actor:
    return Actor(user=f"local:{name}", source="local")


def current_actor() -> Actor:
    """The server's caller, or ``local:`` + SHIPYARD_USER (else the OS user): a name this
    process claims, which the ``local:`` prefix keeps apart from users a server checked."""
    return _current.get() or _local(os.environ.get("SHIPYARD_USER") or _os_user())


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)
