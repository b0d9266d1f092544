"""What real Metaflow flows use beyond the tutorial, on Shipyard: @project, @schedule with
Metaflow's arguments, @retry on a flaky step (retried at once), @catch, @card, current's
username / parameter_names / is_production / project names, and the Storage helper."""

from shipyard import (
    FlowSpec,
    Parameter,
    Storage,
    card,
    catch,
    current,
    project,
    retry,
    schedule,
    step,
)


@project(name="tutorial")
@schedule(daily=True)
class ExtrasFlow(FlowSpec):
    size = Parameter("size", default=3)

    @card
    @retry(times=2)  # minutes_between_retries defaults to 2, as in Metaflow: not waited for
    @step
    def start(self):
        if current.retry_count == 0:
            raise RuntimeError("flaky on the first attempt")
        self.attempt = current.retry_count
        self.who = current.username
        self.parameter_names = current.parameter_names
        self.production = current.is_production
        self.project = (current.project_name, current.branch_name, current.project_flow_name)
        with Storage(run=self) as s:
            self.url = s.put("raw/numbers.txt", ",".join(str(i) for i in range(self.size)))
            s.put("raw/blob.bin", b"\x00\x01")
        self.next(self.check)

    @catch(var="problem")
    @step
    def check(self):
        with Storage(run=self) as s:
            self.numbers = s.get("raw/numbers.txt").text
            self.blob = s.get_many(["raw/blob.bin"])[0].blob
            self.keys = s.list_paths()
        if self.numbers:
            raise ValueError("caught, and the run goes on")
        self.next(self.end)

    @step
    def end(self):
        self.done = True


if __name__ == "__main__":
    ExtrasFlow()
