"""Four tasks that each ask for a GPU (local GPU tests: fake device ids by setting)."""

import os
import time

from shipyard.flows import FlowSpec, resources, step


class GpuFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(4))
        self.next(self.train, foreach="items")

    @resources(gpu=1)
    @step
    def train(self):
        self.began = time.time()
        self.devices = os.environ["CUDA_VISIBLE_DEVICES"]
        time.sleep(0.3)
        self.ended = time.time()
        self.next(self.join)

    @step
    def join(self, inputs):
        self.devices = sorted(i.devices for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        self.outside = os.environ.get("CUDA_VISIBLE_DEVICES")
