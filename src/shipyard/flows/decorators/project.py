"""@project(name=...): the flow belongs to a project, as in Metaflow.

Its runs (and their tasks) are recorded in the Shipyard project ``name`` instead of the
project named after the flow, and carry Metaflow's namespace tags ``project:<name>`` and
``project_branch:<branch>`` (``namespace("project:<name>")`` sees them). The branch is
``user.<username>`` unless ``branch=`` names one (``test.<branch>``) or ``production=True``
(``prod``, and ``current.is_production`` is True). In the steps: ``current.project_name``,
``current.branch_name``, ``current.project_flow_name`` (``<name>.<branch>.<Flow>``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from shipyard._names import project_name
from shipyard.errors import InvalidArgument, InvalidFlow
from shipyard.flows.decorators.flow_base import FlowDecorator, flow_factory


class ProjectDecorator(FlowDecorator):
    """Put the flow's runs in project ``name`` (see the module's docstring)."""

    name = "project"
    defaults: ClassVar[dict[str, Any]] = {"name": None, "branch": None, "production": False}

    def check(self, flow_name: str) -> None:
        try:
            project_name(self.attributes["name"])
        except InvalidArgument as exc:
            raise InvalidFlow(f"{flow_name}: @project(name=...): {exc.message}") from None
        branch = self.attributes["branch"]
        if branch is not None and (not isinstance(branch, str) or not branch.isidentifier()):
            raise InvalidFlow(f"{flow_name}: @project(branch=...) takes a name, got {branch!r}")

    def branch_for(self, username: str) -> str:
        if self.attributes["production"]:
            return "prod"
        if self.attributes["branch"]:
            return f"test.{self.attributes['branch']}"
        return f"user.{username}"


project = flow_factory(ProjectDecorator)
