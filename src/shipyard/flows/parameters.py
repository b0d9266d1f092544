"""Flow parameters: ``alpha = Parameter("alpha", default=0.01, help=...)`` on a FlowSpec.

``IncludeFile`` is a parameter given as a path whose value is the file's content.

Values arrive as strings from the command line (``--alpha 0.1``) or as Python values from
``MyFlow.run(alpha=0.1)``; both are checked against the parameter's type. The type comes
from ``type=`` or else from the default (str, int, float, bool); ``JSONType`` accepts any
JSON document (lists, dicts) given as text on the command line.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidFlow


class _JSONType:
    """Marker type: the parameter's value is JSON (a list, dict, number…)."""

    __name__ = "JSON"

    def __repr__(self) -> str:
        return "JSONType"


JSONType = _JSONType()
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}
_MISSING: Any = object()


class Parameter:
    def __init__(
        self,
        name: str,
        default: Any = _MISSING,
        type: type | _JSONType | Callable[[str], Any] | None = None,
        help: str | None = None,
        required: bool = False,
    ) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise InvalidFlow(f"parameter name {name!r} must be a valid identifier")
        self.name = name
        self.default = default
        self.required = required
        self.help = help or ""
        if type is None:
            type = builtin_type(default) if default is not _MISSING and default is not None else str
        self.type = type
        self.attr = name  # the attribute it is assigned to; set by __set_name__

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        """On a running flow: the value (stored as an artifact by the start task)."""
        if instance is None:
            return self
        return instance._artifact(self.attr)

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, default={self.default!r}, type={self.type_name})"

    @property
    def type_name(self) -> str:
        return getattr(self.type, "__name__", repr(self.type))

    def describe(self, value: Any) -> str:
        """The value as the tracked run's parameter (text)."""
        return value if isinstance(value, str) else json.dumps(value)

    def parse(self, raw: str) -> Any:
        """A value from command-line text."""
        try:
            if self.type is JSONType:
                return json.loads(raw)
            if self.type is bool:
                lowered = raw.strip().lower()
                if lowered in _TRUE | _FALSE:
                    return lowered in _TRUE
                raise ValueError("expected true or false")
            return self.type(raw)  # type: ignore[operator]
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            raise InvalidFlow(
                f"parameter '{self.name}' expects {self.type_name}, got {raw!r}: {exc}"
            ) from None

    def check(self, value: Any) -> Any:
        """A Python value given directly (``MyFlow.run(alpha=0.1)``)."""
        if self.type is JSONType:
            if isinstance(value, str):
                return self.parse(value)  # JSON text, as on the command line
            try:
                json.dumps(value)
            except (TypeError, ValueError) as exc:
                raise InvalidFlow(f"parameter '{self.name}' must be JSON-able: {exc}") from None
            return value
        if isinstance(value, str) and self.type is not str:
            return self.parse(value)
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(self.type, type) and not isinstance(value, self.type):
            raise InvalidFlow(
                f"parameter '{self.name}' expects {self.type_name}, "
                f"got {type(value).__name__} {value!r}"
            )
        return value


def builtin_type(value: Any) -> type | _JSONType:
    if isinstance(value, bool):
        return bool
    if isinstance(value, int | float | str):
        return type(value)
    return JSONType  # lists and dicts as defaults


def resolve(
    flow_name: str, parameters: Mapping[str, Parameter], given: Mapping[str, Any]
) -> dict[str, Any]:
    """Every parameter's value: given, else default; unknown or missing ones are errors."""
    unknown = sorted(set(given) - set(parameters))
    if unknown:
        known = ", ".join(sorted(parameters)) or "none"
        raise InvalidFlow(
            f"{flow_name} has no parameter {', '.join(unknown)}; its parameters are: {known}"
        )
    values = {}
    for name, parameter in parameters.items():
        if name in given:
            values[name] = parameter.check(given[name])
        elif parameter.required:
            raise InvalidFlow(f"{flow_name} needs parameter '{name}': pass --{name} VALUE")
        else:  # as in Metaflow: no default and not required means None
            default = parameter.default if parameter.has_default else None
            values[name] = None if default is None else parameter.check(default)
    return values


class _Loaded:
    """A file read by ``IncludeFile.parse`` (the command line); ``check`` unwraps it."""

    def __init__(self, content: str | bytes) -> None:
        self.content = content


class IncludeFile(Parameter):
    """A parameter whose value is the content of a file, as in Metaflow: given a path
    (``--movie_data movies.csv``, ``default=`` a path, or ``MyFlow.run(movie_data=path)``),
    the steps see the file's text (or bytes with ``is_text=False``), stored as an artifact
    of the run; the file need not exist where the steps run."""

    def __init__(
        self,
        name: str,
        required: bool = False,
        is_text: bool = True,
        encoding: str = "utf-8",
        help: str | None = None,
        default: Any = None,
    ) -> None:
        super().__init__(
            name, _MISSING if default is None else default, str, help, required=required
        )
        self.is_text = is_text
        self.encoding = encoding

    @property
    def type_name(self) -> str:
        return "path of a file"

    def parse(self, raw: str) -> Any:
        return _Loaded(self._read(raw))

    def check(self, value: Any) -> Any:
        if isinstance(value, _Loaded):
            return value.content
        if isinstance(value, str | os.PathLike):
            return self._read(os.fspath(value))
        raise InvalidFlow(
            f"parameter '{self.name}' takes the path of a file, got {type(value).__name__}"
        )

    def _read(self, path: str) -> str | bytes:
        try:
            data = Path(path).expanduser().read_bytes()
            return data.decode(self.encoding) if self.is_text else data
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidFlow(f"IncludeFile '{self.name}': cannot read {path!r}: {exc}") from None

    def describe(self, value: Any) -> str:
        data = value.encode(self.encoding) if isinstance(value, str) else bytes(value or b"")
        return f"file of {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}"
