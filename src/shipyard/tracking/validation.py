"""Argument checks for the tracking API: cheap enough for log_metric's hot path."""

from __future__ import annotations

import math
import operator
import re
from datetime import datetime
from typing import Any

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
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        raise InvalidArgument(
            f"{what} {key!r} is {len(text):,} characters, over the limit of {limit:,}; "
            "log large values as an artifact with log_dict() or log_text()"
        )
    return text


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
        except (TypeError, ValueError):
            raise InvalidArgument(
                f"metric {key!r} must be a number, got {type(value).__name__} {value!r}"
            ) from None
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


def metric_step(key: str, step: Any) -> int:
    try:
        return operator.index(step)
    except TypeError:
        raise InvalidArgument(f"step of metric {key!r} must be an integer, got {step!r}") from None


def timestamp_ms(value: Any) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidArgument(
                f"timestamp {value} has no timezone; pass an aware datetime (UTC)"
            )
        return int(value.timestamp() * 1000)
    try:
        return operator.index(value)
    except TypeError:
        raise InvalidArgument(
            f"timestamp must be epoch milliseconds or an aware datetime, got {value!r}"
        ) from None


def artifact_path(path: Any) -> str:
    """A relative, normalised artifact path: no absolute paths, no '..', no backslashes."""
    if not isinstance(path, str) or not path.strip():
        raise InvalidArgument(f"artifact path must be a non-empty string, got {path!r}")
    parts = path.replace("\\", "/").split("/")
    if path.startswith("/") or any(p in ("..",) for p in parts) or ":" in parts[0]:
        raise InvalidArgument(
            f"artifact path {path!r} must be relative and stay inside the run (no '..')"
        )
    clean = "/".join(p for p in parts if p not in ("", "."))
    if not clean or len(clean) > 1024:
        raise InvalidArgument(f"artifact path {path!r} is empty or longer than 1024 characters")
    return clean
