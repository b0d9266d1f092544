# Metaflow tutorial, episode 00: a linear flow. Written for Metaflow; the tests run it
# with `from metaflow import` and with the import line changed to `from shipyard import`.
from metaflow import FlowSpec, current, step


class HelloFlow(FlowSpec):
    """A flow where Metaflow prints 'Hi'."""

    @step
    def start(self):
        print("HelloFlow is starting.")
        self.next(self.hello)

    @step
    def hello(self):
        self.greeting = "Metaflow says: Hi!"
        self.seen_run_id = current.run_id
        self.seen_pathspec = current.pathspec
        print(self.greeting)
        self.next(self.end)

    @step
    def end(self):
        print("HelloFlow is all done.")


if __name__ == "__main__":
    HelloFlow()
