"""An injectable UTC clock, so time-dependent logic (heartbeats, reaping) is testable."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

from shipyard.errors import InvalidArgument


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that only moves when told to; thread-safe."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now


SYSTEM_CLOCK = SystemClock()


def to_millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_millis(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, UTC)


def now_millis() -> int:
    return time.time_ns() // 1_000_000


_SPAN = re.compile(r"^(\d{1,9}(?:\.\d{1,6})?)([smhdw])$")
_SPAN_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DATE_LENGTH = len("2026-12-01")


def since_millis(text: str, now: datetime, what: str = "since") -> int:
    """Epoch ms of a moment given as a user types it: a duration before ``now`` (``30m``,
    ``12h``, ``7d``, ``2w``), a date (``2026-12-01``: midnight UTC) or an ISO-8601 time
    with its offset (``2026-12-01T08:00:00+01:00``, ``...Z``). A time without an offset is
    refused rather than guessed."""
    text = text.strip()
    span = _SPAN.match(text)
    if span is not None:
        try:
            return to_millis(now - timedelta(seconds=float(span[1]) * _SPAN_SECONDS[span[2]]))
        except OverflowError:
            raise InvalidArgument(f"{what} {text!r} reaches back before year 1") from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(
            f"{what} {text!r} is neither a duration (30m, 12h, 7d, 2w), a date (2026-12-01) "
            "nor an ISO-8601 time with its offset (2026-12-01T08:00:00+00:00)"
        ) from None
    if len(text) == _DATE_LENGTH:
        moment = moment.replace(tzinfo=UTC)  # a date: the day as it starts in UTC
    if moment.tzinfo is None:
        raise InvalidArgument(
            f"{what} {text!r} has no UTC offset; add one (+00:00 or Z) or give a date"
        )
    return to_millis(moment)
