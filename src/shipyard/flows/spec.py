"""FlowSpec: the base class of flows, written as in Metaflow.

    class TrainFlow(FlowSpec):
        alpha = Parameter("alpha", default=0.01)

        @step
        def start(self):
            self.data = load()
            self.next(self.train)
        ...

The class is read once into a ``FlowGraph`` (checked before anything runs); parameters
are class attributes holding ``Parameter`` objects.
"""

from __future__ import annotations

from typing import Any, ClassVar

from shipyard.errors import InvalidFlow
from shipyard.flows.graph import FlowGraph
from shipyard.flows.parameters import Parameter
from shipyard.flows.step import is_step


class FlowSpec:
    _graphs: ClassVar[dict[type, FlowGraph]] = {}

    def __init__(self) -> None:
        self._transition: tuple[list[str], str | None] | None = None

    @classmethod
    def graph(cls) -> FlowGraph:
        """The checked graph of this flow (built once per class)."""
        if cls not in FlowSpec._graphs:
            FlowSpec._graphs[cls] = FlowGraph(cls)
        return FlowSpec._graphs[cls]

    @classmethod
    def parameters(cls) -> dict[str, Parameter]:
        """Parameters by their command-line name; their attribute must not shadow a step."""
        found: dict[str, Parameter] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                if isinstance(value, Parameter):
                    if value.name in found and found[value.name] is not value:
                        raise InvalidFlow(
                            f"{cls.__name__}: two parameters are named '{value.name}'"
                        )
                    found[value.name] = value
                    if is_step(getattr(cls, value.name, None)):
                        raise InvalidFlow(
                            f"{cls.__name__}: parameter '{value.name}' has the "
                            f"name of a step (attribute {attr})"
                        )
        return found

    def next(self, *steps: Any, foreach: str | None = None) -> None:
        """Name the step(s) that run after this one (the last statement of every step)."""
        names = [getattr(s, "__name__", repr(s)) for s in steps]
        if self._transition is not None:
            raise InvalidFlow(f"{type(self).__name__}: self.next() was called twice in a step")
        if foreach is not None and not isinstance(foreach, str):
            raise InvalidFlow('foreach= takes the name of an artifact: foreach="items"')
        self._transition = (names, foreach)
