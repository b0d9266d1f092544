"""Request bodies of every protocol, turned into columns (name -> list of values).

Native: {"records": [{...}]}, {"columns": {...}} or {"record": {...}}.
MLflow /invocations: {"dataframe_split": {"columns", "data"}}, {"dataframe_records": [...]},
{"inputs": ...} or {"instances": ...} (columns, records or rows in signature order).
"""

from __future__ import annotations

from typing import Any

import orjson

from shipyard.errors import InvalidArgument, InvalidInput
from shipyard.serving.schema import Columns

MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "inputs", "instances")


def parse_json(body: bytes) -> Any:
    if not body:
        raise InvalidArgument("the request body is empty; send a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"the request body is not valid JSON: {exc}") from exc


def from_records(records: Any) -> tuple[Columns, int]:
    if not isinstance(records, list) or not records:
        raise InvalidInput("records must be a non-empty list of objects")
    first = records[0]
    if _types(records) == {dict} and all(r.keys() == first.keys() for r in records):
        return {name: [r[name] for r in records] for name in first}, len(records)  # one shape
    names: dict[str, None] = {}
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidInput(f"record {i} is a {_kind(record)}, not an object")
        names.update(dict.fromkeys(record))
    columns: Columns = {}
    for name in names:
        values = []
        for i, record in enumerate(records):
            if name not in record:
                raise InvalidInput(f"record {i} has no {name!r} (record 0 has it)", name)
            values.append(record[name])
        columns[name] = values
    return columns, len(records)


def from_columns(columns: Any) -> tuple[Columns, int]:
    if not isinstance(columns, dict) or not columns:
        raise InvalidInput("columns must be a non-empty object of name: [values]")
    lengths = set()
    for name, values in columns.items():
        if not isinstance(values, list):
            raise InvalidInput(f"column {name!r} must be a list of values", name)
        lengths.add(len(values))
    if len(lengths) != 1 or 0 in lengths:
        raise InvalidInput(
            f"columns must all have the same, non-zero length; got lengths {sorted(lengths)}"
        )
    return dict(columns), lengths.pop()


def from_rows(rows: Any, names: list[str], what: str) -> tuple[Columns, int]:
    """Rows of values in the order of ``names`` (a split frame or the signature)."""
    if not isinstance(rows, list) or not rows:
        raise InvalidInput(f"{what} must be a non-empty list of rows")
    if not names:
        raise InvalidInput(f"{what} needs column names, and the model has no signature")
    width = len(names)
    if _types(rows) != {list} or set(map(len, rows)) != {width}:  # checked in C first
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != width:
                raise InvalidInput(
                    f"{what} row {i} must be a list of {width} values ({', '.join(names)})"
                )
    if len(rows) == 1:
        return {name: [value] for name, value in zip(names, rows[0], strict=True)}, 1
    return dict(zip(names, map(list, zip(*rows, strict=True)), strict=True)), len(rows)


def native(payload: Any) -> tuple[Columns, int]:
    if not isinstance(payload, dict):
        raise InvalidInput('send {"records": [...]}, {"columns": {...}} or {"record": {...}}')
    if "records" in payload:
        return from_records(payload["records"])
    if "columns" in payload:
        return from_columns(payload["columns"])
    if "record" in payload:
        return from_records([payload["record"]])
    raise InvalidInput(
        'a prediction request needs "records", "columns" or "record"; got keys: '
        + ", ".join(sorted(map(str, payload))[:10])
    )


def mlflow(payload: Any, signature_names: list[str]) -> tuple[Columns, int]:
    if not isinstance(payload, dict):
        raise InvalidInput(f"send a JSON object with one of {', '.join(MLFLOW_KEYS)}")
    present = [k for k in MLFLOW_KEYS if k in payload]
    if len(present) != 1:
        raise InvalidInput(
            f"an /invocations request needs exactly one of {', '.join(MLFLOW_KEYS)}; "
            f"got {', '.join(sorted(map(str, payload))[:10]) or 'none'}"
        )
    key = present[0]
    value = payload[key]
    if key == "dataframe_split":
        if not isinstance(value, dict) or "data" not in value:
            raise InvalidInput('dataframe_split must be {"columns": [...], "data": [[...]]}')
        names = value.get("columns", signature_names)
        if names != signature_names and (
            not isinstance(names, list) or not all(isinstance(n, str) for n in names)
        ):
            raise InvalidInput("dataframe_split columns must be a list of names")
        return from_rows(value["data"], names, "dataframe_split data")
    if key == "dataframe_records":
        return from_records(value)
    if isinstance(value, dict):  # tensor-style inputs: name -> values
        return from_columns({k: v if isinstance(v, list) else [v] for k, v in value.items()})
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return from_records(value)
    return from_rows(value, signature_names, key)


def _types(values: Any) -> set[type]:
    return set(map(type, values))


def _kind(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number"}.get(
        type(value), type(value).__name__
    )
