"""@environment(vars={...}): environment variables set while the step runs."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from shipyard.errors import InvalidFlow
from shipyard.flows.decorators.base import StepDecorator, factory


class EnvironmentDecorator(StepDecorator):
    """Set environment variables for the step (restored afterwards: workers are reused)."""

    name = "environment"
    defaults: ClassVar[dict[str, Any]] = {"vars": {}}

    def check(self, flow_name: str, step: str) -> None:
        values = self.attributes["vars"]
        if not isinstance(values, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in values.items()
        ):
            raise InvalidFlow(
                f"{flow_name}.{step}: @environment(vars=...) takes a dict of strings to strings"
            )

    def task_pre_step(self, flow: Any) -> None:
        self._saved = {k: os.environ.get(k) for k in self.attributes["vars"]}
        os.environ.update(self.attributes["vars"])

    def task_post_step(self, flow: Any) -> None:
        for key, value in getattr(self, "_saved", {}).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


environment = factory(EnvironmentDecorator)
