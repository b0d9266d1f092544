"""The tracking client: every tracking call, addressed by run id.

The fluent API (``shipyard.start_run`` and friends) is a thin layer over one of these.
A client opens its stores lazily, so constructing one is free.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shipyard._clock import Clock
from shipyard._names import INT64_MAX, INT64_MIN, PROJECT_RULE, project_name
from shipyard.config import Settings, load_settings
from shipyard.errors import InvalidArgument, NotFound, PermissionDenied
from shipyard.session import MetricWriter, Session, current_session
from shipyard.store import (
    ArtifactRecord,
    Metric,
    Project,
    RunStatus,
    TrackingStore,
)
from shipyard.store.base import NewRun
from shipyard.store.blobs import BlobInfo, BlobStore
from shipyard.store.objects import load_object, store_object
from shipyard.tracking import artifacts as art
from shipyard.tracking import environment as env
from shipyard.tracking import validation as v
from shipyard.tracking.records import Run


class Client:
    """``Client(uri=None, artifact_uri=None)``: None means "from settings" (env, toml).

    With no arguments it shares the process's session (``current_session()``); with a URI,
    settings or a clock it opens a session of its own, closed by ``close()``.
    """

    def __init__(
        self,
        uri: str | None = None,
        artifact_uri: str | None = None,
        *,
        settings: Settings | None = None,
        clock: Clock | None = None,
        session: Session | None = None,
    ) -> None:
        own = session is None and (uri, artifact_uri, settings, clock) != (None,) * 4
        if session is None:
            if own:
                settings = settings or load_settings({"uri": uri, "artifact_uri": artifact_uri})
                session = Session(settings, clock)
            else:
                session = current_session()
        self.session = session
        self._owns_session = own
        self._known_runs: set[str] = set()
        self._next_step: dict[tuple[str, str], int] = {}
        self._stored: dict[str, BlobInfo] = {}
        self._last_reap_ms = 0

    # -- plumbing ---------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self.session.settings

    @property
    def clock(self) -> Clock:
        return self.session.clock

    @property
    def store(self) -> TrackingStore:
        return self.session.store

    @property
    def blobs(self) -> BlobStore:
        return self.session.blobs

    @property
    def writer(self) -> MetricWriter:
        return self.session.writer

    def _now_ms(self) -> int:
        return self.session.now_ms()

    def flush(self) -> None:
        """Write all buffered metric points now."""
        self.session.flush()

    def close(self) -> None:
        """Flush; close the stores too when this client opened its own session."""
        if self._owns_session:
            self.session.close()
        else:
            self.session.flush()

    # -- projects ---------------------------------------------------------------------

    def create_project(self, name: str, description: str = "") -> Project:
        description = v.check_text("project description", description)
        return self.store.create_project(project_name(name), description)

    def get_project(self, name: str) -> Project:
        return self.store.get_project(v.check_name(name, "project name"))

    def list_projects(self) -> list[Project]:
        return self.store.list_projects()

    # -- runs -------------------------------------------------------------------------

    def create_run(
        self,
        project: str | None = None,
        run_name: str | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        parent_id: str | None = None,
        kind: str = "run",
        capture_code: bool = True,
        environment_hash: str | None = None,
    ) -> Run:
        """Start a RUNNING run that records its code version, environment and command."""
        project = self.project_for_new_work(project or self.settings.project)
        run_id = uuid.uuid4().hex
        name = v.check_name(run_name, "run name") if run_name else f"run-{run_id[:8]}"
        clean_params = self._params(params or {})
        clean_tags = self._tags(tags or {})
        if parent_id is not None:
            self._require_run(v.check_run_id(parent_id))
        code = env.code_version() if capture_code else env.CodeVersion("", False, b"", "")
        if code.repo:
            clean_tags.setdefault("shipyard.git.repo", code.repo)
        start_ms = self._now_ms()
        diff: tuple[ArtifactRecord, ...] = ()
        if code.diff:
            info = self._put_bytes_once(code.diff)
            diff = (
                ArtifactRecord(
                    run_id,
                    "code/uncommitted.diff",
                    info.hash,
                    info.size,
                    art.FILE_SERIALIZER,
                    start_ms,
                ),
            )
        record = self.store.create_run(
            NewRun(
                id=run_id,
                project=project,
                name=name,
                start_ms=start_ms,
                user=env.current_user(),
                host=env.hostname(),
                pid=os.getpid(),
                command=env.command_line(),
                code_version=code.label,
                environment_hash=environment_hash or self._environment_hash(),
                parent_id=parent_id,
                kind=kind,
                params=clean_params,
                tags=clean_tags,
                artifacts=diff,
            )
        )
        self._known_runs.add(run_id)
        self.writer.watch(run_id)
        self._maybe_reap()
        return Run.from_record(record)

    def project_for_new_work(self, name: str) -> str:
        """``name`` if runs or features may be added to it: a new project's name must follow
        the rule (``shipyard._names``); one named before the rule existed is kept."""
        try:
            return project_name(name)
        except InvalidArgument:
            try:
                return self.store.get_project(v.check_name(name, "project name")).name
            except NotFound:
                raise InvalidArgument(
                    f"invalid project name {name!r}: use {PROJECT_RULE}"
                ) from None

    def end_run(self, run_id: str, status: RunStatus | str = RunStatus.FINISHED) -> None:
        """Flush the run's metrics, then mark it FINISHED, FAILED or KILLED."""
        run_id = v.check_run_id(run_id)
        final = _status(status)
        if final is RunStatus.RUNNING:
            raise InvalidArgument("end_run needs a final status: FINISHED, FAILED or KILLED")
        try:
            self.flush()
        finally:
            self.writer.unwatch(run_id)
            self.store.set_run_status(run_id, final, self._now_ms())

    def get_run(self, run_id: str) -> Run:
        return Run.from_record(self.store.get_run(v.check_run_id(run_id)))

    def search_runs(
        self,
        projects: str | Sequence[str] | None = None,
        filter: str = "",
        order_by: str | Sequence[str] | None = None,
        limit: int = 1000,
        offset: int = 0,
        include_deleted: bool = False,
    ) -> list[Run]:
        """Runs matching a filter such as ``"metrics.acc > 0.9 and params.model = 'xgb'"``.

        See ``shipyard.store.filters`` for the language. ``projects=None`` searches all.
        """
        if isinstance(projects, str):
            projects = [projects]
        if not isinstance(limit, int) or not 0 < limit <= 100_000:
            raise InvalidArgument(f"limit must be an integer from 1 to 100000, got {limit!r}")
        if not isinstance(offset, int) or offset < 0:
            raise InvalidArgument(f"offset must be a non-negative integer, got {offset!r}")
        order = [order_by] if isinstance(order_by, str) else list(order_by or [])
        self.flush()  # a search should see what this process logged
        records = self.store.search_runs(projects, filter, order, limit, offset, include_deleted)
        return [Run.from_record(r) for r in records]

    def delete_run(self, run_id: str) -> None:
        """Hide a run from searches; ``restore_run`` undoes it, ``shipyard gc`` purges it."""
        self.store.set_deleted([v.check_run_id(run_id)], True)

    def restore_run(self, run_id: str) -> None:
        self.store.set_deleted([v.check_run_id(run_id)], False)

    def reap_dead_runs(self, *, if_allowed: bool = False) -> list[str]:
        """Mark RUNNING runs whose process died KILLED; returns their ids. The scan covers
        every project: on a server, ``if_allowed`` skips it quietly for a user whose roles
        do not (housekeeping done on the way to something else)."""
        from shipyard.tracking.reaper import reap_dead_runs  # psutil loads on first use

        try:
            return reap_dead_runs(self.store, self._now_ms(), self.settings.heartbeat_timeout)
        except PermissionDenied:
            if if_allowed:
                return []
            raise

    def _maybe_reap(self) -> None:
        now = self._now_ms()
        if now - self._last_reap_ms > self.settings.heartbeat_interval * 1000:
            self._last_reap_ms = now
            self.reap_dead_runs(if_allowed=True)

    # -- params, tags, metrics --------------------------------------------------------

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        self.log_params(run_id, {key: value})

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        self.store.log_batch(self._require_run(run_id), params=self._params(params))

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.set_tags(run_id, {key: value})

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        self.store.log_batch(self._require_run(run_id), tags=self._tags(tags))

    def delete_tag(self, run_id: str, key: str) -> None:
        self.store.delete_tag(self._require_run(run_id), v.check_key(key, "tag key"))

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: Any,
        step: int | None = None,
        timestamp: Any = None,
    ) -> None:
        """Buffer one point; returns at once. ``step=None`` counts up per key from 0."""
        if run_id not in self._known_runs:
            self._require_run(run_id)
        key = v.check_key(key, "metric key")
        number = v.metric_value(key, value, self.settings.nonfinite_metrics)
        if number is None:
            return
        slot = (run_id, key)
        if step is None:
            step = self._next_step.get(slot, 0)
        if type(step) is not int or not INT64_MIN <= step <= INT64_MAX:  # the rare case
            step = v.metric_step(key, step)
        self._next_step[slot] = step + 1
        ts = self._now_ms() if timestamp is None else v.timestamp_ms(timestamp)
        self.writer.add(run_id, Metric(key, number, step, ts))

    def log_metrics(
        self,
        run_id: str,
        metrics: Mapping[str, Any],
        step: int | None = None,
        timestamp: Any = None,
    ) -> None:
        if not isinstance(metrics, Mapping):
            raise InvalidArgument(f"log_metrics takes a dict of name -> number, got {metrics!r}")
        ts = self._now_ms() if timestamp is None else timestamp
        checked = [
            (v.check_key(k, "metric key"), v.metric_value(k, x, self.settings.nonfinite_metrics))
            for k, x in metrics.items()
        ]  # validate all before buffering any
        for key, number in checked:
            if number is not None:
                self.log_metric(run_id, key, number, step, ts)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        self.flush()
        return self.store.get_metric_history(v.check_run_id(run_id), v.check_key(key))

    # -- artifacts --------------------------------------------------------------------

    def log_artifact(
        self, run_id: str, local_path: str | Path, artifact_path: str | None = None
    ) -> list[ArtifactRecord]:
        """Log a file, or every file in a folder, under ``artifact_path`` (a folder).

        A folder is recorded all at once: if any file fails, none is recorded.
        """
        self._require_run(run_id)
        if artifact_path is not None:
            artifact_path = v.artifact_path(artifact_path)
        now = self._now_ms()
        records = []
        for local, path in art.files_to_log(local_path, artifact_path):
            info = self.blobs.put_file(local)
            records.append(
                ArtifactRecord(run_id, path, info.hash, info.size, art.FILE_SERIALIZER, now)
            )
        self.store.add_artifacts(records)
        return records

    def log_object(self, run_id: str, obj: Any, path: str) -> ArtifactRecord:
        """Store any object with the serializer its type calls for (see ``load_artifact``)."""
        self._require_run(run_id)
        path = v.artifact_path(path)
        info, serializer = store_object(self.blobs, obj)
        return self._log_blob(run_id, path, info, serializer)

    def log_dict(self, run_id: str, data: Any, path: str) -> ArtifactRecord:
        return self._log_bytes(run_id, art.dict_bytes(data, path), path)

    def log_text(self, run_id: str, text: str, path: str) -> ArtifactRecord:
        if not isinstance(text, str):
            raise InvalidArgument(f"log_text takes a str, got {type(text).__name__}")
        return self._log_bytes(run_id, text.encode("utf-8"), path)

    def log_figure(self, run_id: str, figure: Any, path: str) -> ArtifactRecord:
        return self._log_bytes(run_id, art.figure_bytes(figure, path), path)

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactRecord]:
        return self.store.list_artifacts(v.check_run_id(run_id), prefix)

    def load_artifact(self, run_id: str, path: str) -> Any:
        """The object back (logged files come back as bytes; JSON files as dicts)."""
        record = self.store.get_artifact(v.check_run_id(run_id), v.artifact_path(path))
        if record.serializer == art.FILE_SERIALIZER:
            data = self.blobs.get_bytes(record.blob_hash)
            return json.loads(data) if record.path.endswith(".json") else data
        return load_object(self.blobs, record.blob_hash, record.serializer)

    def download_artifacts(self, run_id: str, path: str = "", dst: str | Path = ".") -> Path:
        """Copy an artifact (or every artifact under a folder path) to ``dst``; verified."""
        run_id = v.check_run_id(run_id)
        prefix = v.artifact_path(path) if path else ""
        records = [
            r
            for r in self.store.list_artifacts(run_id, prefix)
            if not prefix or r.path == prefix or r.path.startswith(prefix + "/")
        ]
        if not records:
            raise InvalidArgument(f"run {run_id} has no artifact at {path or '(root)'!r}")
        target = Path(dst)
        for record in records:
            v.artifact_path(record.path)  # logged before control characters were refused
            self.blobs.get_to_path(record.blob_hash, target / record.path)
        return target / prefix if prefix else target

    # -- helpers ----------------------------------------------------------------------

    def _log_bytes(self, run_id: str, data: bytes, path: str) -> ArtifactRecord:
        self._require_run(run_id)
        path = v.artifact_path(path)
        return self._log_blob(run_id, path, self.blobs.put_bytes(data), art.FILE_SERIALIZER)

    def _log_blob(self, run_id: str, path: str, info: Any, serializer: str) -> ArtifactRecord:
        record = ArtifactRecord(run_id, path, info.hash, info.size, serializer, self._now_ms())
        self.store.add_artifacts([record])
        return record

    def _require_run(self, run_id: str) -> str:
        if run_id not in self._known_runs:
            self.store.get_run(v.check_run_id(run_id))
            self._known_runs.add(run_id)
        return run_id

    def _params(self, params: Mapping[str, Any]) -> dict[str, str]:
        if not isinstance(params, Mapping):
            raise InvalidArgument(f"params must be a dict of name -> value, got {params!r}")
        return {v.check_key(k, "param key"): v.param_value(k, x) for k, x in params.items()}

    def _tags(self, tags: Mapping[str, Any]) -> dict[str, str]:
        if not isinstance(tags, Mapping):
            raise InvalidArgument(f"tags must be a dict of name -> value, got {tags!r}")
        return {v.check_key(k, "tag key"): v.tag_value(k, x) for k, x in tags.items()}

    def _environment_hash(self) -> str:
        data = json.dumps(env.environment(), sort_keys=True).encode()
        return self._put_bytes_once(data).hash

    def _put_bytes_once(self, data: bytes) -> BlobInfo:
        """Store bytes this client stores again and again (environment, diff) only once."""
        key = hashlib.sha256(data).hexdigest()
        if key not in self._stored:
            self._stored[key] = self.blobs.put_bytes(data)
        return self._stored[key]

    def get_environment(self, run_id: str) -> dict[str, Any]:
        """Python version, platform and installed packages recorded with the run."""
        run = self.get_run(run_id)
        if not run.environment_hash:
            return {}
        return dict(json.loads(self.blobs.get_bytes(run.environment_hash)))


def _status(status: RunStatus | str) -> RunStatus:
    try:
        return RunStatus(str(status).upper())
    except ValueError:
        known = ", ".join(s.value for s in RunStatus)
        raise InvalidArgument(f"unknown run status {status!r}; use one of {known}") from None
