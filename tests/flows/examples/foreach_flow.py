"""Nested foreach with parameters, including a JSON one (Metaflow tutorial shapes)."""

import shipyard
from shipyard.flows import FlowSpec, JSONType, Parameter, current, step


class ForeachFlow(FlowSpec):
    scale = Parameter("scale", default=1.0, help="multiplier")
    groups = Parameter("groups", type=JSONType, default='{"a": [1, 2], "b": [3]}')

    @step
    def start(self):
        self.names = sorted(self.groups)
        self.next(self.group, foreach="names")

    @step
    def group(self):
        self.name = self.input
        self.members = self.groups[self.input]
        self.next(self.member, foreach="members")

    @step
    def member(self):
        self.value = self.input * self.scale
        self.where = current.pathspec
        shipyard.log_metric("value", self.value)
        self.next(self.group_join)

    @step
    def group_join(self, inputs):
        self.name = inputs[0].name
        self.sum = sum(i.value for i in inputs)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.sums = {i.name: i.sum for i in inputs}
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ForeachFlow()
