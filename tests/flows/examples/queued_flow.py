"""Tasks that each take most of their @timeout, more of them than CPUs: the later ones
wait in the executor's queue longer than the timeout, which must not count."""

import time

from shipyard.flows import FlowSpec, resources, step, timeout


class QueuedFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(6))
        self.next(self.work, foreach="items")

    @timeout(seconds=2)
    @resources(cpu=1)
    @step
    def work(self):
        time.sleep(0.8)
        self.done = self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.done = sorted(i.done for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass
