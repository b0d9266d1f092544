"""Where each task runs (its process, that process's parent, command line and siblings),
a step whose first attempt kills its worker, and a line the flow file prints before the
run starts (left in the stdout buffer: stdout is a pipe in the tests)."""

import os

import psutil

from shipyard.flows import FlowSpec, Parameter, current, retry, step

print("printed by the flow file before the run")


def where():
    me = psutil.Process()
    runner = me.parent()
    return {
        "pid": me.pid,
        "runner": runner.pid,
        "cmdline": me.cmdline(),
        "runner_children": sorted(child.pid for child in runner.children()),
    }


class WhereFlow(FlowSpec):
    crash = Parameter("crash", default=False)

    @step
    def start(self):
        print("start ran")
        self.places = [where()]
        self.next(self.middle)

    @retry(times=1, minutes_between_retries=0)
    @step
    def middle(self):
        if self.crash and current.retry_count == 0:
            os._exit(3)  # the worker process dies; the retry runs in another one
        self.places = [*self.places, where()]
        self.next(self.end)

    @step
    def end(self):
        self.places = [*self.places, where()]


if __name__ == "__main__":
    WhereFlow()
