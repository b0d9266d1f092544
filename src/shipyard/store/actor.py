"""Who is acting: the identity every audit entry records.

The server sets it per request (the authenticated user, the client's address and the
request id) with ``acting_as``; everywhere else it is the operating-system user of this
process, with source ``local``. A ContextVar, so concurrent requests in one worker never
see each other's actor.
"""

from __future__ import annotations

import getpass
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
def _local_actor() -> Actor:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        name = "unknown"
    return Actor(user=f"local:{name}", source="local")


def current_actor() -> Actor:
    return _current.get() or _local_actor()


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)
