"""What a server serves: variants that split the traffic by weight, and shadows that get a
copy of it. From a YAML file or from `shipyard serve` flags:

    # deploy.yaml
    variants:
      - {name: champion, model: churn@production, weight: 90}
      - {name: challenger, model: churn/4, weight: 10}
    shadows:
      - {name: next, model: churn@staging}
    sticky_key: customer_id      # the same customer always gets the same variant
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidArgument
from shipyard.registry import parse_model_ref

_VARIANT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class ModelRef:
    """``churn@production`` (follows the alias as it moves), ``churn/3``, or a folder made
    by `shipyard models build`."""

    name: str
    version: int | None = None
    alias: str | None = None
    folder: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        text = str(text).strip()
        if os.path.isdir(text):
            return cls(name=Path(text).name, folder=str(Path(text).resolve()))
        parsed = parse_model_ref(text)
        if parsed is None or parsed[1:3] == (None, None):  # serving needs a version or alias
            raise InvalidArgument(
                f"cannot serve {text!r}: give NAME@ALIAS, NAME/VERSION, models:/NAME@ALIAS or "
                "a folder made by `shipyard models build`"
            )
        name, version, alias, _ = parsed
        return cls(name, version, alias)

    @property
    def uri(self) -> str:
        if self.folder:
            return self.folder
        suffix = f"@{self.alias}" if self.alias else f"/{self.version}"
        return f"models:/{self.name}{suffix}"

    @property
    def default_variant(self) -> str:
        return self.alias or (f"v{self.version}" if self.version else "main")


@dataclass(frozen=True)
class Variant:
    name: str
    model: ModelRef
    weight: float = 100.0


@dataclass(frozen=True)
class Deployment:
    variants: tuple[Variant, ...]
    shadows: tuple[Variant, ...] = ()
    sticky_key: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.variants:
            raise InvalidArgument("a deployment needs at least one variant to serve")
        names = [v.name for v in (*self.variants, *self.shadows)]
        for name in names:
            if not _VARIANT.match(name):
                raise InvalidArgument(
                    f"variant name {name!r} must be 1-64 letters, digits, '_', '.' or '-'"
                )
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InvalidArgument(
                f"variant name {twice[0]!r} is used twice; name variants apart (name: ...)"
            )
        for v in self.variants:
            if not v.weight > 0:
                raise InvalidArgument(f"variant {v.name!r} needs a positive weight, not {v.weight}")

    @property
    def model_name(self) -> str:
        return self.variants[0].model.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "variants": [_variant_dict(v) for v in self.variants],
            "shadows": [_variant_dict(v) for v in self.shadows],
            "sticky_key": self.sticky_key,
        }

    @classmethod
    def from_dict(cls, spec: Any, source: str = "the deployment spec") -> Deployment:
        if not isinstance(spec, dict):
            raise InvalidArgument(f"{source} must be a mapping with 'variants'")
        unknown = sorted(set(spec) - {"variants", "shadows", "sticky_key"})
        if unknown:
            raise InvalidArgument(
                f"{source} has unknown key(s) {', '.join(unknown)}; "
                "known: variants, shadows, sticky_key"
            )
        variants = tuple(_variant(v, source, True) for v in _list(spec, "variants", source))
        shadows = tuple(_variant(v, source, False) for v in _list(spec, "shadows", source))
        key = spec.get("sticky_key")
        if key is not None and not isinstance(key, str):
            raise InvalidArgument(f"{source}: sticky_key must be a column name")
        return cls(variants, shadows, key)

    @classmethod
    def from_yaml(cls, path: str) -> Deployment:
        import yaml

        try:
            spec = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidArgument(f"cannot read deployment spec {path}: {exc}") from exc
        return cls.from_dict(spec, path)

    @classmethod
    def from_flags(
        cls,
        model: str,
        split: tuple[str, ...] = (),
        shadow: tuple[str, ...] = (),
        sticky_key: str | None = None,
    ) -> Deployment:
        """`serve MODEL --split churn/4=10 --shadow churn@staging`: MODEL gets the weight
        the splits leave."""
        others = [_weighted(text) for text in split]
        rest = 100.0 - sum(w for _, w in others)
        if not rest > 0:
            raise InvalidArgument(
                f"--split weights add up to {100 - rest:g}%; they must leave some traffic "
                "for the main model"
            )
        main = ModelRef.parse(model)
        variants = [Variant(main.default_variant, main, rest)]
        variants += [Variant(ref.default_variant, ref, w) for ref, w in others]
        shadows = [ModelRef.parse(s) for s in shadow]
        return cls(
            tuple(variants),
            tuple(Variant(f"shadow-{r.default_variant}", r, 0.0) for r in shadows),
            sticky_key,
        )


def _weighted(text: str) -> tuple[ModelRef, float]:
    ref, sep, weight = text.rpartition("=")
    try:
        value = float(weight)
    except ValueError:
        value = float("nan")
    if not sep or not 0 < value < 100:
        raise InvalidArgument(f"--split {text!r} must look like MODEL=PERCENT, e.g. churn/4=10")
    return ModelRef.parse(ref), value


def _list(spec: dict[str, Any], key: str, source: str) -> list[Any]:
    value = spec.get(key) or []
    if not isinstance(value, list):
        raise InvalidArgument(f"{source}: {key} must be a list")
    return value


def _variant(item: Any, source: str, weighted: bool) -> Variant:
    if not isinstance(item, dict) or "model" not in item:
        raise InvalidArgument(f"{source}: each variant needs a model, e.g. {{model: churn@prod}}")
    ref = ModelRef.parse(str(item["model"]))
    name = str(item.get("name") or ref.default_variant)
    try:
        weight = float(item.get("weight", 100.0 if weighted else 0.0))
    except (TypeError, ValueError):
        raise InvalidArgument(f"{source}: variant {name!r} weight must be a number") from None
    return Variant(name, ref, weight)


def _variant_dict(v: Variant) -> dict[str, Any]:
    return {"name": v.name, "model": v.model.uri, "weight": v.weight}
