"""A step that assigns something that cannot be stored (unless told not to)."""

import threading

from shipyard.flows import FlowSpec, Parameter, step


class UnpicklableFlow(FlowSpec):
    keep_lock = Parameter("keep_lock", default=True)

    @step
    def start(self):
        self.numbers = [1, 2, 3]
        self.next(self.hold)

    @step
    def hold(self):
        if self.keep_lock:
            self.lock = threading.Lock()
        self.next(self.end)

    @step
    def end(self):
        pass
