"""The wire form of store arguments and results: plain JSON, both ways.

JSON has no NaN, bytes, tuples, sets, enums, records or non-string keys; the store's
calls use all of them. ``encode`` turns a value into JSON-able data and ``decode`` turns it
back, exactly:

- a float that is not finite becomes ``{"__float__": "NaN" | "Infinity" | "-Infinity"}``
  (typed fields, where a string cannot be meant, use the bare strings: ``float_out``,
  ``float_in``);
- a store record (a dataclass of ``shipyard.store.base``) becomes ``{"__record__": NAME,
  "fields": {...}}``; only those records are rebuilt, never a class a peer names;
- an enum of the same modules ``{"__enum__": NAME, "value": V}``; bytes ``{"__bytes__":
  BASE64}``; a tuple ``{"__tuple__": [...]}``, a set ``{"__set__": [...]}``; a dict with a
  key that is not a string ``{"__items__": [[K, V], ...]}``; a datetime ``{"__datetime__":
  ISO}``; an ``orjson.Fragment`` ``{"__json__": TEXT}``;
- numpy and pandas scalars become the Python value they hold, numpy arrays lists.

A dict whose keys are all strings and none of them starts with ``__`` travels as itself.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import importlib
import math
from functools import cache
from typing import Any, Literal

import orjson

from shipyard.errors import InvalidArgument
from shipyard.store.base.tracking_store import RunRecord, RunStatus

_BASE_MODULES = (
    "shipyard.store.base.tracking_store",
    "shipyard.store.base.flow_store",
    "shipyard.store.base.feature_meta",
    "shipyard.store.base.model_registry",
    "shipyard.store.base.prediction_log",
    "shipyard.store.base.monitor_store",
    "shipyard.store.base.event_store",
    "shipyard.store.base.identity_store",
    "shipyard.store.base.audit_log",
)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
NonFinite = Literal["NaN", "Infinity", "-Infinity"]
_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


@cache
def _types() -> tuple[dict[str, type], dict[str, type[enum.Enum]]]:
    records: dict[str, type] = {}
    enums: dict[str, type[enum.Enum]] = {}
    for name in _BASE_MODULES:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if getattr(value, "__module__", None) != name:
                continue
            if isinstance(value, type) and dataclasses.is_dataclass(value):
                records[value.__name__] = value
            elif isinstance(value, type) and issubclass(value, enum.Enum):
                enums[value.__name__] = value
    return records, enums


def float_out(value: float) -> float | NonFinite:
    """A float for a typed JSON field: finite as itself, else "NaN"/"Infinity"/"-Infinity"."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def float_in(value: float | int | str) -> float:
    """The float a typed field holds: a number, or one of the three strings."""
    if isinstance(value, str):
        try:
            return _NONFINITE[value]
        except KeyError:
            raise InvalidArgument(
                f"{value!r} is not a number (use a number, 'NaN', 'Infinity' or '-Infinity')"
            ) from None
    return float(value)


def encode(value: Any) -> Any:
    """JSON-able data that ``decode`` turns back into ``value``."""
    kind = type(value)
    if value is None or kind is str or kind is bool:
        return value
    if kind is list and value and type(value[0]) is RunRecord:
        fast = _encode_runs(value)
        if fast is not None:
            return fast
    if kind is int:
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise InvalidArgument(f"{value} does not fit in 64 bits and cannot be sent")
        return value
    if isinstance(value, enum.Enum):
        return _encode_enum(value)
    if isinstance(value, float):  # numpy.float64 too
        number = float(value)
        return number if math.isfinite(number) else {"__float__": float_out(number)}
    if isinstance(value, str):  # subclasses, which orjson refuses
        return str.__str__(value)
    if isinstance(value, int):
        return encode(int.__int__(value))
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {"__items__": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {"__set__": [encode(v) for v in value]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encode_record(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"__bytes__": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dt.datetime):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, orjson.Fragment):
        return {"__json__": _fragment_text(value)}
    return _encode_foreign(value)


def _encode_runs(runs: list[Any]) -> Any:
    """A search's runs in one orjson call (the generic walk costs ~80 us a run): their
    fields are strings, ints, a status and a metrics dict whose NaN orjson writes as null.
    None when a run holds what this form cannot carry exactly (infinity, str subclasses)."""
    for run in runs:
        if type(run) is not RunRecord:
            return None
        for number in run.metrics.values():
            if math.isinf(number):
                return None
    try:
        return {"__runs__": orjson.Fragment(orjson.dumps(runs))}
    except TypeError:  # orjson.JSONEncodeError: a str or int subclass somewhere
        return None


def _decode_runs(rows: list[dict[str, Any]]) -> list[RunRecord]:
    runs = []
    for row in rows:
        row["status"] = RunStatus(row["status"])
        metrics = row["metrics"]
        if None in metrics.values():
            row["metrics"] = {k: math.nan if v is None else v for k, v in metrics.items()}
        runs.append(RunRecord(**row))
    return runs


def _encode_enum(value: enum.Enum) -> Any:
    return {"__enum__": type(value).__name__, "value": encode(value.value)}


def _encode_record(value: Any) -> Any:
    name = type(value).__name__
    if _types()[0].get(name) is not type(value):
        raise InvalidArgument(f"{name} is not a store record and cannot be sent")
    fields = {f.name: encode(getattr(value, f.name)) for f in _fields(value)}
    return {"__record__": name, "fields": fields}


def _fields(record: Any) -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(record)


def _fragment_text(value: orjson.Fragment) -> str:
    return orjson.dumps([value])[1:-1].decode()


def _encode_foreign(value: Any) -> Any:
    """numpy/pandas values, recognised by shape so neither is imported here."""
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy scalars and arrays
        return encode(value.tolist())
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return encode(value.to_pydatetime())
    if hasattr(value, "item"):
        return encode(value.item())
    raise InvalidArgument(
        f"a {type(value).__name__} cannot be sent to the store: it is not JSON-able"
    )


def decode(data: Any) -> Any:
    """The value ``encode`` made ``data`` from."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    if len(data) in (1, 2):
        tag = next(iter(data))
        if isinstance(tag, str) and tag.startswith("__"):
            return _decode_tagged(tag, data)
    return {k: decode(v) for k, v in data.items()}


def _decode_tagged(tag: str, data: dict[str, Any]) -> Any:
    payload = data[tag]
    try:
        if tag == "__float__":
            return float_in(payload)
        if tag == "__runs__":
            return _decode_runs(payload)
        if tag == "__record__":
            cls = _types()[0].get(str(payload))
            if cls is None:
                raise InvalidArgument(f"{payload!r} is not a store record")
            return cls(**{k: decode(v) for k, v in data["fields"].items()})
        if tag == "__enum__":
            enum_cls = _types()[1].get(str(payload))
            if enum_cls is None:
                raise InvalidArgument(f"{payload!r} is not a store enum")
            return enum_cls(decode(data["value"]))
        if tag == "__tuple__":
            return tuple(decode(v) for v in payload)
        if tag == "__set__":
            return {decode(v) for v in payload}
        if tag == "__items__":
            return {_key(decode(k)): decode(v) for k, v in payload}
        if tag == "__bytes__":
            return base64.b64decode(payload, validate=True)
        if tag == "__datetime__":
            return dt.datetime.fromisoformat(payload)
        if tag == "__json__":
            return orjson.Fragment(str(payload))
    except InvalidArgument:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise InvalidArgument(f"malformed {tag} value on the wire: {exc}") from exc
    raise InvalidArgument(f"unknown wire tag {tag!r}")


def _key(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def dumps(value: Any) -> bytes:
    return orjson.dumps(encode(value))


def loads(data: bytes | str) -> Any:
    try:
        return decode(orjson.loads(data))
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"the body is not JSON: {exc}") from exc
