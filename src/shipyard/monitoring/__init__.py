"""Monitoring: reference profiles, drift, performance and segments on live predictions.

Submodules load on first use (``import shipyard.monitoring`` stays light: numpy, scipy,
pandas and DuckDB are imported only by the calls that need them).

    profiles     profile(frame) -> Profile: per column type, quantile bins, categories, nulls
    _drift       drift(reference, current) -> DriftReport: KS, Wasserstein, chi-square, PSI, JS
    window       read_window(model, ...) -> the prediction log of a model as a DataFrame
    _performance performance(frame) -> classification or regression metrics per window
    _segments    the same per segment of a column, with the largest gaps flagged
    monitors     Monitor declarations (Python, YAML); runner: apply_monitors, run_monitors
    alerts       alerts raised and resolved by monitors, delivered by webhooks

The modules behind ``drift``, ``performance`` and ``segments`` are private (``_drift``...):
a public submodule of the same name would shadow the function once imported.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Profile": "profiles",
    "profile": "profiles",
    "DriftReport": "_drift",
    "drift": "_drift",
    "read_window": "window",
    "performance": "_performance",
    "segments": "_segments",
    "Monitor": "monitors",
    "load_monitors": "monitors",
    "apply_monitors": "runner",
    "run_monitors": "runner",
    "reference_for": "runner",
    "report": "_report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'shipyard.monitoring' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"shipyard.monitoring.{module}"), name)
    globals()[name] = value
    return value
