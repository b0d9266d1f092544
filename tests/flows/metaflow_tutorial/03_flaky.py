# Not a tutorial episode: a flaky step and a failing one, as real flows have them.
# @retry retries at once on the local runtime; @catch stores the exception and goes on.
from metaflow import FlowSpec, catch, current, retry, step


class FlakyFlow(FlowSpec):
    """A step that fails on its first attempt, and one that always fails."""

    @retry(times=2)
    @step
    def start(self):
        self.attempt = current.retry_count
        if current.retry_count == 0:
            raise RuntimeError("flaky on the first attempt")
        self.next(self.risky)

    @catch(var="problem", print_exception=False)
    @step
    def risky(self):
        self.before = "set before the failure"
        if self.attempt:
            raise ValueError("always fails")
        self.next(self.end)

    @step
    def end(self):
        self.caught = self.problem is not None


if __name__ == "__main__":
    FlakyFlow()
