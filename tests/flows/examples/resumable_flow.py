"""A flow that fails in its foreach body while a marker file exists (resume tests)."""

import os
import time

from shipyard.flows import FlowSpec, Parameter, step


class ResumableFlow(FlowSpec):
    marker = Parameter("marker", default="")
    pause = Parameter("pause", default=0.0)

    @step
    def start(self):
        self.items = list(range(6))
        self.base = 100
        print("start ran")
        self.next(self.work, foreach="items")

    @step
    def work(self):
        time.sleep(self.pause)
        if self.marker and os.path.exists(self.marker) and self.input == 4:
            raise RuntimeError("item 4 is broken while the marker exists")
        self.value = self.base + self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.values = sorted(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        self.total = sum(self.values)


if __name__ == "__main__":
    ResumableFlow()
