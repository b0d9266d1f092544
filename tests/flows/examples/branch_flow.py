"""Static branches joined with inputs.<branch> and merge_artifacts (Metaflow docs shape)."""

from shipyard.flows import FlowSpec, step


class BranchFlow(FlowSpec):
    @step
    def start(self):
        self.shared = "from start"
        self.next(self.a, self.b)

    @step
    def a(self):
        self.x = 1
        self.next(self.join)

    @step
    def b(self):
        self.x = 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = inputs.a.x + inputs.b.x
        self.merge_artifacts(inputs, exclude=["x"])
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    BranchFlow()
