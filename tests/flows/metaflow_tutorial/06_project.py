# Not a tutorial episode: @project and what `current` tells a step about the run.
from metaflow import FlowSpec, Parameter, current, project, step


@project(name="tutorial")
class ProjectFlow(FlowSpec):
    """A flow of the project 'tutorial'."""

    size = Parameter("size", default=3)

    @step
    def start(self):
        self.project = [current.project_name, current.branch_name, current.project_flow_name]
        self.production = current.is_production
        self.who = current.username
        self.param_names = sorted(current.parameter_names)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ProjectFlow()
