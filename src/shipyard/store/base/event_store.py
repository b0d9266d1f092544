"""Platform events, scheduler deployments and claimed firings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class EventRecord:
    """Something that happened on the platform (``alert.fired``, ``model.registered``,
    ``dataset.saved``...), as the scheduler's triggers see it."""

    id: int
    name: str
    payload: dict[str, Any]
    source: str
    created_ms: int


@dataclass(frozen=True)
class DeploymentRecord:
    """A flow file the scheduler runs: on its cron schedule and on its trigger events."""

    name: str
    flow_name: str
    path: str
    file_hash: str
    schedule: str | None
    timezone: str | None
    triggers: list[dict[str, Any]]  # [{"name", "filters", "parameters"}]
    event_cursor: int
    deployed_by: str
    created_ms: int
    updated_ms: int


@dataclass(frozen=True)
class FiringRecord:
    """One claimed firing of a deployment (a cron due time or an event) and how it went."""

    id: int
    deployment: str
    firing_key: str
    kind: str  # schedule | event
    event_id: int | None
    due_ms: int
    status: str  # claimed | running | succeeded | failed | error | lost
    claimed_by: str
    claimed_ms: int
    lease_until_ms: int
    started_ms: int | None
    finished_ms: int | None
    pid: int | None
    run_id: str | None
    flow_run: str | None
    log_path: str | None
    message: str


class EventStore(Protocol):
    """The platform's events, the scheduler's deployments and its claimed firings.

    Every method is one transaction. A firing is claimed by inserting its unique key: of
    two schedulers claiming the same key, exactly one gets the row.
    """

    def emit(
        self, name: str, payload: dict[str, Any], now_ms: int, source: str = ""
    ) -> EventRecord: ...
    def list_events(
        self, names: Sequence[str] | None = None, after_id: int = 0, limit: int | None = None
    ) -> list[EventRecord]:
        """Oldest first."""
        ...

    def latest_event_id(self) -> int: ...
    def upsert_deployment(self, deployment: DeploymentRecord) -> DeploymentRecord:
        """Create, or replace the deployment of the same name (its event cursor kept)."""
        ...

    def list_deployments(self) -> list[DeploymentRecord]: ...
    def get_deployment(self, name: str) -> DeploymentRecord: ...
    def delete_deployment(self, name: str) -> None: ...
    def advance_cursor(self, name: str, event_id: int) -> None:
        """Move the deployment's event cursor forward (never back)."""
        ...

    def unclaimed_events(
        self, deployment: str, names: Sequence[str], after_id: int
    ) -> list[EventRecord]:
        """Events named ``names`` after ``after_id`` with no firing of ``deployment``."""
        ...

    def claim(
        self,
        deployment: str,
        firing_key: str,
        kind: str,
        due_ms: int,
        event_id: int | None,
        owner: str,
        now_ms: int,
        lease_ms: int,
    ) -> FiringRecord | None:
        """The new firing, or None when another scheduler holds the key. A firing claimed
        but never started whose lease ran out is taken over."""
        ...

    def update_firing(self, firing_id: int, **values: Any) -> FiringRecord: ...
    def renew_leases(self, owner: str, firing_ids: Sequence[int], until_ms: int) -> None: ...
    def expire_leases(self, now_ms: int) -> int:
        """Firings left running by a scheduler that stopped renewing: ``lost``."""
        ...

    def firings(
        self, deployment: str | None = None, limit: int | None = None
    ) -> list[FiringRecord]:
        """Newest first."""
        ...

    def get_firing(self, firing_id: int) -> FiringRecord: ...
