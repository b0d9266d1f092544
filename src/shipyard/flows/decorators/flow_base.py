"""Flow decorators: small objects attached to a FlowSpec class, as in Metaflow.

    @schedule(hourly=True)
    @trigger(event="alert.fired")
    class TrainFlow(FlowSpec): ...

Arguments are checked when the class is decorated, so a malformed cron fails the import of
the flow file (and `shipyard scheduler deploy`) in one line. ``flow_decorators(cls)`` reads
them back; a subclass inherits its parents' and may replace them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from shipyard.errors import InvalidFlow
from shipyard.flows.decorators.base import checked_attributes

T = TypeVar("T", bound=type)

_ATTRIBUTE = "_shipyard_flow_decorators"


class FlowDecorator:
    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **attributes: Any) -> None:
        self.attributes = checked_attributes(self.name, self.defaults, attributes)
        self.given = dict(attributes)

    def __call__(self, cls: T) -> T:
        from shipyard.flows.spec import FlowSpec

        if not (isinstance(cls, type) and issubclass(cls, FlowSpec)):
            raise InvalidFlow(
                f"@{self.name} goes on a FlowSpec class (on {getattr(cls, '__name__', cls)})"
            )
        own = cls.__dict__.get(_ATTRIBUTE)
        if own is not None and self.name in own:
            raise InvalidFlow(f"@{self.name} is given twice on {cls.__name__}")
        self.check(cls.__name__)
        found = {**flow_decorators(cls), self.name: self}
        setattr(cls, _ATTRIBUTE, found)
        return cls

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.given.items())
        return f"@{self.name}({args})"

    def check(self, flow_name: str) -> None:
        """Validate the arguments; raise InvalidFlow."""


def flow_decorators(cls: type) -> dict[str, FlowDecorator]:
    """The flow decorators of ``cls`` by name (inherited ones included)."""
    return dict(getattr(cls, _ATTRIBUTE, {}))


def flow_factory(cls: type[FlowDecorator]) -> Callable[..., Any]:
    """``@name`` and ``@name(arg=...)`` both work, as in Metaflow."""

    def make(flow: type | None = None, **attributes: Any) -> Any:
        decorator = cls(**attributes)
        return decorator(flow) if flow is not None else decorator

    make.__name__ = cls.name
    make.__doc__ = cls.__doc__
    return make
