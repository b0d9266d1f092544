"""Every step decorator at work: retry, catch, timeout, environment, resources."""

import os
import time

from shipyard.flows import (
    FlowSpec,
    Parameter,
    catch,
    current,
    environment,
    resources,
    retry,
    step,
    timeout,
)


class DecoratedFlow(FlowSpec):
    sleep = Parameter("sleep", default=0.0)

    @retry(times=2, minutes_between_retries=0)
    @step
    def start(self):
        self.attempts_seen = current.retry_count
        if current.retry_count < 1:
            raise RuntimeError("flaky on the first attempt")
        self.next(self.risky)

    @catch(var="problem")
    @step
    def risky(self):
        self.rows = [1, 2]
        self.picked = self.rows[17]  # IndexError: @catch keeps the run going
        self.next(self.configured)

    @environment(vars={"SHIPYARD_DEMO_MODE": "on"})
    @resources(memory=128_000_000, cpu=1)
    @step
    def configured(self):
        self.mode = os.environ.get("SHIPYARD_DEMO_MODE")
        self.next(self.slow)

    @timeout(seconds=1)
    @step
    def slow(self):
        time.sleep(self.sleep)
        self.next(self.end)

    @step
    def end(self):
        self.mode_after = os.environ.get("SHIPYARD_DEMO_MODE")
