"""MLflow's search syntax onto Shipyard's: filters, order_by, view types and page tokens.

Shipyard's run filter language (``shipyard.store.filters``) is MLflow's with a few
attribute names of its own, so a run filter is passed on after renaming those outside
quoted strings. Page tokens are opaque to MLflow clients: base64 of ``{"offset": N}``.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shipyard.errors import FilterSyntaxError
from shipyard.server.routes.mlflow.context import HIDDEN_KINDS
from shipyard.server.routes.mlflow.errors import INVALID, MlflowError
from shipyard.store.filters import BoolOp, Comparison, Node, parse_filter

_STRING = re.compile(r"('(?:[^'\\]|\\.|'')*'|\"[^\"]*\"|`[^`]*`)")
_RENAMES = {"user_id": "user", "created": "start_time", "run_name": "name"}
_ATTRIBUTE = re.compile(  # bare, or after attributes./attribute./attr., never params.X
    r"(?i)(?:(?<=\battributes\.)|(?<=\battribute\.)|(?<=\battr\.)|(?<![\w.]))"
    r"(user_id|created|run_name|lifecycle_stage)\b"
)
_HIDE = " and ".join(f"kind != '{kind}'" for kind in HIDDEN_KINDS)
MAX_RESULTS = 50_000


def rename(text: str) -> str:
    parts = _STRING.split(text)
    for i in range(0, len(parts), 2):  # the even parts are outside quotes
        parts[i] = _ATTRIBUTE.sub(_rename_one, parts[i])
    return "".join(parts)


def _rename_one(match: re.Match[str]) -> str:
    name = match.group(1).lower()
    if name == "lifecycle_stage":
        raise MlflowError(INVALID, "filter on lifecycle_stage with run_view_type instead")
    return _RENAMES[name]


def run_filter(text: str | None) -> str:
    """MLflow's filter as Shipyard's, hiding the runs that hold MLflow-only records."""
    text = (text or "").strip()
    return f"{_HIDE} and ({rename(text)})" if text else _HIDE


def run_order(clauses: Sequence[str] | None) -> list[str]:
    return [rename(c) for c in clauses or ()]


def view_type(value: Any) -> str:
    """ACTIVE_ONLY, DELETED_ONLY or ALL (as sent by name or number)."""
    names = {"1": "ACTIVE_ONLY", "2": "DELETED_ONLY", "3": "ALL"}
    text = str(value or "ACTIVE_ONLY").upper()
    text = names.get(text, text)
    if text not in ("ACTIVE_ONLY", "DELETED_ONLY", "ALL"):
        raise MlflowError(INVALID, f"Invalid view type {value!r}")
    return text


def page_size(body: Mapping[str, Any], default: int) -> int:
    raw = body.get("max_results", default)
    try:
        size = int(raw)
    except (TypeError, ValueError):
        raise MlflowError(INVALID, f"Invalid value {raw!r} for parameter 'max_results'") from None
    if not 0 < size <= MAX_RESULTS:
        raise MlflowError(
            INVALID,
            f"Invalid value {size} for parameter 'max_results' supplied. It must be at most "
            f"{MAX_RESULTS}, and greater than 0.",
        )
    return size


def offset_of(token: Any) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.b64decode(str(token), validate=True))["offset"]
    except (ValueError, KeyError, TypeError):
        raise MlflowError(INVALID, "Invalid page token, could not base64-decode") from None
    if not isinstance(offset, int) or offset < 0:
        raise MlflowError(INVALID, f"Invalid page token offset {offset!r}")
    return offset


def token_for(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def page(items: list[Any], size: int, token: Any) -> tuple[list[Any], str | None]:
    start = offset_of(token)
    end = start + size
    return items[start:end], token_for(end) if end < len(items) else None


def sort_json(
    items: list[dict[str, Any]], clauses: Sequence[str], keys: Mapping[str, Callable[[Any], Any]]
) -> list[dict[str, Any]]:
    """Items sorted by clauses such as ``"name DESC"`` over ``keys`` (attribute -> value),
    then by the first key ascending (MLflow's tie-breaker is the id)."""
    ordered = sorted(items, key=keys[next(iter(keys))])
    for clause in reversed(clauses):
        words = str(clause).split()
        name = words[0].removeprefix("attributes.").removeprefix("attribute.") if words else ""
        direction = words[1].upper() if len(words) > 1 else "ASC"
        if name not in keys or len(words) > 2 or direction not in ("ASC", "DESC"):
            raise MlflowError(INVALID, f"Invalid order_by clause '{clause}'")
        ordered.sort(key=keys[name], reverse=direction == "DESC")
    return ordered


def filter_json(
    items: list[dict[str, Any]], text: str, fields: Mapping[str, str], registry: bool = False
) -> list[dict[str, Any]]:
    """Items (MLflow JSON) matching a filter on ``tags.X`` and the attributes in
    ``fields`` (filter attribute -> JSON key); for experiments and registered models.
    In the registry, ``tags.X != 'v'`` also matches items without the tag, as in MLflow
    (its client adds ``tags.`mlflow.prompt.is_prompt` != 'true'`` to every search)."""
    try:
        node = parse_filter(rename(text))
    except FilterSyntaxError as exc:
        raise MlflowError(INVALID, exc.message) from None
    if node is None:
        return items
    return [item for item in items if _matches(node, item, fields, registry)]


def _matches(node: Node, item: dict[str, Any], fields: Mapping[str, str], registry: bool) -> bool:
    if isinstance(node, BoolOp):
        results = (_matches(each, item, fields, registry) for each in node.items)
        return all(results) if node.op == "and" else any(results)
    return _compare(node, item, fields, registry)


def _compare(
    node: Comparison, item: dict[str, Any], fields: Mapping[str, str], registry: bool
) -> bool:
    if node.kind == "tag":
        actual: Any = {t["key"]: t["value"] for t in item.get("tags", ())}.get(node.key)
    elif node.kind == "attribute" and node.key in fields:
        actual = item.get(fields[node.key])
    else:
        raise MlflowError(INVALID, f"Invalid attribute key '{node.key}' in the filter")
    if node.op == "is_null":
        return actual is None
    if node.op == "not_null":
        return actual is not None
    if actual is None:
        return registry and node.kind == "tag" and node.op == "!="
    value = node.value
    if node.op in ("in", "not_in"):
        choices = value if isinstance(value, tuple) else (value,)
        return (actual in choices) == (node.op == "in")
    if node.op in ("like", "ilike"):
        pattern = str(value).replace("%", "*").replace("_", "?")
        if node.op == "ilike":
            return fnmatch.fnmatchcase(str(actual).lower(), pattern.lower())
        return fnmatch.fnmatchcase(str(actual), pattern)
    ops = {
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }
    try:
        return bool(ops[node.op](actual, value))
    except TypeError:
        return False
