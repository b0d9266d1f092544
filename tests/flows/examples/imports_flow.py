"""A linear flow whose last step records whether its worker has imported SQLAlchemy."""

import sys

from shipyard.flows import FlowSpec, step


class ImportsFlow(FlowSpec):
    @step
    def start(self):
        self.x = 1
        self.next(self.middle)

    @step
    def middle(self):
        self.x += 1
        self.next(self.end)

    @step
    def end(self):
        self.sqlalchemy_in_worker = "sqlalchemy" in sys.modules


if __name__ == "__main__":
    ImportsFlow()
