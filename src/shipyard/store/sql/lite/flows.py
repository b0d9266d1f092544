"""LiteFlowStore: flow runs and tasks through sqlite3, as ``SqlFlowStore`` writes them."""

from __future__ import annotations

import json
import sqlite3

from shipyard.errors import NotFound
from shipyard.store.base import FlowRunRecord, TaskRecord
from shipyard.store.sql.audit_entry import record_audit_sqlite
from shipyard.store.sql.lite.database import LiteDatabase
from shipyard.store.sql.records import flow_run_record, task_record

_TASKS = (
    "SELECT tasks.*, runs.status, runs.start_ms, runs.end_ms FROM tasks "
    "JOIN runs ON runs.id = tasks.run_id WHERE tasks.flow_run_id = ?"
)
_TASK_ORDER = " ORDER BY runs.start_ms, tasks.foreach_path, tasks.attempt"


class LiteFlowStore:
    def __init__(self, lite: LiteDatabase) -> None:
        self.lite = lite

    def create_flow_run(
        self, run_id: str, flow_name: str, graph: str, origin_run_id: str | None = None
    ) -> FlowRunRecord:
        """Number the run after the flow's previous ones (TrainFlow/1, /2, …)."""

        def _create(conn: sqlite3.Connection) -> FlowRunRecord:
            last = conn.execute(
                "SELECT max(number) FROM flow_runs WHERE flow_name = ?", (flow_name,)
            ).fetchone()[0]
            number = int(last or 0) + 1
            conn.execute(
                "INSERT INTO flow_runs (run_id, flow_name, number, origin_run_id, graph) "
                "VALUES (?, ?, ?, ?, ?)",
                (run_id, flow_name, number, origin_run_id, graph),
            )
            summary = {"run_id": run_id, "origin_run_id": origin_run_id}
            record_audit_sqlite(conn, "flow_run.create", f"flow_run:{flow_name}/{number}", summary)
            return FlowRunRecord(run_id, flow_name, number, origin_run_id, graph)

        return self.lite.write_numbered(_create)

    def get_flow_run(self, flow_name: str, number: int) -> FlowRunRecord:
        row = self.lite.read(
            lambda c: c.execute(
                "SELECT * FROM flow_runs WHERE flow_name = ? AND number = ?", (flow_name, number)
            ).fetchone()
        )
        if row is None:
            raise NotFound(f"no run {flow_name}/{number}; `shipyard flows ls` lists flows")
        return flow_run_record(row)

    def flow_run_of(self, run_id: str) -> FlowRunRecord:
        row = self.lite.read(
            lambda c: c.execute("SELECT * FROM flow_runs WHERE run_id = ?", (run_id,)).fetchone()
        )
        if row is None:
            raise NotFound(f"run {run_id} is not a flow run")
        return flow_run_record(row)

    def list_flow_runs(self, flow_name: str | None = None) -> list[FlowRunRecord]:
        query = (
            "SELECT flow_runs.* FROM flow_runs JOIN runs ON runs.id = flow_runs.run_id "
            "WHERE runs.deleted_ms IS NULL"
        )
        args: tuple[str, ...] = ()
        if flow_name is not None:
            query, args = query + " AND flow_runs.flow_name = ?", (flow_name,)
        query += " ORDER BY flow_runs.flow_name, flow_runs.number DESC"
        rows = self.lite.read(lambda c: c.execute(query, args).fetchall())
        return [flow_run_record(r) for r in rows]

    def add_task(self, task: TaskRecord) -> None:
        self.lite.write(
            lambda c: c.execute(
                "INSERT INTO tasks (run_id, flow_run_id, step, foreach_path, attempt, input_ids) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    task.run_id,
                    task.flow_run_id,
                    task.step,
                    task.foreach_path,
                    task.attempt,
                    json.dumps(task.input_ids),
                ),
            )
        )

    def finish_task(
        self, run_id: str, stdout_hash: str | None, stderr_hash: str | None, error: str | None
    ) -> None:
        self.lite.write(
            lambda c: c.execute(
                "UPDATE tasks SET stdout_hash = ?, stderr_hash = ?, error = ? WHERE run_id = ?",
                (stdout_hash, stderr_hash, error, run_id),
            )
        )

    def tasks(self, flow_run_id: str, step: str | None = None) -> list[TaskRecord]:
        query, args = _TASKS, (flow_run_id,) if step is None else (flow_run_id, step)
        if step is not None:
            query += " AND tasks.step = ?"
        query += _TASK_ORDER
        return [task_record(r) for r in self.lite.read(lambda c: c.execute(query, args).fetchall())]
