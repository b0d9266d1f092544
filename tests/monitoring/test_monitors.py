"""Monitors: declarations checked up front, evaluated on real logged windows, results stored
as a time series tied to the model version, problems recorded as results (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shipyard.errors import InvalidArgument, NotFound
from shipyard.monitoring.monitors import Monitor, load_monitors, next_due
from shipyard.monitoring.runner import apply_monitors, reference_for, run_monitors
from shipyard.registry import ModelRegistry
from tests.monitoring._monitor_helpers import log_window, register


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"check": "nope"}, "unknown check 'nope'"),
        ({"check": "drift", "window": "1 hour"}, "window '1 hour'"),
        ({"check": "drift", "window": "0h"}, "window '0h'"),
        ({"check": "drift", "schedule": "61 * * * *"}, "schedule '61 * * * *'"),
        ({"check": "drift", "schedule": "every day"}, "not a valid cron"),
        ({"check": "latency", "threshold": "fast"}, "threshold must be a finite number"),
        ({"check": "latency"}, "threshold is required"),
        ({"check": "latency", "threshold": -1}, "threshold must be positive"),
        ({"check": "error_rate", "threshold": 2}, "share in [0, 1]"),
        ({"check": "performance", "metric": "acc", "threshold": 0.8}, "unknown metric 'acc'"),
        ({"check": "drift", "test": "t-test"}, "test 't-test'"),
        ({"check": "volume", "threshold": 1, "direction": "sideways"}, "direction"),
        ({"check": "volume", "threshold": 1, "webhooks": ["ftp://x"]}, "webhook 'ftp://x'"),
    ],
)
def test_a_bad_declaration_names_the_monitor_and_the_field(fields, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidArgument, match="monitor 'm'") as info:
        Monitor("m", model="churn@production", **fields)
    assert message in str(info.value)


def test_a_bad_model_reference_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="model 'churn production'"):
        Monitor("m", model="churn production", check="drift")


def test_yaml_declarations_are_checked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "monitors.yaml"
    path.write_text(
        "webhooks: [http://127.0.0.1:9/all]\n"
        "monitors:\n"
        "  - {name: drift, model: churn@production, check: drift, features: [age]}\n"
        "  - {name: slow, model: churn, check: latency, metric: p99, threshold: 50,\n"
        "     webhooks: ['slack:https://hooks.example/x']}\n"
    )
    drift, slow = load_monitors(path)
    assert drift.features == ("age",) and drift.target == "@production"
    assert slow.webhooks == ("slack:https://hooks.example/x", "http://127.0.0.1:9/all")
    assert slow.fires_when == "above" and slow.target == ""
    path.write_text("monitors:\n  - {name: x, model: churn, check: drift, windw: 1h}\n")
    with pytest.raises(InvalidArgument, match=r"monitor 'x': unknown field\(s\) windw"):
        load_monitors(path)
    path.write_text("monitor: []\n")
    with pytest.raises(InvalidArgument, match=r"unknown key\(s\) monitor"):
        load_monitors(path)
    path.write_text("- {name: x, model: churn, check: volume, threshold: 1, schedule: '* *'}\n")
    with pytest.raises(InvalidArgument, match="monitor 'x': schedule"):
        load_monitors(path)
    path.write_text("- {name: x, model: churn, check: volume, threshold: 1}\n" * 2)
    with pytest.raises(InvalidArgument, match="declared twice"):
        load_monitors(path)


def test_the_schedule_says_when_a_monitor_is_due_next() -> None:
    after = datetime(2026, 1, 1, 10, 7, tzinfo=UTC)
    assert next_due("*/15 * * * *", after) == datetime(2026, 1, 1, 10, 15, tzinfo=UTC)


def test_apply_creates_then_replaces_by_model_and_name(client) -> None:  # type: ignore[no-untyped-def]
    declared = Monitor("vol", model="churn@production", check="volume", threshold=5)
    first = apply_monitors(declared, client)
    again = apply_monitors(
        [{"name": "vol", "model": "churn@production", "check": "volume", "threshold": 9}], client
    )
    stored = client.store.monitors.list_monitors("churn")
    assert [m.id for m in stored] == [first[0].id] == [again[0].id]
    assert stored[0].spec["threshold"] == 9 and stored[0].target == "@production"


def test_drift_fires_on_a_shift_and_not_without_one(client) -> None:  # type: ignore[no-untyped-def]
    version = register(client)
    monitor = Monitor("age-drift", model="churn@production", check="drift", features=["age"])
    log_window(client, version, shift=0.0)
    (quiet,) = run_monitors(monitor, client=client)
    assert quiet.status == "ok" and not quiet.fired and quiet.version == version
    assert quiet.details["drifted"] == []
    log_window(client, version, shift=15.0, seed=2)
    (shifted,) = run_monitors(monitor, client=client)
    assert shifted.status == "fired" and shifted.details["drifted"] == ["age"]
    history = client.store.monitors.results(shifted.monitor_id)
    assert [r.status for r in history] == ["fired", "ok"]  # newest first
    assert all(r.version == version and r.window_end_ms > r.window_start_ms for r in history)


def test_latency_volume_and_a_bad_monitor_do_not_stop_the_run(client) -> None:  # type: ignore[no-untyped-def]
    version = register(client)
    log_window(client, version, rows=50, latency_ms=120.0)
    results = run_monitors(
        [
            Monitor("slow", model="churn@production", check="latency", threshold=100),
            Monitor("typo", model="churn@production", check="drift", features=["agee"]),
            Monitor("busy", model="churn", check="volume", threshold=10),
            Monitor("ghost", model="ghost@production", check="volume", threshold=1),
        ],
        client=client,
    )
    by_name = {r.monitor: r for r in results}
    assert by_name["slow"].status == "fired" and by_name["slow"].value == pytest.approx(120.0)
    assert by_name["typo"].status == "error"
    assert "unknown feature(s) agee" in by_name["typo"].details["error"]
    assert by_name["busy"].status == "ok" and by_name["busy"].value == 50
    assert by_name["ghost"].status == "error" and by_name["ghost"].version is None
    assert len(client.store.monitors.list_monitors()) == 4


def test_an_empty_window_is_an_error_result(client) -> None:  # type: ignore[no-untyped-def]
    register(client)
    (result,) = run_monitors(
        Monitor("d", model="churn@production", check="drift", window="30m"), client=client
    )
    assert result.status == "error" and "holds no predictions" in result.details["error"]
    (volume,) = run_monitors(
        Monitor("v", model="churn@production", check="volume", threshold=1), client=client
    )
    assert volume.status == "fired" and volume.value == 0  # no traffic is what volume watches


def test_reference_is_the_profile_or_the_dataset_else_a_clear_error(client) -> None:  # type: ignore[no-untyped-def]
    register(client)
    record = ModelRegistry(client).find_version("churn@production").record
    reference = reference_for(client, record)
    assert "age" in list(reference.columns)
    register(client, name="bare", with_dataset=False)
    bare = ModelRegistry(client).find_version("bare@production").record
    with pytest.raises(NotFound, match="model bare v1 has no reference: register it with"):
        reference_for(client, bare)
    log_window(client, 1, name="bare")
    (result,) = run_monitors(Monitor("d", model="bare", check="drift"), client=client)
    assert result.status == "error" and "has no reference" in result.details["error"]


def test_a_ks_monitor_compares_with_the_datasets_rows_not_the_profile(client) -> None:  # type: ignore[no-untyped-def]
    from scipy.stats import ks_2samp

    from tests.monitoring._monitor_helpers import training_frame

    version = register(client)  # a dataset, so a profile too
    assert ModelRegistry(client).find_version("churn@production").record.profile_hash
    log_window(client, version, shift=3.0, seed=2)
    ks = Monitor("ks", model="churn@production", check="drift", features=["age"], test="ks")
    (result,) = run_monitors(ks, client=client)
    assert result.status in ("ok", "fired"), result.details
    window = training_frame(300, 2)["age"] + 3.0
    expected = ks_2samp(training_frame()["age"], window)
    (row,) = result.details["features"]
    assert row["statistic"] == pytest.approx(expected.statistic)

    # registered with reference= rows only: a profile, no rows to run ks on
    from sklearn.linear_model import LogisticRegression

    frame = training_frame()
    model = LogisticRegression().fit(frame, (frame["age"] > 40).astype(int))
    ModelRegistry(client).register_model("profiled", model, reference=frame)
    log_window(client, 1, name="profiled")
    (error,) = run_monitors(
        Monitor("ks", model="profiled", check="drift", features=["age"], test="ks"), client=client
    )
    assert error.status == "error"
    assert "register the version with dataset=" in error.details["error"]


def test_run_a_stored_models_monitors_only(client) -> None:  # type: ignore[no-untyped-def]
    apply_monitors(
        [
            Monitor("a", model="churn@production", check="volume", threshold=1),
            Monitor("b", model="other", check="volume", threshold=1),
        ],
        client,
    )
    results = run_monitors(model="churn@production", client=client)
    assert [r.monitor for r in results] == ["a"]
    assert [r.monitor for r in run_monitors(model="churn@staging", client=client)] == []


def test_monitors_on_the_same_window_read_the_log_once(client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """One run shares window reads: 50 monitors of a model are one read per window span."""
    from shipyard.monitoring import runner

    version = register(client)
    log_window(client, version, rows=50, latency_ms=120.0)
    reads = []
    real = runner.read_window_frame
    monkeypatch.setattr(
        runner, "read_window_frame", lambda *a, **k: reads.append(a[1:]) or real(*a, **k)
    )
    declared = [
        Monitor(f"slow-{i}", model="churn@production", check="latency", threshold=100)
        for i in range(3)
    ] + [Monitor("quiet", model="churn@production", check="volume", threshold=100, window="2h")]
    results = run_monitors(declared, client=client)
    assert [r.status for r in results] == ["fired", "fired", "fired", "fired"]
    assert [r.value for r in results[:3]] == [pytest.approx(120.0)] * 3
    assert len(reads) == 2  # the 1 h window once, the 2 h window once
