"""Rows to records, without SQLAlchemy: shared by the SQLAlchemy store and the sqlite3
fast path (``lite``), whose rows both read columns as attributes (``row.run_id``)."""

from __future__ import annotations

import json
from typing import Any

from shipyard.errors import AlreadyExists, Conflict, NotFound
from shipyard.store.base import (
    ArtifactRecord,
    FlowRunRecord,
    Project,
    RunRecord,
    RunStatus,
    TaskRecord,
)

# params, latest metrics and tags of one run
RunData = tuple[dict[str, str], dict[str, float], dict[str, str]]


def artifact_record(row: Any) -> ArtifactRecord:
    return ArtifactRecord(
        row.run_id, row.path, row.blob_hash, int(row.size), row.serializer, int(row.created_ms)
    )


def metric_value(value: float | None) -> float:
    """NaN is stored as NULL."""
    return float("nan") if value is None else float(value)


def run_record(row: Any, data: RunData | None = None) -> RunRecord:
    """A run row (its columns and ``project``, the project's name) with its data."""
    params, metrics, tags = data or ({}, {}, {})
    return RunRecord(
        id=row.id,
        project=row.project,
        name=row.name,
        status=RunStatus(row.status),
        start_ms=int(row.start_ms),
        end_ms=None if row.end_ms is None else int(row.end_ms),
        heartbeat_ms=int(row.heartbeat_ms),
        user=row.user,
        host=row.host,
        pid=int(row.pid),
        command=row.command,
        code_version=row.code_version,
        environment_hash=row.environment_hash,
        parent_id=row.parent_id,
        kind=row.kind,
        deleted=row.deleted_ms is not None,
        params=params,
        metrics=metrics,
        tags=tags,
    )


def flow_run_record(row: Any) -> FlowRunRecord:
    return FlowRunRecord(row.run_id, row.flow_name, int(row.number), row.origin_run_id, row.graph)


def task_record(row: Any) -> TaskRecord:
    """A tasks row joined with its run's status, start_ms and end_ms."""
    return TaskRecord(
        run_id=row.run_id,
        flow_run_id=row.flow_run_id,
        step=row.step,
        foreach_path=row.foreach_path,
        attempt=int(row.attempt),
        input_ids=json.loads(row.input_ids),
        stdout_hash=row.stdout_hash,
        stderr_hash=row.stderr_hash,
        error=row.error,
        status=RunStatus(row.status),
        start_ms=int(row.start_ms),
        end_ms=None if row.end_ms is None else int(row.end_ms),
    )


def get_or_create_project(store: Any, name: str) -> Project:
    """The project ``name``, created if missing (either store: they share this race)."""
    try:
        return store.get_project(name)  # type: ignore[no-any-return]
    except NotFound:
        pass
    try:
        return store.create_project(name)  # type: ignore[no-any-return]
    except (AlreadyExists, Conflict):  # another process created it meanwhile
        return store.get_project(name)  # type: ignore[no-any-return]
