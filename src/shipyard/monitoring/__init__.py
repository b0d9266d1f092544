"""Monitoring: reference profiles, drift, performance and segments on live predictions.

Submodules load on first use (``import shipyard.monitoring`` stays light: numpy, scipy,
pandas and DuckDB are imported only by the calls that need them).

    profiles     profile(frame) -> Profile: per column type, quantile bins, categories, nulls
    drift        drift(reference, current) -> DriftReport: KS, Wasserstein, chi-square, PSI, JS
    window       read_window(model, ...) -> the prediction log of a model as a DataFrame
    performance  performance(frame) -> classification or regression metrics per window
    segments     the same per segment of a column, with the largest gaps flagged
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Profile": "profiles",
    "profile": "profiles",
    "DriftReport": "drift",
    "drift": "drift",
    "read_window": "window",
    "performance": "performance",
    "segments": "segments",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'shipyard.monitoring' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"shipyard.monitoring.{module}"), name)
    globals()[name] = value
    return value
