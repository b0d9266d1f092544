"""Run monitors once: resolve the model version each one watches, read its window of the
prediction log, evaluate, store the result tied to that version, raise or resolve alerts.

One monitor's problem (an unknown feature, an empty window, a model without a reference)
becomes that monitor's result with status ``error``; the run goes on with the others.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shipyard._clock import from_millis, to_millis
from shipyard._ray import executor_of
from shipyard.errors import InvalidArgument, NotFound, ShipyardError
from shipyard.monitoring.checks import evaluate
from shipyard.monitoring.monitors import Monitor, as_monitors, parse_model_ref
from shipyard.store.base import ModelVersionRecord, MonitorRecord, MonitorResultRecord
from shipyard.tracking import Client

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.monitoring._drift_ray import RayDrift


def apply_monitors(
    declared: Monitor | Iterable[Monitor | Mapping[str, Any]], client: Client | None = None
) -> list[MonitorRecord]:
    """Store the declarations (create, or replace the monitor of the same model and name)."""
    client = client or Client()
    now = to_millis(client.clock.now())
    return [
        client.store.monitors.upsert_monitor(
            m.name, m.model_name, m.target, m.check, m.schedule, m.to_spec(), now
        )
        for m in as_monitors(declared)
    ]


def stored_monitors(
    client: Client, model: str | None = None
) -> list[tuple[Monitor, MonitorRecord]]:
    """The stored monitors (of ``model``: NAME, or NAME@ALIAS / NAME/VERSION for only the
    monitors declared on that target)."""
    name, target = _filter(model)
    found = []
    for record in client.store.monitors.list_monitors(name):
        if target is None or record.target == target:
            declared = Monitor.from_dict(record.spec, f"stored monitor {record.name!r}")
            found.append((declared, record))
    return found


def _filter(model: str | None) -> tuple[str | None, str | None]:
    if model is None:
        return None, None
    parsed = parse_model_ref(model)
    if parsed is None:
        raise InvalidArgument(f"--model {model!r} must be NAME, NAME@ALIAS or NAME/VERSION")
    name, version, alias = parsed
    if alias is not None:
        return name, f"@{alias}"
    return name, None if version is None else str(version)


def run_monitors(
    declared: Monitor | Iterable[Monitor | Mapping[str, Any]] | None = None,
    *,
    model: str | None = None,
    client: Client | None = None,
    webhooks: Sequence[str] | None = None,
    own_webhooks: Callable[[str], bool] | None = None,
    executor: str | None = None,
    ray_address: str | None = None,
    workers: int | None = None,
) -> list[MonitorResultRecord]:
    """Evaluate monitors once and store their results: the ``declared`` ones (applied
    first), else every stored monitor (of ``model``). Alerts go to each monitor's webhooks
    (those ``own_webhooks`` allows, when given: a server sends only where its admin
    allowed) and to ``webhooks`` (default: the ``alert_webhooks`` setting).

    ``executor="ray"`` (default: the ``executor`` setting) evaluates drift monitors on Ray
    (``ray_address``, else the ``ray_address`` setting, else a local Ray), their windows
    read in slices by ``workers`` actors (default: one per CPU of the cluster); the
    statistics are those of the whole window, as here. Other checks run here."""
    from shipyard.monitoring.alerts import update_alert

    client = client or Client()
    if declared is not None:
        records = apply_monitors(declared, client)
        pairs = [(Monitor.from_dict(r.spec), r) for r in records]
        name, target = _filter(model)
        pairs = [p for p in pairs if name in (None, p[1].model) and target in (None, p[1].target)]
    else:
        pairs = stored_monitors(client, model)
    shared = tuple(client.settings.alert_webhooks if webhooks is None else webhooks)
    results = []
    now_ms = to_millis(client.clock.now())  # one "now" for the run, so windows are shared
    windows: dict[tuple[str, int, int], pd.DataFrame] = {}
    on_ray = _ray_drift(client, executor, ray_address, workers, pairs)
    try:
        for monitor, record in pairs:
            result = evaluate_monitor(
                client, monitor, record, now_ms=now_ms, windows=windows, on_ray=on_ray
            )
            own = [w for w in monitor.webhooks if own_webhooks is None or own_webhooks(w)]
            update_alert(client, monitor, record, result, (*own, *shared))
            results.append(result)
    finally:
        if on_ray is not None:
            on_ray.close()
    return results


def _ray_drift(
    client: Client,
    executor: str | None,
    address: str | None,
    workers: int | None,
    pairs: list[tuple[Monitor, MonitorRecord]],
) -> RayDrift | None:
    """Ray for this run's drift monitors, when the executor is ray and there are some."""
    executor = executor_of(executor, client.settings.executor, "monitors run")
    if workers is not None and workers < 1:
        raise InvalidArgument(f"workers must be at least 1, not {workers}")
    if executor == "local" or not any(m.check == "drift" for m, _ in pairs):
        return None
    from shipyard.monitoring._drift_ray import RayDrift

    return RayDrift(client, address, workers)


def evaluate_monitor(
    client: Client,
    monitor: Monitor,
    record: MonitorRecord,
    *,
    now_ms: int | None = None,
    windows: dict[tuple[str, int, int], pd.DataFrame] | None = None,
    on_ray: RayDrift | None = None,
) -> MonitorResultRecord:
    """Evaluate one monitor and store its result; a problem becomes an ``error`` result.
    ``windows`` caches window reads across the monitors of one run (same model, version
    and span: one read), since each read covers every column of the log. ``on_ray``
    evaluates a drift monitor on Ray instead (its window is never read here)."""
    end_ms = to_millis(client.clock.now()) if now_ms is None else now_ms
    start_ms = end_ms - int(monitor.window_seconds * 1000)
    version: int | None = None
    try:
        version_record = _version_of(client, monitor)
        version = version_record.version
        from shipyard.monitoring._drift import RAW_TESTS

        raw = monitor.test in RAW_TESTS

        def reference() -> Any:
            return reference_for(client, version_record, raw)

        if on_ray is not None and monitor.check == "drift":
            window = (start_ms, end_ms)
            outcome = on_ray.evaluate(monitor, monitor.model_name, version, window, reference)
        else:
            key = (monitor.model_name, version, start_ms)
            frame = None if windows is None else windows.get(key)
            if frame is None:
                frame = read_window_frame(client, monitor.model_name, version, start_ms, end_ms)
                if windows is not None:
                    windows[key] = frame
            outcome = evaluate(monitor, frame, reference)
        status, value, fired, details = (
            "fired" if outcome.fired else "ok",
            outcome.value,
            outcome.fired,
            outcome.details,
        )
    except ShipyardError as exc:
        status, value, fired, details = "error", None, False, {"error": exc.message}
    except Exception as exc:  # one broken monitor must not stop the others
        message = f"{type(exc).__name__}: {exc}"
        status, value, fired, details = "error", None, False, {"error": message}
    result = MonitorResultRecord(
        monitor_id=record.id,
        model=record.model,
        version=version,
        status=status,
        evaluated_ms=end_ms,
        window_start_ms=start_ms,
        window_end_ms=end_ms,
        value=value,
        threshold=monitor.threshold,
        fired=fired,
        details=details,
        monitor=record.name,
    )
    return client.store.monitors.add_result(result)


def _version_of(client: Client, monitor: Monitor) -> ModelVersionRecord:
    """The version the monitor's target points at now: its alias, its version, else the
    latest version."""
    models = client.store.models
    name, version, alias = parse_model_ref(monitor.model) or (monitor.model_name, None, None)
    if alias is not None:
        version = models.resolve_alias(name, alias)
    elif version is None:
        version = models.get_model(name).latest_version
    return models.get_model_version(name, version)


def read_window_frame(
    client: Client, model: str, version: int, start_ms: int, end_ms: int
) -> pd.DataFrame:
    """The predictions of ``model`` version ``version`` in ``[start, end)``, one per row."""
    from shipyard.monitoring.window import read_window

    return read_window(
        model,
        version=version,
        since=from_millis(start_ms),
        until=from_millis(end_ms),
        client=client,
    )


def reference_for(client: Client, version: ModelVersionRecord, rows: bool = False) -> Any:
    """What drift compares a version's traffic with: its stored reference profile, else the
    rows of its training dataset. ``rows`` prefers the dataset's rows (tests such as ks and
    wasserstein need the values, not bins); a version registered with ``reference=`` and
    no dataset has only its profile, and such tests say so."""
    if version.dataset and (rows or not version.profile_hash):
        return _dataset_rows(client, version.dataset)
    if version.profile_hash:
        from shipyard.monitoring.profiles import Profile

        data = json.loads(client.blobs.get_bytes(version.profile_hash))
        return Profile.from_json(data)
    raise NotFound(
        f"model {version.name} v{version.version} has no reference: register it with "
        "reference= or a training dataset"
    )


def _dataset_rows(client: Client, uri: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = uri.removeprefix("dataset:").split("/")
    if len(parts) != 3 or not parts[2].isdigit():
        raise InvalidArgument(f"{uri!r} is not a dataset URI (dataset:PROJECT/NAME/VERSION)")
    record = client.store.features.get_dataset(parts[0], parts[1], int(parts[2]))
    data = client.blobs.get_bytes(record.blob_hash)
    return pq.read_table(pa.BufferReader(data)).to_pandas()
