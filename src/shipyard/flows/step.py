"""The ``@step`` marker: a step is a method of a FlowSpec that ends with ``self.next``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

STEP_MARK = "_shipyard_step"


def step(func: F) -> F:
    """Mark a FlowSpec method as a step of the flow."""
    if not callable(func):
        raise TypeError("@step decorates a method: def start(self): ...")
    setattr(func, STEP_MARK, True)
    if not hasattr(func, "decorators"):
        func.decorators = []  # type: ignore[attr-defined]  # step decorators attach here
    return func


def is_step(obj: Any) -> bool:
    return callable(obj) and getattr(obj, STEP_MARK, False) is True
