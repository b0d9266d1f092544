"""What the framework flavors share: importing an optional framework with a message naming
the extra, telling a model's framework by its type's module names (without importing it),
pinning installed versions, pickling users' code by value, and input conversion."""

from __future__ import annotations

import functools
import importlib
import sys
import sysconfig
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from types import ModuleType
from typing import Any

from shipyard.errors import MissingExtra


def require(module: str, extra: str, flavor: str) -> ModuleType:
    """Import ``module`` or, when its package is not installed, say which extra brings it
    (an installed package that fails to import raises its own error)."""
    package = module.partition(".")[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != package:
            raise
        raise MissingExtra(package, extra, f"The model flavor {flavor!r}") from exc


def from_package(model: Any, package: str, class_name: str | None = None) -> bool:
    """Is a class of ``model``'s type (or a base class) defined in ``package``? Looks at
    module names only, so nothing gets imported."""
    for cls in type(model).__mro__:
        module = getattr(cls, "__module__", "") or ""
        in_package = module == package or module.startswith(package + ".")
        if in_package and (class_name is None or cls.__name__ == class_name):
            return True
    return False


def pinned(*modules: str) -> list[str]:
    """``distribution==version`` for the installed distributions that provide ``modules``
    (``xgboost-cpu`` when that is what provides ``xgboost``). Local version labels such as
    ``+cpu`` are dropped: ``torch==2.3.0`` accepts ``2.3.0+cpu`` and installs from PyPI."""
    pins = []
    for module in modules:
        dist = _distribution(module)
        pins.append(f"{dist}=={metadata.version(dist).partition('+')[0]}")
    return pins


@functools.cache
def _distribution(module: str) -> str:
    try:
        metadata.version(module)
        return module
    except metadata.PackageNotFoundError:  # another name: ask every distribution (slow)
        return metadata.packages_distributions().get(module, [module])[0]


def is_users_code(module: ModuleType) -> bool:
    """A module of the user's project, not an installed package or the standard library."""
    path = getattr(module, "__file__", None) or ""
    if module.__name__ == "__main__" or not path:
        return False  # cloudpickle already pickles __main__ by value
    installed = ("site-packages", "dist-packages", sysconfig.get_paths()["stdlib"])
    return not any(marker in path for marker in installed)


@contextmanager
def by_value(model: Any) -> Iterator[None]:
    """While open, cloudpickle ships the code of ``model``'s class by value when that class
    lives in the user's files (so the model loads where those files are absent)."""
    import cloudpickle

    module = sys.modules.get(type(model).__module__)
    ship = module is not None and is_users_code(module)
    if ship:
        cloudpickle.register_pickle_by_value(module)
    try:
        yield
    finally:
        if ship:
            cloudpickle.unregister_pickle_by_value(module)


def to_frame(model_input: Any, columns: Any = None) -> Any:
    """A DataFrame as is; an array (or a list of rows) as a DataFrame, named ``columns``
    when the model was fitted with names."""
    import pandas as pd

    if isinstance(model_input, pd.DataFrame):
        return model_input
    return pd.DataFrame(model_input, columns=None if columns is None else list(columns))


def in_fitted_order(frame: Any, names: Any) -> Any:
    """``frame``'s columns in the order the model was fitted with, when it has them all
    (requests may name columns in any order); otherwise ``frame`` as is (by position)."""
    names = [] if names is None else list(names)
    if names and list(frame.columns) != names and set(names) <= set(frame.columns):
        return frame[names]
    return frame


class EstimatorModel:
    """A framework's scikit-learn-API estimator (XGBClassifier, LGBMRegressor...) as loaded:
    ``predict``, ``predict_proba`` and every other attribute are the estimator's own, and a
    numpy array is named with the fitted feature names (a DataFrame is unnamed for an
    estimator fitted on an array), so both kinds of input give the same answers without
    feature-name warnings."""

    _INPUT_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function")

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def predict(self, model_input: Any) -> Any:
        return self.estimator.predict(self._prepared(model_input))

    def __getattr__(self, name: str) -> Any:
        if name == "estimator":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        attr = getattr(self.estimator, name)  # AttributeError when the estimator lacks it
        if name in self._INPUT_METHODS:
            return lambda model_input, *args, **kwargs: attr(
                self._prepared(model_input), *args, **kwargs
            )
        return attr

    def _prepared(self, model_input: Any) -> Any:
        import pandas as pd

        names = getattr(self.estimator, "feature_names_in_", None)
        if isinstance(model_input, pd.DataFrame):
            return model_input.to_numpy() if names is None else in_fitted_order(model_input, names)
        return model_input if names is None else to_frame(model_input, names)

    def __repr__(self) -> str:
        return f"<EstimatorModel {self.estimator!r}>"
