"""@retry(times=3, minutes_between_retries=2): run a failed task again."""

from __future__ import annotations

from shipyard.flows.decorators.base import StepDecorator, factory, positive


class RetryDecorator(StepDecorator):
    """Retry the step up to ``times`` more times. ``minutes_between_retries`` is accepted
    and checked, and, as on Metaflow's local runtime, not waited for: the retry runs at
    once (the delay is for remote orchestrators)."""

    name = "retry"
    defaults = {"times": 3, "minutes_between_retries": 2}

    def check(self, flow_name: str, step: str) -> None:
        times = self.attributes["times"]
        if isinstance(times, bool) or not isinstance(times, int) or times < 0:
            positive(flow_name, step, self.name, "times", -1)
        positive(
            flow_name,
            step,
            self.name,
            "minutes_between_retries",
            self.attributes["minutes_between_retries"],
        )


retry = factory(RetryDecorator)
