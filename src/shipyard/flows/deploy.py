"""`shipyard scheduler deploy FILE`: read a flow file's @schedule and @trigger and store it
as a deployment the scheduler runs (Metaflow's analogue: ``python flow.py argo-workflows
create``).

The store keeps the file's absolute path, its flow class, schedule and triggers, and the
sha256 of the file when deployed; each firing runs the file at that path (so its sibling
modules and data files are found), and `shipyard scheduler ls` says when the file changed
since it was deployed. A deployment sees only the events emitted, and the cron due times
that fell, after it was first deployed (a redeploy keeps its place).
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

from shipyard._clock import to_millis
from shipyard.errors import InvalidArgument, InvalidFlow, NotFound, ShipyardError
from shipyard.flows.decorators.flow_base import flow_decorators
from shipyard.flows.decorators.schedule import ScheduleDecorator
from shipyard.flows.decorators.trigger import TriggerDecorator
from shipyard.flows.spec import FlowSpec
from shipyard.store.base import DeploymentRecord
from shipyard.tracking import Client, current_user

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_flow_class(path: Path, flow: str | None = None) -> type[FlowSpec]:
    """Import the flow file (not as ``__main__``, so its command line does not run) and
    return its FlowSpec class (``flow``: which one, when it defines several)."""
    if not path.is_file():
        raise NotFound(f"flow file {path} does not exist")
    module_name = f"_shipyard_deploy_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise InvalidFlow(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # the flow's sibling modules, as when it runs
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except ShipyardError:
        raise
    except Exception as exc:
        detail = str(exc).splitlines()[0] if str(exc) else ""
        raise InvalidFlow(f"{path} could not be imported: {type(exc).__name__}: {detail}") from exc
    finally:
        sys.path.remove(str(path.parent))
    found = {
        v.__name__: v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, FlowSpec) and v.__module__ == module_name
    }
    if flow is not None:
        if flow not in found:
            raise NotFound(f"{path} has no flow {flow!r}; it has: {', '.join(found) or 'none'}")
        return found[flow]
    if len(found) != 1:
        what = (
            f"several flows ({', '.join(sorted(found))}); say which with --flow"
            if found
            else "no FlowSpec class"
        )
        raise InvalidFlow(f"{path} has {what}")
    return next(iter(found.values()))


def deployment_of(
    flow_cls: type[FlowSpec], path: Path, name: str | None = None
) -> tuple[str, str | None, str | None, list[dict[str, Any]]]:
    """(name, cron, timezone, trigger specs) of a flow class; checked."""
    name = name or flow_cls.__name__
    if not _NAME.match(name):
        raise InvalidArgument(
            f"deployment name {name!r} must be 1-128 letters, digits, '_', '.', '-'"
        )
    flow_cls.graph()  # a flow that cannot run is refused now, not at its first firing
    decorators = flow_decorators(flow_cls)
    sched = decorators.get("schedule")
    trig = decorators.get("trigger")
    if sched is None and trig is None:
        raise InvalidFlow(
            f"{flow_cls.__name__} in {path} has neither @schedule nor @trigger; add one "
            "(e.g. @schedule(hourly=True) or @trigger(event='alert.fired')) to deploy it"
        )
    triggers: list[dict[str, Any]] = []
    if isinstance(trig, TriggerDecorator):
        triggers = trig.specs
        declared = {p.name for p in flow_cls.parameters().values()}
        for t in triggers:
            unknown = sorted(set(t["parameters"]) - declared)
            if unknown:
                known = ", ".join(sorted(declared)) or "none"
                raise InvalidFlow(
                    f"{flow_cls.__name__}: @trigger passes {', '.join(unknown)} but the flow "
                    f"has no such parameter (its parameters: {known})"
                )
    cron = sched.cron if isinstance(sched, ScheduleDecorator) else None
    zone = sched.timezone if isinstance(sched, ScheduleDecorator) else None
    return name, cron, zone, triggers


def deploy(
    path: str | Path,
    *,
    name: str | None = None,
    flow: str | None = None,
    client: Client | None = None,
) -> DeploymentRecord:
    """Store (or replace) the deployment of the flow in ``path``."""
    client = client or Client()
    resolved = Path(path).expanduser().resolve()
    flow_cls = load_flow_class(resolved, flow)
    dep_name, cron, zone, triggers = deployment_of(flow_cls, resolved, name)
    now = to_millis(client.clock.now())
    events = client.store.events
    return events.upsert_deployment(
        DeploymentRecord(
            name=dep_name,
            flow_name=flow_cls.__name__,
            path=str(resolved),
            file_hash=file_hash(resolved),
            schedule=cron,
            timezone=zone,
            triggers=triggers,
            event_cursor=events.latest_event_id(),  # only events from now on
            deployed_by=current_user() or "unknown",
            created_ms=now,
            updated_ms=now,
        )
    )


def undeploy(name: str, client: Client | None = None) -> None:
    """Remove a deployment; its firing history stays."""
    (client or Client()).store.events.delete_deployment(name)
