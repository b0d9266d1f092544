"""A flow whose middle step raises."""

from shipyard.flows import FlowSpec, Parameter, step


class FailingFlow(FlowSpec):
    divisor = Parameter("divisor", default=0)

    @step
    def start(self):
        self.numbers = [1, 2]
        self.next(self.divide)

    @step
    def divide(self):
        print("about to divide")
        self.result = [n / self.divisor for n in self.numbers]
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    FailingFlow()
