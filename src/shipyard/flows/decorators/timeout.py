"""@timeout(seconds=0, minutes=0, hours=0): stop a task that runs too long."""

from __future__ import annotations

from shipyard.errors import InvalidFlow
from shipyard.flows.decorators.base import StepDecorator, factory, positive


class TimeoutDecorator(StepDecorator):
    """The task's worker process is stopped after this long; the task fails (and is
    retried if the step has @retry)."""

    name = "timeout"
    defaults = {"seconds": 0, "minutes": 0, "hours": 0}

    @property
    def total_seconds(self) -> float:
        a = self.attributes
        return float(a["seconds"]) + 60 * float(a["minutes"]) + 3600 * float(a["hours"])

    def check(self, flow_name: str, step: str) -> None:
        for unit in self.defaults:
            positive(flow_name, step, self.name, unit, self.attributes[unit])
        if self.total_seconds <= 0:
            raise InvalidFlow(f"{flow_name}.{step}: @timeout needs seconds, minutes or hours")


timeout = factory(TimeoutDecorator)
