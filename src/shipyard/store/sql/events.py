"""Platform events written inside the transaction of the change they report.

A store method that makes a change other parts of the platform react to (a model version
registered, a dataset saved, an alert fired or resolved) calls :func:`record_event` on its
own connection, so the change and its event commit together or not at all: a scheduler
never misses a registration, and never sees an event for a rolled-back one.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, insert

from shipyard.errors import InvalidArgument
from shipyard.store.sql.scheduler_tables import events


def dumps(value: Any, what: str) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
    except TypeError as exc:
        raise InvalidArgument(f"{what} cannot be stored as JSON: {exc}") from exc


def record_event(
    conn: Connection, name: str, payload: dict[str, Any], now_ms: int, source: str = ""
) -> int:
    """Insert event ``name`` on ``conn`` (the caller's transaction); its id."""
    values = {
        "name": name,
        "payload": dumps(payload, f"the payload of event {name!r}"),
        "source": source,
        "created_ms": now_ms,
    }
    key = conn.execute(insert(events).values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])
