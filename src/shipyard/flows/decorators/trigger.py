"""@trigger: run the flow when an event happens on the platform, once deployed.

    @trigger(event="alert.fired")
    @trigger(events=["model.registered", "dataset.saved"])
    @trigger(event={"name": "alert.fired", "filters": {"model": "churn"},
                    "parameters": {"alert": "alert_id"}})

Events: ``alert.fired``, ``alert.resolved`` (monitors), ``model.registered`` (registry),
``dataset.saved`` (feature store), and any name sent with `shipyard scheduler emit`.
``filters``: payload fields that must equal the given values. ``parameters``: flow
parameter -> payload field, passed to the run (a list means the same names), as in Metaflow.
Unlike Metaflow, several events are alternatives: any one of them starts a run.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from shipyard.errors import InvalidFlow
from shipyard.flows.decorators.flow_base import FlowDecorator, flow_factory

_EVENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


class TriggerDecorator(FlowDecorator):
    """Start a run for each event named ``event`` (or any of ``events``) whose payload
    matches the filters."""

    name = "trigger"
    defaults: ClassVar[dict[str, Any]] = {"event": None, "events": None}

    def check(self, flow_name: str) -> None:
        self.specs = _specs(flow_name, self.attributes["event"], self.attributes["events"])


def _specs(flow_name: str, event: Any, events: Any) -> list[dict[str, Any]]:
    where = f"{flow_name}: @trigger"
    if (event is None) == (events is None):
        raise InvalidFlow(f"{where} takes event=... or events=[...] (one of them)")
    if event is not None:
        return [_spec(where, event)]
    if not isinstance(events, list | tuple) or not events:
        raise InvalidFlow(f"{where}(events=...) takes a non-empty list of events")
    return [_spec(where, item) for item in events]


def _spec(where: str, item: Any) -> dict[str, Any]:
    if isinstance(item, str):
        item = {"name": item}
    if not isinstance(item, dict):
        raise InvalidFlow(f"{where}: an event is a name or a dict with 'name', got {item!r}")
    unknown = sorted(set(item) - {"name", "filters", "parameters"})
    if unknown:
        raise InvalidFlow(
            f"{where}: an event has no key {', '.join(map(repr, unknown))}; "
            "its keys are 'name', 'filters', 'parameters'"
        )
    name = item.get("name")
    if not isinstance(name, str) or not _EVENT_NAME.match(name):
        raise InvalidFlow(f"{where}: {name!r} is not an event name (e.g. 'alert.fired')")
    filters = item.get("filters") or {}
    if not isinstance(filters, dict) or not all(isinstance(k, str) for k in filters):
        raise InvalidFlow(f"{where}: the filters of {name!r} map payload fields to values")
    parameters = item.get("parameters") or {}
    if isinstance(parameters, list | tuple):
        parameters = {str(p): str(p) for p in parameters}
    if not isinstance(parameters, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in parameters.items()
    ):
        raise InvalidFlow(
            f"{where}: the parameters of {name!r} map flow parameters to payload fields"
        )
    return {"name": name, "filters": dict(filters), "parameters": dict(parameters)}


def matches(spec: dict[str, Any], name: str, payload: dict[str, Any]) -> bool:
    """Whether an event (``name``, ``payload``) starts a run of the trigger ``spec``."""
    if spec["name"] != name:
        return False
    return all(_equal(payload.get(k), v) for k, v in spec.get("filters", {}).items())


def _equal(actual: Any, wanted: Any) -> bool:
    return actual == wanted or (actual is not None and str(actual) == str(wanted))


trigger = flow_factory(TriggerDecorator)
