"""The audit log: who changed what, when, from where. Read-only through every interface.

**What is audited.** Every store call that changes what a person would answer for (a run,
a project, a model version, an alias, a feature definition, a dataset, a monitor, an
alert's state, a deployment, prediction labels, a purge) appends entries in the same
transaction as the change, on the SQL stores and on the sqlite3 fast path alike: the call
either commits with its entries or neither happens. A call writes one entry per object it
changes (``set_deleted(["a", "b"], True)`` writes ``run:a`` and ``run:b``; a model's first
version writes ``model.create`` too, a first apply ``project.create``); a batch of run
data (``log_batch``: any number of metric points, params and tags) is one entry with the
counts; a call that turns out to change nothing (resolving a resolved alert, a status set
to the one it has) writes none.

**What is not.** Bookkeeping the platform does for itself, or data rather than decisions:
heartbeats, scheduler claims, leases and cursors, monitor results, alert deliveries and
"still firing" touches, the prediction log's rows and segments, feature statistics, the
event log (itself a record of audited changes), and a flow task's row (its run is audited).
``AUDIT_EXEMPT`` names every such method of the store protocols with its reason;
``tests/store/test_audit.py`` fails for a method that changes something and is neither
audited nor listed there.

**Names.** Objects are ``kind:id``: ``project:churn``, ``run:<id>``, ``flow_run:Train/3``,
``model:churn``, ``model:churn/3``, ``model:churn@champion``, ``owner:ana``,
``<kind>:<project>/<name>`` for feature objects (``feature_view:proj/trips``),
``dataset:proj/train/2``, ``monitor:<model>/<name>``, ``alert:<id>``, ``predictions:<model>``,
``deployment:<name>``. Actions are dotted, object kind first: ``run.create``,
``model.alias.move``.

Nothing in Shipyard edits or deletes an entry: no method exists for it, and the database
refuses UPDATE and DELETE of ``audit_log`` rows (triggers, migration 0009).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    ts_ms: int
    actor: str  # a user name, or "local:<os user>"
    action: str  # run.create, model.alias.move, ...
    object: str  # run:<id>, model:churn/3, ...
    summary: dict[str, Any]  # what changed: before/after, counts
    request_id: str | None
    source: str  # the client's address, or "local"


class AuditStore(Protocol):
    """Reading the audit log; entries are written by the mutations themselves."""

    def list_audit(
        self,
        object: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[AuditEntry]:
        """Newest first. ``object`` is exact, or a prefix when it ends with ``*``
        (``model:churn*``: the model, its versions and aliases); ``action`` likewise
        (``run.*``). ``since_ms <= ts_ms < until_ms``; ``before_id`` pages back."""
        ...


# "area.method" of the store protocols that change something but write no audit entry
AUDIT_EXEMPT: dict[str, str] = {
    "identity.touch_tokens": "when a token was last used: sign-in bookkeeping, to the minute",
    "tracking.heartbeat": "liveness bookkeeping of a running process, every few seconds",
    "flows.add_task": "the task's own run is audited (run.create); this row only files it",
    "flows.finish_task": "the task's run status is audited (run.status); this stores logs",
    "features.save_feature_stats": "statistics computed by an audited apply/materialize",
    "predictions.append": "the prediction log is data (high volume), not a decision",
    "predictions.put_segment": "compaction of logged predictions into Parquet, same data",
    "monitors.add_result": "a scheduled check's outcome: data, not a decision",
    "monitors.touch_alert": "an open alert seen firing again (last_seen), bookkeeping",
    "monitors.add_delivery": "a webhook delivery attempt of an audited alert",
    "monitors.update_delivery": "a webhook delivery attempt of an audited alert",
    "events.emit": "the event log records audited changes; events are not changes",
    "events.advance_cursor": "the scheduler's position in the event log",
    "events.claim": "the scheduler claiming a firing (its runs are audited)",
    "events.update_firing": "the scheduler's progress on a firing",
    "events.renew_leases": "the scheduler's liveness",
    "events.expire_leases": "the scheduler's recovery of firings whose owner stopped",
}
