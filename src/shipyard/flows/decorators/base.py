"""Step decorators: small objects with named hooks, attached above ``@step``.

    @retry(times=2)
    @catch(var="error")
    @step
    def train(self): ...

Hooks: ``check`` (when the graph is read), ``task_pre_step`` / ``task_post_step`` (in the
worker, around the step) and ``task_exception`` (in the worker, True = handled). What
concerns scheduling (retries, timeout, resources) is read from the decorators by the
runtime through ``StepOptions``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from shipyard.errors import InvalidFlow
from shipyard.flows.step import is_step

F = TypeVar("F", bound=Callable[..., Any])


def checked_attributes(
    name: str, defaults: dict[str, Any], attributes: dict[str, Any]
) -> dict[str, Any]:
    """A decorator's arguments over its defaults; an unknown argument is an InvalidFlow."""
    unknown = sorted(set(attributes) - set(defaults))
    if unknown:
        raise InvalidFlow(
            f"@{name} has no argument {', '.join(unknown)}; its "
            f"arguments are: {', '.join(defaults) or 'none'}"
        )
    return {**defaults, **attributes}


class StepDecorator:
    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **attributes: Any) -> None:
        self.attributes = checked_attributes(self.name, self.defaults, attributes)

    def __call__(self, func: F) -> F:
        if not is_step(func):
            raise InvalidFlow(
                f"@{self.name} goes above @step (on {getattr(func, '__name__', func)})"
            )
        decorators: list[StepDecorator] = func.decorators  # type: ignore[attr-defined]
        if any(d.name == self.name for d in decorators):
            raise InvalidFlow(f"@{self.name} is given twice on step {func.__name__}")
        decorators.append(self)
        return func

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.attributes.items())
        return f"@{self.name}({args})"

    def check(self, flow_name: str, step: str) -> None:
        """Validate the arguments when the graph is read; raise InvalidFlow."""

    def task_pre_step(self, flow: Any) -> None:
        """In the worker, just before the step runs."""

    def task_post_step(self, flow: Any) -> None:
        """In the worker, after the step (whether it raised or not)."""

    def task_exception(self, flow: Any, exc: BaseException, last_attempt: bool) -> bool:
        """In the worker, when the step raised: True if the decorator handled it."""
        return False


def factory(cls: type[StepDecorator]) -> Callable[..., Any]:
    """``@name`` and ``@name(arg=...)`` both work, as in Metaflow."""

    def make(func: Callable[..., Any] | None = None, **attributes: Any) -> Any:
        decorator = cls(**attributes)
        return decorator(func) if func is not None else decorator

    make.__name__ = cls.name
    make.__doc__ = cls.__doc__
    return make


def positive(
    flow_name: str, step: str, decorator: str, name: str, value: Any, allow_zero: bool = True
) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or value < 0
        or (not allow_zero and value == 0)
    ):
        raise InvalidFlow(
            f"{flow_name}.{step}: @{decorator}({name}=...) needs a "
            f"{'non-negative' if allow_zero else 'positive'} number, got {value!r}"
        )
    return float(value)
