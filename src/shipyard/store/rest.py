"""``RestStore``: the ``TrackingStore`` protocol over HTTP, against a ``shipyard server``.

Every call becomes one request: ``log_batch`` to ``POST /api/v1/runs/{id}/log-batch``
with an ``Idempotency-Key`` (so a retry after a lost answer is not applied twice), the
rest to ``POST /api/v1/store/{area}/{method}`` with arguments and result in the wire form
(``shipyard.store.wire``). The capability sub-stores (``flows``, ``models``...) are
proxies that send their calls the same way, so every capability works remotely as it does
on the embedded store. Errors come back as the ``ShipyardError`` class the server raised.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

from shipyard.store import rpc, wire
from shipyard.store.base.tracking_store import (
    ArtifactRecord,
    BlobReference,
    Metric,
    NewRun,
    Project,
    RunRecord,
    RunStatus,
)
from shipyard.store.http import Http

if TYPE_CHECKING:
    from shipyard.store.base import (
        AuditStore,
        EventStore,
        FeatureMetaStore,
        FlowStore,
        IdentityStore,
        ModelRegistryStore,
        MonitorStore,
        PredictionLogStore,
    )


class RemoteArea:
    """A store area (``tracking`` or a sub-store) whose methods run on the server."""

    def __init__(self, http: Http, area: str) -> None:
        self._http = http
        self._area = area
        self._methods = rpc.methods(area)

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_") or method not in self._methods:
            raise AttributeError(f"store area {self._area!r} has no method {method!r}")

        def remote(*args: Any, **kwargs: Any) -> Any:
            return self.call(method, *args, **kwargs)

        remote.__name__ = method
        return remote

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        body = wire.dumps({"args": list(args), "kwargs": kwargs})
        headers = {}
        repeatable = rpc.is_read(method)
        if not repeatable:
            headers["idempotency-key"] = uuid.uuid4().hex
        answer = self._http.json(
            "POST",
            f"/api/v1/store/{self._area}/{method}",
            body=body,
            headers=headers,
            repeatable=repeatable,
        )
        return wire.decode(answer["result"])


class RestStore:
    """The metadata store of the ``shipyard server`` at ``uri`` (http:// or https://)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.http = Http(self.uri)
        self._tracking = RemoteArea(self.http, "tracking")
        self.flows = cast("FlowStore", RemoteArea(self.http, "flows"))
        self.features = cast("FeatureMetaStore", RemoteArea(self.http, "features"))
        self.models = cast("ModelRegistryStore", RemoteArea(self.http, "models"))
        self.predictions = cast("PredictionLogStore", RemoteArea(self.http, "predictions"))
        self.monitors = cast("MonitorStore", RemoteArea(self.http, "monitors"))
        self.events = cast("EventStore", RemoteArea(self.http, "events"))
        self.identity = cast("IdentityStore", RemoteArea(self.http, "identity"))
        # read-only; the server writes the entries of the calls it serves, never this client
        self.audit = cast("AuditStore", RemoteArea(self.http, "audit"))

    def __repr__(self) -> str:
        return f"RestStore({self.uri!r})"

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._tracking.call(method, *args, **kwargs)

    # -- projects -------------------------------------------------------------------------

    def create_project(self, name: str, description: str = "") -> Project:
        result: Project = self._call("create_project", name, description)
        return result

    def get_project(self, name: str) -> Project:
        result: Project = self._call("get_project", name)
        return result

    def get_or_create_project(self, name: str) -> Project:
        result: Project = self._call("get_or_create_project", name)
        return result

    def list_projects(self) -> list[Project]:
        result: list[Project] = self._call("list_projects")
        return result

    # -- runs -----------------------------------------------------------------------------

    def create_run(self, run: NewRun) -> RunRecord:
        result: RunRecord = self._call("create_run", run)
        return result

    def get_run(self, run_id: str) -> RunRecord:
        result: RunRecord = self._call("get_run", run_id)
        return result

    def set_run_status(self, run_id: str, status: RunStatus, end_ms: int | None) -> None:
        self._call("set_run_status", run_id, status, end_ms)

    def set_run_name(self, run_id: str, name: str) -> None:
        self._call("set_run_name", run_id, name)

    def heartbeat(self, run_ids: Sequence[str], now_ms: int) -> None:
        self._call("heartbeat", list(run_ids), now_ms)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        body = {
            "metrics": [
                {
                    "key": m.key,
                    "value": wire.float_out(m.value),
                    "step": m.step,
                    "timestamp_ms": m.timestamp_ms,
                }
                for m in metrics
            ],
            "params": params or {},
            "tags": tags or {},
        }
        self.http.json(
            "POST",
            f"/api/v1/runs/{run_id}/log-batch",
            body,
            headers={"idempotency-key": uuid.uuid4().hex},
            repeatable=True,
        )

    def delete_tag(self, run_id: str, key: str) -> None:
        self._call("delete_tag", run_id, key)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        result: list[Metric] = self._call("get_metric_history", run_id, key)
        return result

    def get_metric_histories(
        self, run_ids: Sequence[str], keys: Sequence[str]
    ) -> dict[str, dict[str, list[Metric]]]:
        result: dict[str, dict[str, list[Metric]]] = self._call(
            "get_metric_histories", list(run_ids), list(keys)
        )
        return result

    def search_runs(
        self,
        projects: Sequence[str] | None = None,
        filter: str = "",
        order_by: Sequence[str] = (),
        limit: int = 1000,
        offset: int = 0,
        include_deleted: bool = False,
    ) -> list[RunRecord]:
        result: list[RunRecord] = self._call(
            "search_runs",
            None if projects is None else list(projects),
            filter,
            list(order_by),
            limit,
            offset,
            include_deleted,
        )
        return result

    def count_runs(
        self,
        projects: Sequence[str] | None = None,
        filter: str = "",
        include_deleted: bool = False,
    ) -> int:
        projects = None if projects is None else list(projects)
        result: int = self._call("count_runs", projects, filter, include_deleted)
        return result

    def set_deleted(self, run_ids: Sequence[str], deleted: bool) -> None:
        self._call("set_deleted", list(run_ids), deleted)

    def purge_deleted_runs(self) -> list[str]:
        result: list[str] = self._call("purge_deleted_runs")
        return result

    def running_runs(self) -> list[RunRecord]:
        result: list[RunRecord] = self._call("running_runs")
        return result

    def mark_killed(self, run_ids: Sequence[str], end_ms: int) -> list[str]:
        result: list[str] = self._call("mark_killed", list(run_ids), end_ms)
        return result

    # -- artifacts and blobs named ---------------------------------------------------------

    def add_artifacts(self, records: Sequence[ArtifactRecord]) -> None:
        self._call("add_artifacts", list(records))

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactRecord]:
        result: list[ArtifactRecord] = self._call("list_artifacts", run_id, prefix)
        return result

    def get_artifact(self, run_id: str, path: str) -> ArtifactRecord:
        result: ArtifactRecord = self._call("get_artifact", run_id, path)
        return result

    def referenced_blobs(self, include_deleted_runs: bool = True) -> set[str]:
        result: set[str] = self._call("referenced_blobs", include_deleted_runs)
        return result

    def blobs_in_use(self, hashes: Iterable[str]) -> set[str]:
        result: set[str] = self._call("blobs_in_use", list(hashes))
        return result

    def blob_references(self) -> list[BlobReference]:
        result: list[BlobReference] = self._call("blob_references")
        return result

    def blob_projects(self, blob_hash: str) -> set[str]:
        result: set[str] = self._call("blob_projects", blob_hash)
        return result

    def close(self) -> None:
        self.http.close()
