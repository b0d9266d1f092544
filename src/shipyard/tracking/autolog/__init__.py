"""Automatic logging for ML frameworks: ``shipyard.autolog()`` turns on every one installed."""

from __future__ import annotations

import importlib.util

from shipyard.errors import InvalidArgument, ShipyardError

FRAMEWORKS = ("sklearn",)


def autolog(
    framework: str | None = None, *, disable: bool = False, log_models: bool = True
) -> list[str]:
    """Patch ``fit`` so it logs params, training metrics and the fitted model; returns the
    frameworks it turned on (or off, with ``disable=True``)."""
    names = [framework] if framework else [f for f in FRAMEWORKS if importlib.util.find_spec(f)]
    done = []
    for name in names:
        if name not in FRAMEWORKS:
            raise InvalidArgument(f"no autolog for {name!r}; supported: {', '.join(FRAMEWORKS)}")
        if importlib.util.find_spec(name) is None:
            raise ShipyardError(  # a core dependency: no extra brings it back
                "sklearn autolog needs scikit-learn, which is missing from this environment: "
                "pip install scikit-learn"
            )
        from shipyard.tracking.autolog import sklearn

        sklearn.disable() if disable else sklearn.enable(log_models=log_models)
        done.append(name)
    return done
