"""Monitors: declared checks on a model's live predictions, in Python or in a YAML file.

    Monitor("churn-drift", model="churn@production", check="drift",
            features=["age", "plan"], window="1h", schedule="*/15 * * * *")
    Monitor("churn-accuracy", model="churn@production", check="performance",
            metric="accuracy", threshold=0.8, window="1d")

Check kinds (``threshold`` and when it fires):

    drift        features (default: all shared columns; ``prediction`` is one), ``test``
                 optional; fires when a feature drifts: by the test's own rule, or with
                 ``threshold`` when p_value < threshold (tests with a p-value) or statistic >
                 threshold (distances)
    performance  ``metric`` (accuracy, precision, recall, f1, roc_auc, log_loss, mae, rmse,
                 r2) on labelled predictions; fires below the threshold (above for losses)
    latency      ``metric`` p50, p90, p95 (default), p99, mean or max in ms; fires above
    error_rate   share of predictions that failed (0..1); fires above
    volume       predictions in the window; fires below (``direction: above`` for floods)

Every declaration is checked when it is made: unknown keys or check kinds, malformed windows
and cron schedules, and bad thresholds raise InvalidArgument naming the monitor and field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from shipyard._names import parse_model_ref as _parse_ref
from shipyard.errors import InvalidArgument
from shipyard.monitoring.webhooks import parse_destination

CHECKS = ("drift", "performance", "latency", "error_rate", "volume")
DRIFT_TESTS = ("ks", "wasserstein", "chi2", "psi", "js")
HIGHER_IS_BETTER = ("accuracy", "precision", "recall", "f1", "roc_auc", "r2")
LOWER_IS_BETTER = ("log_loss", "mae", "rmse")
LATENCY_METRICS = ("p50", "p90", "p95", "p99", "mean", "max")
DIRECTIONS = ("above", "below")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def parse_model_ref(text: str) -> tuple[str, int | None, str | None] | None:
    """(name, version, alias) of ``churn``, ``churn/3`` or ``churn@production``."""
    parsed = _parse_ref(text)
    return None if parsed is None or parsed[3] else parsed[:3]


def duration_seconds(text: str, where: str = "window") -> float:
    """Seconds of ``30m``, ``1h``, ``7d`` (s, m, h, d, w)."""
    match = _DURATION.match(str(text).strip())
    if match is None or float(match[1]) <= 0:
        raise InvalidArgument(f"{where} {text!r} must look like 30m, 1h, 7d or 2w (positive)")
    return float(match[1]) * _SECONDS[match[2]]


def check_cron(expression: str, where: str = "schedule") -> str:
    from croniter import croniter

    if not isinstance(expression, str) or not croniter.is_valid(expression):
        raise InvalidArgument(
            f"{where} {expression!r} is not a valid cron expression; use five fields "
            "(minute hour day month weekday), e.g. '*/15 * * * *'"
        )
    return expression


@dataclass(frozen=True)
class Monitor:
    """A declared check on a model (``NAME``, ``NAME@ALIAS`` or ``NAME/VERSION``)."""

    name: str
    model: str
    check: str
    features: Sequence[str] | None = None  # kept as a tuple
    metric: str | None = None
    test: str | None = None
    window: str = "1h"
    threshold: float | None = None
    direction: str | None = None
    schedule: str = "*/15 * * * *"
    webhooks: Sequence[str] = ()  # kept as a tuple

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise InvalidArgument(
                f"monitor name {self.name!r} must be 1-128 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        if self.features is not None and not isinstance(self.features, tuple):
            object.__setattr__(self, "features", _strings(self, "features", self.features))
        if not isinstance(self.webhooks, tuple):
            object.__setattr__(self, "webhooks", _strings(self, "webhooks", self.webhooks))
        _validate(self)

    @property
    def model_name(self) -> str:
        return _model_ref(self)[0]

    @property
    def target(self) -> str:
        """``@alias``, a version number, or "" (the latest version)."""
        _, version, alias = _model_ref(self)
        return f"@{alias}" if alias else "" if version is None else str(version)

    @property
    def window_seconds(self) -> float:
        return duration_seconds(self.window)

    @property
    def fires_when(self) -> str:
        """above | below: the side of the threshold on which the monitor fires."""
        if self.direction is not None:
            return self.direction
        if self.check == "performance":
            return "below" if self.metric in HIGHER_IS_BETTER else "above"
        return "below" if self.check == "volume" else "above"

    def to_spec(self) -> dict[str, Any]:
        """The declaration as given (fields left at their defaults are left out)."""
        spec: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("name", "model", "check") or value != _default(f):
                spec[f.name] = list(value) if isinstance(value, tuple) else value
        return spec

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "monitor") -> Monitor:
        if not isinstance(data, Mapping):
            raise InvalidArgument(f"{where} must be a mapping of fields, not {data!r}")
        name = data.get("name")
        label = f"monitor {name!r}" if name else where
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(k) for k in data if k not in known)
        if unknown:
            raise InvalidArgument(
                f"{label}: unknown field(s) {', '.join(unknown)}; fields are: "
                f"{', '.join(sorted(known))}"
            )
        missing = [k for k in ("name", "model", "check") if not data.get(k)]
        if missing:
            raise InvalidArgument(f"{label}: missing field(s) {', '.join(missing)}")
        return cls(**dict(data))


def _default(f: Any) -> Any:
    return f.default_factory() if callable(f.default_factory) else f.default


def _strings(monitor: Monitor, name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable) or not all(isinstance(v, str) and v for v in value):
        raise InvalidArgument(
            f"monitor {monitor.name!r}: {name} must be a list of names, not {value!r}"
        )
    return tuple(value)


def _model_ref(monitor: Monitor) -> tuple[str, int | None, str | None]:
    parsed = parse_model_ref(monitor.model)
    if parsed is None:
        raise InvalidArgument(
            f"monitor {monitor.name!r}: model {monitor.model!r} must be NAME, NAME@ALIAS "
            "or NAME/VERSION"
        )
    return parsed


def _validate(m: Monitor) -> None:
    label = f"monitor {m.name!r}"
    _model_ref(m)
    if m.check not in CHECKS:
        raise InvalidArgument(
            f"{label}: unknown check {m.check!r}; checks are: {', '.join(CHECKS)}"
        )
    duration_seconds(m.window, f"{label}: window")
    check_cron(m.schedule, f"{label}: schedule")
    if m.direction is not None and m.direction not in DIRECTIONS:
        raise InvalidArgument(f"{label}: direction must be 'above' or 'below', not {m.direction!r}")
    if m.test is not None and (m.check != "drift" or m.test not in DRIFT_TESTS):
        raise InvalidArgument(
            f"{label}: test {m.test!r} is not a drift test ({', '.join(DRIFT_TESTS)}); "
            "only drift monitors take one"
        )
    if m.features is not None and m.check != "drift":
        raise InvalidArgument(f"{label}: features only apply to drift monitors")
    _validate_metric(m, label)
    _validate_threshold(m, label)
    for hook in m.webhooks:
        try:
            parse_destination(hook)
        except InvalidArgument as exc:
            raise InvalidArgument(f"{label}: {exc.message}") from exc


def _validate_metric(m: Monitor, label: str) -> None:
    if m.check == "performance":
        known: tuple[str, ...] = HIGHER_IS_BETTER + LOWER_IS_BETTER
    elif m.check == "latency":
        known = LATENCY_METRICS
    else:
        if m.metric is not None:
            raise InvalidArgument(f"{label}: metric only applies to performance and latency")
        return
    if m.metric is None and m.check == "latency":
        object.__setattr__(m, "metric", "p95")
    if m.metric not in known:
        raise InvalidArgument(
            f"{label}: unknown metric {m.metric!r} for a {m.check} monitor; metrics are: "
            f"{', '.join(known)}"
        )


def _validate_threshold(m: Monitor, label: str) -> None:
    value = m.threshold
    if value is None:
        if m.check != "drift":
            raise InvalidArgument(f"{label}: threshold is required for a {m.check} monitor")
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgument(f"{label}: threshold must be a finite number, not {value!r}")
    object.__setattr__(m, "threshold", float(value))
    if m.check == "error_rate" and not 0 <= value <= 1:
        raise InvalidArgument(f"{label}: threshold of an error rate is a share in [0, 1]")
    if m.check in ("drift", "latency") and value <= 0:
        raise InvalidArgument(f"{label}: threshold must be positive for a {m.check} monitor")
    if m.check == "volume" and value < 0:
        raise InvalidArgument(f"{label}: threshold of a volume monitor cannot be negative")


def as_monitors(declared: Monitor | Iterable[Monitor | Mapping[str, Any]]) -> list[Monitor]:
    """One monitor, or a list of monitors or their dicts; names must be unique per model."""
    items = [declared] if isinstance(declared, Monitor) else list(declared)
    found = [
        m if isinstance(m, Monitor) else Monitor.from_dict(m, f"monitor #{i + 1}")
        for i, m in enumerate(items)
    ]
    seen: set[tuple[str, str]] = set()
    for m in found:
        key = (m.model_name, m.name)
        if key in seen:
            raise InvalidArgument(f"monitor {m.name!r} is declared twice for model {key[0]!r}")
        seen.add(key)
    return found


def load_monitors(path: str | Path) -> list[Monitor]:
    """The monitors of a YAML file: a list of monitors, or a mapping with ``monitors:`` and
    optionally ``webhooks:`` (added to every monitor of the file)."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidArgument(f"cannot read monitors file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    shared: tuple[str, ...] = ()
    if isinstance(data, Mapping):
        unknown = sorted(str(k) for k in data if k not in ("monitors", "webhooks"))
        if unknown:
            raise InvalidArgument(
                f"{path}: unknown key(s) {', '.join(unknown)}; keys are: monitors, webhooks"
            )
        hooks = data.get("webhooks") or []
        if isinstance(hooks, str) or not all(isinstance(h, str) for h in hooks):
            raise InvalidArgument(f"{path}: webhooks must be a list of URLs")
        shared = tuple(hooks)
        data = data.get("monitors")
    if not isinstance(data, list) or not data:
        raise InvalidArgument(f"{path}: expected a list of monitors (or `monitors:` with one)")
    try:
        declared = as_monitors(data)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{path}: {exc.message}") from exc
    if not shared:
        return declared
    return [_with_webhooks(m, shared) for m in declared]


def _with_webhooks(m: Monitor, shared: tuple[str, ...]) -> Monitor:
    from dataclasses import replace

    return replace(m, webhooks=tuple(dict.fromkeys((*m.webhooks, *shared))))


def next_due(schedule: str, after: Any) -> Any:
    """The first time after ``after`` (a datetime) that ``schedule`` (cron) is due."""
    from croniter import croniter

    return croniter(check_cron(schedule), after).get_next(type(after))
