"""A wide foreach whose tasks each ask for a CPU (Ray executor tests and bench_ray)."""

import time

from shipyard.flows import FlowSpec, Parameter, resources, step


class WideFlow(FlowSpec):
    width = Parameter("width", default=200)
    pause = Parameter("pause", default=0.0)

    @step
    def start(self):
        self.items = list(range(self.width))
        print("start ran")
        self.next(self.work, foreach="items")

    @resources(cpu=1)
    @step
    def work(self):
        time.sleep(self.pause)
        self.square = self.input**2
        print(f"item {self.input}")
        self.next(self.join)

    @step
    def join(self, inputs):
        self.squares = [i.square for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        self.total = sum(self.squares)


if __name__ == "__main__":
    WideFlow()
