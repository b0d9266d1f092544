"""Declarative feature definitions, with Feast's names and meanings.

Each object turns into a JSON ``spec`` (what the registry stores and diffs) and back.
Python functions (view transformations, on-demand views) are kept by value as blobs and by
source text in the spec, so a change to the code shows in ``shipyard features plan``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

from shipyard.errors import InvalidFeature
from shipyard.features._sql import check_feature_name, check_name
from shipyard.features.sources import Source
from shipyard.features.types import JOIN_KEY_DTYPES, Dtype


def fingerprint(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(eq=False)
class Entity:
    """What features are about (a customer, a driver), identified by its join keys."""

    kind: ClassVar[str] = "entity"
    name: str
    join_keys: list[str] = field(default_factory=list)
    value_type: Dtype | str = Dtype.INT64
    description: str = ""
    owner: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name("entity", self.name)
        if isinstance(self.join_keys, str):
            self.join_keys = [self.join_keys]
        self.join_keys = list(self.join_keys) or [self.name]
        for key in self.join_keys:
            check_name(f"entity {self.name!r} join key", key)
        self.value_type = _dtype(self.value_type, f"entity {self.name!r}")
        if self.value_type not in JOIN_KEY_DTYPES:
            allowed = ", ".join(d.value for d in JOIN_KEY_DTYPES)
            raise InvalidFeature(
                f"entity {self.name!r}: join keys must be one of {allowed}, "
                f"not {self.value_type.value}"
            )

    def to_spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "join_keys": self.join_keys,
            "value_type": Dtype(self.value_type).value,
            "description": self.description,
            "owner": self.owner,
            "tags": dict(self.tags),
        }


@dataclass(eq=False)
class Field:
    """A typed column of a feature view."""

    name: str
    dtype: Dtype | str | type = Dtype.FLOAT64
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_feature_name(self.name)
        self.dtype = _dtype(self.dtype, f"field {self.name!r}")

    @property
    def type(self) -> Dtype:
        assert isinstance(self.dtype, Dtype)  # parsed in __post_init__
        return self.dtype

    def to_spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dtype": self.type.value,
            "description": self.description,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Field:
        return cls(**spec)


@dataclass(eq=False)
class FeatureView:
    """Features of one or more entities, read from a source, valid for ``ttl`` after their
    event timestamp. ``transformation`` is a DuckDB query over ``source`` or a function
    from a pandas DataFrame to a DataFrame, applied batch by batch."""

    kind: ClassVar[str] = "feature_view"
    name: str
    source: Source
    schema: list[Field] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    ttl: timedelta | None = None
    transformation: str | Callable[..., Any] | None = None
    online: bool = True
    description: str = ""
    owner: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name("feature view", self.name)
        if not isinstance(self.source, Source):
            raise InvalidFeature(f"feature view {self.name!r}: source must be a Source")
        if isinstance(self.entities, Entity):
            self.entities = [self.entities]
        self.entities = list(self.entities)
        self.schema = list(self.schema)
        if self.ttl is not None and (
            not isinstance(self.ttl, timedelta) or self.ttl <= timedelta(0)
        ):
            raise InvalidFeature(
                f"feature view {self.name!r}: ttl must be a positive timedelta or None"
            )
        names = [f.name for f in self.schema]
        duplicate = sorted({n for n in names if names.count(n) > 1})
        if duplicate:
            raise InvalidFeature(f"feature view {self.name!r}: fields {duplicate} appear twice")
        keys = self.join_keys
        if len(set(keys)) != len(keys):
            raise InvalidFeature(f"feature view {self.name!r}: entities share a join key")
        timestamps = {self.source.timestamp_field, self.source.created_timestamp_column}
        clash = sorted(n for n in names if n in timestamps)
        if clash:
            raise InvalidFeature(
                f"feature view {self.name!r}: {clash} is a timestamp column of the source, "
                "not a feature; remove it from the schema"
            )
        if not self.features:
            raise InvalidFeature(
                f"feature view {self.name!r} has no features: list them in schema=[Field(...)]"
            )

    @property
    def join_keys(self) -> list[str]:
        return [k for e in self.entities for k in e.join_keys]

    @property
    def features(self) -> list[Field]:
        """The schema without the join keys (Feast lets a schema list those too)."""
        keys = set(self.join_keys)
        return [f for f in self.schema if f.name not in keys]

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def key_dtypes(self) -> dict[str, Dtype]:
        return {k: Dtype(e.value_type) for e in self.entities for k in e.join_keys}

    def __getitem__(self, names: str | Sequence[str]) -> FeatureViewProjection:
        """``view[["a", "b"]]``: a subset of the features, for a feature service."""
        wanted = [names] if isinstance(names, str) else list(names)
        unknown = [n for n in wanted if n not in self.feature_names]
        if unknown:
            raise InvalidFeature(
                f"feature view {self.name!r} has no feature {unknown[0]!r}; "
                f"its features are: {', '.join(self.feature_names)}"
            )
        return FeatureViewProjection(self, wanted)

    def to_spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source.name,
            "entities": [e.name for e in self.entities],
            "schema": [f.to_spec() for f in self.schema],
            "ttl_seconds": self.ttl.total_seconds() if self.ttl else None,
            "transformation": _function_spec(self.transformation),
            "online": self.online,
            "description": self.description,
            "owner": self.owner,
            "tags": dict(self.tags),
        }

    def blobs(self) -> dict[str, Any]:
        return {"transformation": self.transformation} if callable(self.transformation) else {}


@dataclass(eq=False)
class FeatureViewProjection:
    """Some features of a view (``view[["a", "b"]]``)."""

    view: FeatureView | OnDemandFeatureView
    features: list[str]

    @property
    def name(self) -> str:
        return self.view.name


@dataclass(eq=False)
class RequestSource:
    """Values that arrive with the request (at training time: columns of the entity
    DataFrame), for on-demand views."""

    name: str
    schema: list[Field] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_name("request source", self.name)

    def to_spec(self) -> dict[str, Any]:
        return {"name": self.name, "schema": [f.to_spec() for f in self.schema]}


ON_DEMAND_MODES = ("pandas", "python")


@dataclass(eq=False)
class OnDemandFeatureView:
    """Features computed at request time from other views' features and request values, by
    one function used both for training sets and online lookups (no skew).

    The function sees the source views' feature names and the request fields; what it
    receives depends on ``mode``, as in Feast:

    * ``mode="pandas"`` (the default): a DataFrame with those columns, one row per entity
      row; it returns a DataFrame with the ``schema`` columns and as many rows.
    * ``mode="python", singleton=True`` (the row mode): a dict of one row's values
      (``None`` where a value is missing); it returns a dict ``{feature: value}``. Plain
      Python or numpy; online it runs once per entity row and pandas is never imported.
    * ``mode="python"``: Feast's columnar form, a dict of lists (one item per row); it
      returns a dict of equally long lists. Also pandas-free online.

    Training sets run the same function: a pandas one on the joined rows, a row one over
    each row, a columnar one on the columns as lists.
    """

    kind: ClassVar[str] = "on_demand_feature_view"
    name: str
    sources: list[FeatureView | FeatureViewProjection | RequestSource]
    schema: list[Field]
    udf: Callable[..., Any]
    description: str = ""
    owner: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    mode: str = "pandas"
    singleton: bool = False

    def __post_init__(self) -> None:
        check_name("on-demand feature view", self.name)
        if not callable(self.udf):
            raise InvalidFeature(f"on-demand feature view {self.name!r} needs a function (udf)")
        if not self.schema:
            raise InvalidFeature(f"on-demand feature view {self.name!r} needs a schema")
        self.schema = list(self.schema)
        if self.mode not in ON_DEMAND_MODES:
            raise InvalidFeature(
                f"on-demand feature view {self.name!r}: mode {self.mode!r} is not supported; "
                'use mode="pandas" (a DataFrame function) or mode="python" (dicts)'
            )
        if self.singleton and self.mode != "python":
            raise InvalidFeature(
                f'on-demand feature view {self.name!r}: singleton=True needs mode="python" '
                "(the function then takes and returns one row's dict)"
            )
        self.singleton = bool(self.singleton)

    @property
    def row_mode(self) -> bool:
        """True when the function takes and returns one row's dict."""
        return self.mode == "python" and self.singleton

    @property
    def features(self) -> list[Field]:
        return self.schema

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.schema]

    def source_views(self) -> list[FeatureViewProjection]:
        out = []
        for s in self.sources:
            if isinstance(s, FeatureView):
                out.append(FeatureViewProjection(s, s.feature_names))
            elif isinstance(s, FeatureViewProjection):
                out.append(s)
        return out

    def request_sources(self) -> list[RequestSource]:
        return [s for s in self.sources if isinstance(s, RequestSource)]

    def __getitem__(self, names: str | Sequence[str]) -> FeatureViewProjection:
        wanted = [names] if isinstance(names, str) else list(names)
        unknown = [n for n in wanted if n not in self.feature_names]
        if unknown:
            raise InvalidFeature(
                f"on-demand feature view {self.name!r} has no feature {unknown[0]!r}; "
                f"its features are: {', '.join(self.feature_names)}"
            )
        return FeatureViewProjection(self, wanted)

    def to_spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sources": [{"view": p.view.name, "features": p.features} for p in self.source_views()],
            "request_sources": [r.to_spec() for r in self.request_sources()],
            "schema": [f.to_spec() for f in self.schema],
            "udf": _function_spec(self.udf),
            "description": self.description,
            "owner": self.owner,
            "tags": dict(self.tags),
            # only when not the default: views applied before modes existed keep their spec
            **({"mode": self.mode} if self.mode != "pandas" else {}),
            **({"singleton": True} if self.singleton else {}),
        }

    def blobs(self) -> dict[str, Any]:
        return {"udf": self.udf}


def on_demand_feature_view(
    *,
    sources: list[FeatureView | FeatureViewProjection | RequestSource],
    schema: list[Field],
    name: str | None = None,
    description: str = "",
    owner: str = "",
    tags: dict[str, str] | None = None,
    mode: str = "pandas",
    singleton: bool = False,
) -> Callable[[Callable[..., Any]], OnDemandFeatureView]:
    """Decorator form, as in Feast: the function's name is the view's name. ``mode`` and
    ``singleton`` as in :class:`OnDemandFeatureView`."""

    def wrap(fn: Callable[..., Any]) -> OnDemandFeatureView:
        return OnDemandFeatureView(
            name=name or fn.__name__,
            sources=sources,
            schema=schema,
            udf=fn,
            description=description or (inspect.getdoc(fn) or ""),
            owner=owner,
            tags=dict(tags or {}),
            mode=mode,
            singleton=singleton,
        )

    return wrap


@dataclass(eq=False)
class FeatureService:
    """A named set of features a model consumes; versioned with the definitions."""

    kind: ClassVar[str] = "feature_service"
    name: str
    features: list[FeatureView | OnDemandFeatureView | FeatureViewProjection]
    description: str = ""
    owner: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name("feature service", self.name)
        if not self.features:
            raise InvalidFeature(f"feature service {self.name!r} lists no features")

    def projections(self) -> list[FeatureViewProjection]:
        out = []
        for item in self.features:
            if isinstance(item, FeatureViewProjection):
                out.append(item)
            elif isinstance(item, FeatureView | OnDemandFeatureView):
                out.append(FeatureViewProjection(item, item.feature_names))
            else:
                raise InvalidFeature(
                    f"feature service {self.name!r}: {item!r} is not a feature view"
                )
        return out

    def refs(self) -> list[str]:
        return [f"{p.name}:{f}" for p in self.projections() for f in p.features]

    def to_spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "features": [{"view": p.name, "features": p.features} for p in self.projections()],
            "description": self.description,
            "owner": self.owner,
            "tags": dict(self.tags),
        }


Definition = Entity | Source | FeatureView | OnDemandFeatureView | FeatureService


def kind_of(obj: Any) -> str:
    return "source" if isinstance(obj, Source) else str(obj.kind)


def _dtype(value: Any, what: str) -> Dtype:
    try:
        return Dtype.parse(value)
    except ValueError as exc:
        raise InvalidFeature(f"{what}: {exc}") from None


def _function_spec(fn: str | Callable[..., Any] | None) -> dict[str, Any] | str | None:
    """SQL text as is; a function by name and source text (so edits show in a plan)."""
    if fn is None or isinstance(fn, str):
        return fn
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        source = ""
    return {"name": getattr(fn, "__qualname__", repr(fn)), "source": source}
