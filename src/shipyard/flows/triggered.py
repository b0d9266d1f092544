"""What started a run: ``current.trigger``, as in Metaflow.

The scheduler passes the trigger to the flow's process as JSON in ``SHIPYARD_TRIGGER``;
the runtime reads it, tags the flow run with it (so lineage reads alert -> run) and links
the scheduler's firing to the run. A run started by hand has no trigger (None).

    if current.trigger:
        event = current.trigger.event      # .name .id .payload .timestamp .source
        alert_id = event.payload["alert_id"]
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shipyard._clock import from_millis, to_millis

ENV = "SHIPYARD_TRIGGER"
# payload fields copied into run tags as shipyard.trigger.<field>, for lineage queries
LINK_FIELDS = ("alert_id", "monitor", "model", "version", "dataset", "project")


@dataclass(frozen=True)
class TriggerEvent:
    name: str
    id: int
    payload: dict[str, Any]
    timestamp: datetime
    source: str = ""


@dataclass(frozen=True)
class Trigger:
    """``type`` is ``"event"`` or ``"schedule"``; ``due`` is the cron time a scheduled run
    was due at; ``events`` the event(s) that started an event run (``event``: the first)."""

    type: str
    deployment: str
    firing_id: int
    events: tuple[TriggerEvent, ...] = field(default_factory=tuple)
    due: datetime | None = None

    @property
    def event(self) -> TriggerEvent | None:
        return self.events[0] if self.events else None

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.events]

    def to_json(self) -> str:
        return json.dumps(
            {
                "type": self.type,
                "deployment": self.deployment,
                "firing_id": self.firing_id,
                "due_ms": None if self.due is None else to_millis(self.due),
                "events": [
                    {
                        "name": e.name,
                        "id": e.id,
                        "payload": e.payload,
                        "source": e.source,
                        "timestamp_ms": to_millis(e.timestamp),
                    }
                    for e in self.events
                ],
            },
            default=str,
        )

    @classmethod
    def from_json(cls, text: str) -> Trigger:
        data = json.loads(text)
        events = tuple(
            TriggerEvent(
                e["name"],
                int(e["id"]),
                dict(e["payload"]),
                from_millis(e["timestamp_ms"]),
                e.get("source", ""),
            )
            for e in data.get("events", [])
        )
        due = data.get("due_ms")
        return cls(
            data["type"], data["deployment"], int(data["firing_id"]), events,
            None if due is None else from_millis(due),
        )  # fmt: skip

    def tags(self) -> dict[str, str]:
        """The flow run's tags that record this trigger."""
        tags = {
            "shipyard.trigger": self.type,
            "shipyard.trigger.deployment": self.deployment,
            "shipyard.trigger.firing": str(self.firing_id),
        }
        if self.due is not None:
            tags["shipyard.trigger.due"] = self.due.isoformat()
        event = self.event
        if event is not None:
            tags["shipyard.trigger.event"] = event.name
            tags["shipyard.trigger.event_id"] = str(event.id)
            for key in LINK_FIELDS:
                value = event.payload.get(key)
                if isinstance(value, str | int) and not isinstance(value, bool):
                    tags[f"shipyard.trigger.{key}"] = str(value)
        return tags


_cache: dict[str, Trigger] = {}


def current_trigger() -> Trigger | None:
    """The trigger of this process's run, from ``SHIPYARD_TRIGGER``; None when started by
    hand. A value that cannot be read is an error, never silently no trigger."""
    text = os.environ.get(ENV)
    if not text:
        return None
    if text not in _cache:
        from shipyard.errors import InvalidArgument

        try:
            _cache[text] = Trigger.from_json(text)
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidArgument(
                f"{ENV} does not hold a trigger ({type(exc).__name__}: {exc}); unset it to "
                "run the flow by hand"
            ) from exc
    return _cache[text]
