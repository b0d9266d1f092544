"""Metaflow tutorial 00 (helloworld) with only the import line changed."""

from shipyard.flows import FlowSpec, step


class HelloFlow(FlowSpec):
    """A flow where Shipyard prints 'Hi'."""

    @step
    def start(self):
        """This is the 'start' step."""
        print("HelloFlow is starting.")
        self.next(self.hello)

    @step
    def hello(self):
        """A step for Shipyard to introduce itself."""
        print("Shipyard says: Hi!")
        self.next(self.end)

    @step
    def end(self):
        print("HelloFlow is all done.")


if __name__ == "__main__":
    HelloFlow()
