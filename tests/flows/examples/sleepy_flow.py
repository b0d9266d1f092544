"""A step that naps (it writes the file named by SHIPYARD_TEST_READY first, so a test
knows when to press Ctrl-C) and a step that overruns its 1-second @timeout."""

import os
import time
from pathlib import Path

from shipyard.flows import FlowSpec, Parameter, step, timeout


class SleepyFlow(FlowSpec):
    nap = Parameter("nap", default=0.0)
    overrun = Parameter("overrun", default=0.0)

    @step
    def start(self):
        self.next(self.napping)

    @step
    def napping(self):
        if self.nap:
            Path(os.environ["SHIPYARD_TEST_READY"]).write_text("napping")
            time.sleep(self.nap)
        self.next(self.limited)

    @timeout(seconds=1)
    @step
    def limited(self):
        time.sleep(self.overrun)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SleepyFlow()
