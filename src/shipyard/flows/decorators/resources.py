"""@resources(cpu=1, memory=None, gpu=0): what one task of the step needs."""

from __future__ import annotations

from typing import Any, ClassVar

from shipyard.flows.decorators.base import StepDecorator, factory, positive


class ResourcesDecorator(StepDecorator):
    """The local runtime runs tasks side by side only while their requests fit the
    machine; a request larger than the whole machine runs anyway (alone), with a warning.
    ``memory`` is in MB, as in Metaflow."""

    name = "resources"
    defaults: ClassVar[dict[str, Any]] = {"cpu": 1, "memory": None, "gpu": 0}

    def check(self, flow_name: str, step: str) -> None:
        positive(flow_name, step, self.name, "cpu", self.attributes["cpu"], allow_zero=False)
        if self.attributes["memory"] is not None:
            positive(flow_name, step, self.name, "memory", self.attributes["memory"])
        positive(flow_name, step, self.name, "gpu", self.attributes["gpu"])


resources = factory(ResourcesDecorator)
