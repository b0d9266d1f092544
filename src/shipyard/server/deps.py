"""What a route needs from the app: the client the server was created with, and the
memory of idempotency keys already answered."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request

from shipyard.errors import InvalidArgument
from shipyard.tracking import Client

T = TypeVar("T")


def client_of(request: Request) -> Client:
    """The server's client (its settings, clock, metadata store and blob store)."""
    client: Client = request.app.state.client
    return client


class IdempotencyKeys:
    """The answers to the last ``capacity`` requests sent with an ``Idempotency-Key``.

    A key seen before gets the first answer again without the work being done twice; a
    request whose twin is still being applied waits for it. Kept in this process's memory:
    it covers a client's retries after a lost answer, which arrive within seconds.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._done: OrderedDict[str, Any] = OrderedDict()
        self._running: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def run(self, key: str, apply: Callable[[], T]) -> tuple[T, bool]:
        """``apply()``'s answer and False, or the earlier answer for ``key`` and True."""
        while True:
            with self._lock:
                if key in self._done:
                    return self._done[key], True
                running = self._running.get(key)
                if running is None:
                    mine = self._running[key] = threading.Lock()
                    mine.acquire()
                    break
            with running:  # the twin finishes (or fails) first
                pass
        try:
            result = apply()
            with self._lock:
                self._done[key] = result
                while len(self._done) > self.capacity:
                    self._done.popitem(last=False)
            return result, False
        finally:
            with self._lock:
                del self._running[key]
            mine.release()


def idempotent(request: Request, key: str | None, apply: Callable[[], T]) -> tuple[T, bool]:
    if key is None:
        return apply(), False
    if not key.strip() or len(key) > 200:
        raise InvalidArgument("Idempotency-Key must be 1 to 200 characters")
    keys: IdempotencyKeys = request.app.state.idempotency_keys
    return keys.run(f"{request.url.path} {key}", apply)
