"""@catch(var=None, print_exception=True): a failing step does not fail the run."""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass
from typing import Any, ClassVar

from shipyard.errors import InvalidFlow
from shipyard.flows.decorators.base import StepDecorator, factory


@dataclass(frozen=True)
class CaughtException:
    """What @catch stores in ``self.<var>``: picklable, unlike many exceptions."""

    type: str
    message: str
    traceback: str

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"


class CatchDecorator(StepDecorator):
    """When the step raises on its last attempt, store the exception in ``self.<var>``
    (if given) and go on to the next step as if it had succeeded."""

    name = "catch"
    defaults: ClassVar[dict[str, Any]] = {"var": None, "print_exception": True}

    def check(self, flow_name: str, step: str) -> None:
        var = self.attributes["var"]
        if var is not None and (not isinstance(var, str) or not var.isidentifier()):
            raise InvalidFlow(f"{flow_name}.{step}: @catch(var=...) needs an attribute name")

    def task_exception(self, flow: Any, exc: BaseException, last_attempt: bool) -> bool:
        if not last_attempt or not isinstance(exc, Exception):
            return False
        caught = CaughtException(type(exc).__name__, str(exc), traceback.format_exc())
        if self.attributes["print_exception"]:
            print(f"@catch caught {caught}", file=sys.stderr)
        if self.attributes["var"]:
            setattr(flow, self.attributes["var"], caught)
        return True


catch = factory(CatchDecorator)
