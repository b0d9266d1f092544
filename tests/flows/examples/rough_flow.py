"""Steps that misbehave below Python: raw writes to fd 1/2, and a hard process exit."""

import os

from shipyard.flows import FlowSpec, Parameter, step


class RoughFlow(FlowSpec):
    crash = Parameter("crash", default=False)

    @step
    def start(self):
        os.write(1, b"raw bytes on fd 1\n")  # must not corrupt the worker's channel
        os.write(2, b"raw bytes on fd 2\n")
        self.next(self.middle)

    @step
    def middle(self):
        if self.crash:
            os._exit(3)  # the worker process dies without a word
        self.ok = True
        self.next(self.end)

    @step
    def end(self):
        pass
