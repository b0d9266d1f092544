"""SqlFlowStore: flow runs and tasks, sharing the tracking store's database."""

from __future__ import annotations

import json

from sqlalchemy import Connection, func, insert, select, update

from shipyard.errors import NotFound
from shipyard.store.base import FlowRunRecord, TaskRecord
from shipyard.store.sql.audit import record_audit
from shipyard.store.sql.engine import Database
from shipyard.store.sql.records import flow_run_record as _flow_run
from shipyard.store.sql.records import task_record as _task
from shipyard.store.sql.tables import flow_runs, runs, tasks


class SqlFlowStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create_flow_run(
        self, run_id: str, flow_name: str, graph: str, origin_run_id: str | None = None
    ) -> FlowRunRecord:
        """Number the run after the flow's previous ones (TrainFlow/1, /2, …)."""

        def _create(conn: Connection) -> FlowRunRecord:
            last = conn.execute(
                select(func.max(flow_runs.c.number)).where(flow_runs.c.flow_name == flow_name)
            ).scalar()
            number = int(last or 0) + 1
            conn.execute(
                insert(flow_runs).values(
                    run_id=run_id,
                    flow_name=flow_name,
                    number=number,
                    origin_run_id=origin_run_id,
                    graph=graph,
                )
            )
            summary = {"run_id": run_id, "origin_run_id": origin_run_id}
            record_audit(conn, "flow_run.create", f"flow_run:{flow_name}/{number}", summary)
            return FlowRunRecord(run_id, flow_name, number, origin_run_id, graph)

        return self.db.write_numbered(_create)  # two processes may take the same number

    def get_flow_run(self, flow_name: str, number: int) -> FlowRunRecord:
        row = self.db.read(
            lambda c: c.execute(
                select(flow_runs).where(
                    flow_runs.c.flow_name == flow_name, flow_runs.c.number == number
                )
            ).first()
        )
        if row is None:
            raise NotFound(f"no run {flow_name}/{number}; `shipyard flows ls` lists flows")
        return _flow_run(row)

    def flow_run_of(self, run_id: str) -> FlowRunRecord:
        row = self.db.read(
            lambda c: c.execute(select(flow_runs).where(flow_runs.c.run_id == run_id)).first()
        )
        if row is None:
            raise NotFound(f"run {run_id} is not a flow run")
        return _flow_run(row)

    def list_flow_runs(self, flow_name: str | None = None) -> list[FlowRunRecord]:
        query = (
            select(flow_runs)
            .join(runs, runs.c.id == flow_runs.c.run_id)
            .where(runs.c.deleted_ms.is_(None))
        )
        if flow_name is not None:
            query = query.where(flow_runs.c.flow_name == flow_name)
        query = query.order_by(flow_runs.c.flow_name, flow_runs.c.number.desc())
        return [_flow_run(r) for r in self.db.read(lambda c: c.execute(query).all())]

    def add_task(self, task: TaskRecord) -> None:
        self.db.write(
            lambda c: c.execute(
                insert(tasks).values(
                    run_id=task.run_id,
                    flow_run_id=task.flow_run_id,
                    step=task.step,
                    foreach_path=task.foreach_path,
                    attempt=task.attempt,
                    input_ids=json.dumps(task.input_ids),
                )
            )
        )

    def finish_task(
        self, run_id: str, stdout_hash: str | None, stderr_hash: str | None, error: str | None
    ) -> None:
        self.db.write(
            lambda c: c.execute(
                update(tasks)
                .where(tasks.c.run_id == run_id)
                .values(stdout_hash=stdout_hash, stderr_hash=stderr_hash, error=error)
            )
        )

    def tasks(self, flow_run_id: str, step: str | None = None) -> list[TaskRecord]:
        query = (
            select(tasks, runs.c.status, runs.c.start_ms, runs.c.end_ms)
            .join(runs, runs.c.id == tasks.c.run_id)
            .where(tasks.c.flow_run_id == flow_run_id)
        )
        if step is not None:
            query = query.where(tasks.c.step == step)
        query = query.order_by(runs.c.start_ms, tasks.c.foreach_path, tasks.c.attempt)
        return [_task(r) for r in self.db.read(lambda c: c.execute(query).all())]
