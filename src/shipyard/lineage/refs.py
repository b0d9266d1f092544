"""What a user names on the command line or in a URL, parsed: ``churn/3``, ``churn@production``,
``[project/]name/version`` of a dataset, ``name[/version]`` of a feature view."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipyard._clock import from_millis
from shipyard._names import check_storable_text, parse_model_ref
from shipyard.errors import InvalidArgument

KINDS = ("prediction", "model", "run", "dataset", "feature-view")
MAX_VERSION = 2**31 - 1  # what the stores hold
MAX_TEXT = 1000

_VIEW = re.compile(r"^(?P<name>[^/@]+)(?:[/@]v?(?P<version>\d+))?$")


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: int | None
    alias: str | None


@dataclass(frozen=True)
class DatasetRef:
    project: str | None
    name: str
    version: int | None


@dataclass(frozen=True)
class ViewRef:
    name: str
    version: int | None


def model_ref(text: str) -> ModelRef:
    parsed = parse_model_ref(text)
    if parsed is None:
        raise InvalidArgument(
            f"{text!r} is not a model reference: give NAME/VERSION, NAME@ALIAS or NAME (latest)"
        )
    name, version, alias, _ = parsed
    return ModelRef(name, _version(version, text), alias)


def dataset_ref(text: str) -> DatasetRef:
    """``[dataset:][PROJECT/]NAME[/VERSION]``: a last part of digits is the version."""
    body = text.strip().removeprefix("dataset:")
    parts = body.split("/")
    version = int(parts.pop()) if len(parts) > 1 and parts[-1].isdigit() else None
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise InvalidArgument(
            f"{text!r} is not a dataset reference: give [PROJECT/]NAME/VERSION or NAME (latest)"
        )
    project = parts[0] if len(parts) == 2 else None
    return DatasetRef(project, parts[-1], _version(version, text))


def dataset_uri(project: str, name: str, version: int) -> str:
    return f"dataset:{project}/{name}/{version}"


def view_ref(text: str) -> ViewRef:
    match = _VIEW.match(text.strip())
    if match is None:
        raise InvalidArgument(
            f"{text!r} is not a feature view reference: give NAME or NAME/VERSION"
        )
    version = match["version"]
    return ViewRef(match["name"], _version(int(version) if version else None, text))


def iso(ms: int | None) -> str | None:
    """A stored time as ISO 8601 UTC, for people and JSON alike."""
    return None if ms is None else from_millis(ms).isoformat()


def check_text(what: str, text: str) -> str:
    """A reference or project name from a user, refused (InvalidArgument) when no store
    could hold it: empty, too long, a NUL or a lone surrogate."""
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        raise InvalidArgument(f"{what} must be 1 to {MAX_TEXT} characters")
    check_storable_text(what, text)
    return text.strip()


def _version(version: int | None, text: str) -> int | None:
    if version is not None and not 1 <= version <= MAX_VERSION:
        raise InvalidArgument(f"{text!r}: a version is a number from 1 to {MAX_VERSION}")
    return version
