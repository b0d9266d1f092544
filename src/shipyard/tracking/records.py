"""What users get back from the tracking API: runs with datetimes, not store rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shipyard._clock import from_millis
from shipyard.store import RunRecord, RunStatus


@dataclass(frozen=True)
class Run:
    id: str
    project: str
    name: str
    status: RunStatus
    start_time: datetime
    end_time: datetime | None
    user: str
    host: str
    pid: int
    command: str
    code_version: str
    environment_hash: str | None
    parent_id: str | None
    kind: str
    deleted: bool
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_record(cls, record: RunRecord) -> Run:
        return cls(
            id=record.id,
            project=record.project,
            name=record.name,
            status=record.status,
            start_time=from_millis(record.start_ms),
            end_time=None if record.end_ms is None else from_millis(record.end_ms),
            user=record.user,
            host=record.host,
            pid=record.pid,
            command=record.command,
            code_version=record.code_version,
            environment_hash=record.environment_hash,
            parent_id=record.parent_id,
            kind=record.kind,
            deleted=record.deleted,
            params=dict(record.params),
            metrics=dict(record.metrics),
            tags=dict(record.tags),
        )

    @property
    def duration(self) -> timedelta | None:
        return None if self.end_time is None else self.end_time - self.start_time

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        data["start_time"] = self.start_time.isoformat()
        data["end_time"] = self.end_time.isoformat() if self.end_time else None
        return data
