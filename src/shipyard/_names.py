"""The names and numbers users give things, one rule each, stated in the error.

Names end up in URLs (``models:/churn@production``, the server's routes), on command lines
(where a leading ``-`` reads as an option) and in Docker image names (``models build``), and
numbers end up in 64-bit columns on both SQLite and PostgreSQL; so anything that would break
there is refused at the call, with the rule, instead of failing later somewhere else.
"""

from __future__ import annotations

import operator
import re
from typing import Any

from shipyard.errors import InvalidArgument

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

PROJECT_RULE = "1 to 256 letters, digits, '_', '.' or '-', starting with a letter, digit or '_'"
_PROJECT = re.compile(r"\w[\w.\-]*")
# Docker's repository-name component, case-insensitive (``models build`` lowercases it).
MODEL_RULE = (
    "1 to 128 letters and digits, optionally joined by single '.' or '_', by '__' or by "
    "dashes; it starts and ends with a letter or digit"
)
_MODEL = re.compile(r"[A-Za-z0-9]+(?:(?:[._]|__|-+)[A-Za-z0-9]+)*")
ALIAS_RULE = (
    "1 to 64 letters, digits, '_' or '-', starting with a letter or digit and not only "
    "digits (a number names a version)"
)
_ALIAS = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]*")


def _checked(value: Any, what: str, pattern: re.Pattern[str], limit: int, rule: str) -> str:
    if isinstance(value, str) and len(value) > limit:
        raise InvalidArgument(
            f"invalid {what} {value[:30]!r}...: it is {len(value)} characters; the limit is {limit}"
        )
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidArgument(f"invalid {what} {value!r}: use {rule}")
    return value


def project_name(value: Any) -> str:
    return _checked(value, "project name", _PROJECT, 256, PROJECT_RULE)


USER_RULE = "1 to 256 letters, digits, '_', '.', '-' or '@', starting with a letter or digit"
_USER = re.compile(r"[A-Za-z0-9][\w.\-@]*")


def user_name(value: Any) -> str:
    return _checked(value, "user name", _USER, 256, USER_RULE)


def model_name(value: Any) -> str:
    return _checked(value, "model name", _MODEL, 128, MODEL_RULE)


def alias_name(value: Any) -> str:
    if isinstance(value, str) and value.isdigit():
        raise InvalidArgument(f"invalid alias {value!r}: use {ALIAS_RULE}")
    return _checked(value, "alias", _ALIAS, 64, ALIAS_RULE)


def int64(value: Any, what: str) -> int:
    """An integer both backends can store (64-bit)."""
    try:
        number = operator.index(value)
    except TypeError:
        raise InvalidArgument(f"{what} must be an integer, got {value!r}") from None
    if not INT64_MIN <= number <= INT64_MAX:
        shown = str(number) if len(str(number)) <= 30 else f"a {len(str(number))}-digit number"
        raise InvalidArgument(
            f"{what} {shown} is out of range: it must be from -2**63 to 2**63-1 ({INT64_MAX})"
        )
    return number


def version_number(value: Any, what: str = "model version") -> int:
    number = int64(value, what)
    if number < 1:
        raise InvalidArgument(f"{what} is {number}, but versions are numbered from 1")
    return number


_MODEL_REF = re.compile(
    r"^(?P<uri>models:/)?(?P<name>[A-Za-z0-9_.-]+)"
    r"(?:/(?P<version>[0-9]+)|@(?P<alias>[A-Za-z0-9_-]+))?$"
)


def parse_model_ref(text: str) -> tuple[str, int | None, str | None, bool] | None:
    """(name, version, alias, written as a models:/ URI) of ``churn``, ``churn/3``,
    ``churn@production`` or ``models:/...``; None when it is none of them. Here, below
    every capability, so the registry, serving and monitoring read references alike."""
    match = _MODEL_REF.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        return None
    version = match["version"]
    return match["name"], int(version) if version else None, match["alias"], bool(match["uri"])


def check_storable_text(what: str, text: str) -> None:
    """Text both backends store as given: PostgreSQL refuses NUL, and neither takes lone
    surrogates (which cannot be encoded as UTF-8)."""
    if "\x00" in text:
        raise InvalidArgument(f"{what} contains a NUL character (\\x00), which cannot be stored")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidArgument(
                f"{what} is not valid Unicode text: {exc.reason} at position {exc.start}"
            ) from None


def check_text(what: str, value: Any, limit: int) -> str:
    """A string both backends store as given, at most ``limit`` characters."""
    if not isinstance(value, str):
        raise InvalidArgument(f"{what} must be a string, got {type(value).__name__}")
    check_storable_text(what, value)
    if len(value) > limit:
        raise InvalidArgument(f"{what} is {len(value):,} characters; the limit is {limit:,}")
    return value


def artifact_path(path: Any) -> str:
    """A relative, normalised artifact path: no absolute paths, no '..', no backslashes."""
    if not isinstance(path, str) or not path.strip():
        raise InvalidArgument(f"artifact path must be a non-empty string, got {path!r}")
    if any(ord(c) < 32 or c == "\x7f" for c in path):
        raise InvalidArgument(
            f"artifact path {path!r} contains control characters (NUL, newline, tab...); "
            "rename the file"
        )
    check_storable_text(f"artifact path {path!r}", path)
    parts = path.replace("\\", "/").split("/")
    if path.startswith("/") or any(p in ("..",) for p in parts) or ":" in parts[0]:
        raise InvalidArgument(
            f"artifact path {path!r} must be relative and stay inside the run (no '..')"
        )
    clean = "/".join(p for p in parts if p not in ("", "."))
    if not clean or len(clean) > 1024:
        raise InvalidArgument(f"artifact path {path!r} is empty or longer than 1024 characters")
    return clean
