"""Argument checks for the tracking API: cheap enough for log_metric's hot path."""

from __future__ import annotations

import math
import operator
import re
from datetime import datetime
from typing import Any

from shipyard import _names
from shipyard._names import artifact_path as artifact_path  # re-exported: one rule
from shipyard._names import check_storable_text, int64
from shipyard.errors import InvalidArgument

MAX_NAME = 256
MAX_KEY = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
_KEY = re.compile(r"^[\w\-. /:]+$")
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_valid_keys: set[str] = set()


def check_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgument(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > MAX_NAME:
        raise InvalidArgument(f"{what} is {len(value)} characters; the limit is {MAX_NAME}")
    if any(ord(c) < 32 for c in value):
        raise InvalidArgument(f"{what} {value!r} contains control characters")
    check_storable_text(what, value)
    return value


def check_key(key: Any, what: str = "key") -> str:
    if key in _valid_keys:
        return key  # type: ignore[no-any-return]
    if not isinstance(key, str) or not key:
        raise InvalidArgument(f"{what} must be a non-empty string, got {key!r}")
    if len(key) > MAX_KEY:
        raise InvalidArgument(
            f"{what} {key[:40]!r}... is {len(key)} characters; the limit is {MAX_KEY}"
        )
    if not _KEY.match(key) or key.startswith("/") or ".." in key.split("/"):
        raise InvalidArgument(
            f"{what} {key!r} may only contain letters, digits, and _ - . / : or spaces"
        )
    _valid_keys.add(key)
    return key


def check_run_id(run_id: Any) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise InvalidArgument(f"{run_id!r} is not a run id (32 lowercase hex characters)")
    return run_id


def _text_value(what: str, key: str, value: Any, limit: int) -> str:
    if isinstance(value, str):
        text = value
    else:
        try:
            text = str(value)
        except Exception as exc:
            raise InvalidArgument(
                f"{what} {key!r}: str() of the {type(value).__name__} value failed: {exc}"
            ) from None
    check_storable_text(f"{what} {key!r}", text)
    if len(text) > limit:
        raise InvalidArgument(
            f"{what} {key!r} is {len(text):,} characters, over the limit of {limit:,}; "
            "log large values as an artifact with log_dict() or log_text()"
        )
    return text


def check_text(what: str, value: Any, limit: int = MAX_TAG_VALUE) -> str:
    return _names.check_text(what, value, limit)


def param_value(key: str, value: Any) -> str:
    return _text_value("param", key, value, MAX_PARAM_VALUE)


def tag_value(key: str, value: Any) -> str:
    return _text_value("tag", key, value, MAX_TAG_VALUE)


def metric_value(key: str, value: Any, policy: str) -> float | None:
    """The value as a float, or None when the non-finite policy says to skip it."""
    if type(value) is float:
        number = value
    else:
        if isinstance(value, str | bytes) or value is None:
            raise InvalidArgument(f"metric {key!r} must be a number, got {value!r}")
        try:
            number = float(value)
        except OverflowError:
            raise _too_large(key, value) from None
        except (TypeError, ValueError):
            raise InvalidArgument(
                f"metric {key!r} must be a number, got {type(value).__name__} {_short(value)}"
            ) from None
        if math.isinf(number) and _finite(value):
            raise _too_large(key, value)  # e.g. Decimal("1e400") converts to inf
    if math.isfinite(number):
        return number
    if policy == "allow":
        return number
    if policy == "skip":
        return None
    raise InvalidArgument(
        f"metric {key!r} is {number}; set SHIPYARD_NONFINITE_METRICS=allow (or skip) "
        "to record (or drop) non-finite values"
    )


def _too_large(key: str, value: Any) -> InvalidArgument:
    return InvalidArgument(
        f"metric {key!r} is {_short(value)}, too large for a 64-bit float "
        "(the largest is about 1.8e308)"
    )


def _finite(value: Any) -> bool:
    try:
        return bool(value == value and abs(value) != math.inf)
    except Exception:
        return False


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def metric_step(key: str, step: Any) -> int:
    return int64(step, f"step of metric {key!r}")


def timestamp_ms(value: Any) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidArgument(
                f"timestamp {value} has no timezone; pass an aware datetime (UTC)"
            )
        return int(value.timestamp() * 1000)
    try:
        operator.index(value)
    except TypeError:
        raise InvalidArgument(
            f"timestamp must be epoch milliseconds or an aware datetime, got {value!r}"
        ) from None
    return int64(value, "timestamp (epoch milliseconds)")
