"""How feature rows look in the online store: a string key per entity and a JSON payload.

DuckDB builds both in bulk at materialization time; the Python side encodes request keys
and decodes payloads the same way at lookup time, so the two can never disagree.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from shipyard.errors import InvalidFeature
from shipyard.features._sql import ident
from shipyard.features.definitions import Field
from shipyard.features.types import Dtype

KEY_SEPARATOR = "\x1f"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def key_sql(join_keys: Sequence[str], dtypes: dict[str, Dtype], table: str = "") -> str:
    prefix = f"{table}." if table else ""
    parts = [f"CAST(CAST({prefix}{ident(k)} AS {dtypes[k].duckdb}) AS VARCHAR)" for k in join_keys]
    if len(parts) == 1:
        return parts[0]
    return f"concat_ws(chr(31), {', '.join(parts)})"


def payload_sql(fields: Sequence[Field], prefix: str = "") -> str:
    """A JSON object of the features: timestamps as epoch microseconds, bytes as base64."""
    items = []
    for f in fields:
        col = f"{prefix}{ident(f.name)}"
        if f.type is Dtype.TIMESTAMP:
            col = f"epoch_us({col})"
        elif f.type is Dtype.BYTES:
            col = f"base64({col})"
        else:
            col = f"CAST({col} AS {f.type.duckdb})"
        items.append(f"{ident(f.name)} := {col}")
    return f"to_json(struct_pack({', '.join(items)}))"


def encode_key(view: str, join_keys: Sequence[str], dtypes: dict[str, Dtype], row: Any) -> str:
    """The online key of one entity row (a mapping of join key -> value)."""
    parts = []
    for k in join_keys:
        try:
            value = row[k]
        except KeyError:
            raise InvalidFeature(
                f"entity row {dict(row)!r} has no {k!r}, the join key of feature view {view!r}"
            ) from None
        parts.append(_key_part(view, k, dtypes[k], value))
    return parts[0] if len(parts) == 1 else KEY_SEPARATOR.join(parts)


def _key_part(view: str, key: str, dtype: Dtype, value: Any) -> str:
    if dtype is Dtype.STRING:
        if isinstance(value, str):
            return value
    else:
        if isinstance(value, bool):
            pass
        elif isinstance(value, int):
            return str(value)
        elif isinstance(value, float) and value.is_integer():
            return str(int(value))
        elif hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu":
            return str(int(value))  # numpy integer scalars
    raise InvalidFeature(
        f"entity key {key!r} of feature view {view!r} is {dtype.value}, got {value!r} "
        f"({type(value).__name__})"
    )


def decode_payload(payload: str) -> dict[str, Any]:
    return json.loads(payload)  # type: ignore[no-any-return]


def decode_value(dtype: Dtype, value: Any) -> Any:
    """Turn JSON forms back into Python values of the declared type."""
    if value is None:
        return None
    if dtype is Dtype.TIMESTAMP:
        return EPOCH + timedelta(microseconds=int(value))
    if dtype is Dtype.BYTES:
        return base64.b64decode(value)
    return value


def epoch_us(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise InvalidFeature(f"{moment!r} is a naive datetime; give a timezone-aware one (UTC)")
    delta = moment.astimezone(UTC) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
