"""Drift monitors on Ray: the same results as evaluated here, from slices of the window
read by Ray actors (sealed segments and SQL alike, failed calls, nulls, a column some hours
never logged), on SQLite and PostgreSQL; and the arithmetic that makes the statistics
exact (range areas and gaps against scipy, slice summaries against the whole window).

One local Ray (2 CPUs, no dashboard) serves the module. ``ray`` tests skip without Ray,
except with SHIPYARD_TEST_RAY=1 (CI), where such a skip fails the run.
"""

from __future__ import annotations

import itertools
import secrets
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from shipyard._clock import to_millis
from shipyard.errors import MissingExtra
from shipyard.monitoring import Monitor, run_monitors
from shipyard.monitoring import _stats_columns as cols
from shipyard.monitoring._drift import (
    ReferenceSide,
    categorical_side,
    numeric_side,
    reference_column,
)
from shipyard.monitoring._drift_ray import (
    FeatureSpec,
    ks_p_value,
    merge,
    range_gaps,
    summarise,
)
from shipyard.registry import ModelRegistry
from shipyard.store.base import PredictionCall
from shipyard.store.log_segments import seal_all
from shipyard.tracking import Client
from tests.monitoring._monitor_helpers import save_dataset

HOUR = 3_600_000
PLANS = ["basic", "pro", "team"]


def reference_frame(rows: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, rows).round(1),  # ties, as real data has
            "income": rng.normal(50, 5, rows),
            "plan": rng.choice(PLANS, rows, p=[0.5, 0.3, 0.2]),
        }
    )


def register(client: Client) -> int:
    """churn@production, with its training rows stored as its dataset (the reference)."""
    frame = reference_frame()
    numeric = ColumnTransformer([("numeric", "passthrough", ["age", "income"])])
    model = make_pipeline(numeric, LogisticRegression()).fit(frame, frame["age"] > 40)
    registry = ModelRegistry(client)
    version = registry.register_model("churn", model, dataset=save_dataset(client, frame)).version
    registry.set_alias("churn", "production", version)
    return version


def _call(version: int, ts: int, inputs: dict[str, list[Any]], error: str | None = None) -> Any:
    rows = 0 if error else len(next(iter(inputs.values())))
    return PredictionCall(
        id=f"{ts:012x}{secrets.token_hex(7)}",
        model="churn",
        version=version,
        variant="default",
        shadow=False,
        ts_ms=ts,
        latency_ms=3.0,
        rows=rows,
        inputs={} if error else inputs,
        outputs=[] if error else [0] * rows,
        error=error,
    )


def log_traffic(client: Client, version: int, now_ms: int) -> None:
    """Six hours of traffic, 2,000 rows an hour in four calls (income shifted by half a
    standard deviation, some ages null), a failed call an hour; ``plan`` is logged from
    the third hour on. The hours before the current one are sealed into segments; one more
    call, made a minute ago, stays in SQL only."""
    rng = np.random.default_rng(7)
    calls = []
    for hour in range(6):
        for part in range(4):
            ts = now_ms - (6 - hour) * HOUR + part * 600_000
            age = rng.normal(40.5, 10, 500).round(1).tolist()
            age[part] = None
            inputs = {"age": age, "income": rng.normal(52.5, 5, 500).tolist()}
            if hour >= 2:
                inputs["plan"] = rng.choice(PLANS, 500, p=[0.4, 0.3, 0.3]).tolist()
            calls.append(_call(version, ts, inputs))
        calls.append(_call(version, ts + 1, {}, error="422: column 'age' is missing"))
    client.store.predictions.append(calls)
    seal_all(client.store.predictions, client.blobs, now_ms=now_ms)
    recent = {
        "age": rng.normal(40, 10, 300).round(1).tolist(),
        "income": rng.normal(52.5, 5, 300).tolist(),
        "plan": rng.choice([*PLANS, "enterprise"], 300).tolist(),
    }
    client.store.predictions.append([_call(version, now_ms - 60_000, recent)])


def monitors() -> list[Monitor]:
    """The default tests (against the version's stored profile: psi, chi2) on every
    column, and each test against the training rows: ks over a window of 12,300 rows (its
    p-value: the asymptotic one) and of 2,300 (the exact one)."""
    declared = [
        Monitor(name="default", model="churn@production", check="drift", window="12h"),
        Monitor(name="ks-12h", model="churn@production", check="drift", window="12h",
                features=["age", "income"], test="ks"),
        Monitor(name="ks-90m", model="churn@production", check="drift", window="90m",
                features=["age", "income"], test="ks"),
        Monitor(
            name="wasserstein", model="churn@production", check="drift", window="12h",
            features=["age", "income"], test="wasserstein",
        ),
        Monitor(
            name="ks-threshold", model="churn@production", check="drift", window="12h",
            features=["age"], test="ks", threshold=0.5,
        ),
    ]  # fmt: skip
    for test in ("psi", "js"):
        declared.append(
            Monitor(
                name=test, model="churn@production", check="drift", window="12h",
                features=["age", "income", "plan"], test=test,
            )
        )  # fmt: skip
    declared.append(
        Monitor(name="chi2", model="churn@production", check="drift", window="12h",
                features=["plan"], test="chi2")
    )  # fmt: skip
    return declared


def _same(local: Any, on_ray: Any) -> None:
    assert on_ray.status == local.status, on_ray.details
    assert on_ray.value == local.value
    assert on_ray.details["drifted"] == local.details["drifted"]
    assert on_ray.details["rows"] == local.details["rows"]
    assert len(on_ray.details["features"]) == len(local.details["features"])
    for mine, theirs in zip(on_ray.details["features"], local.details["features"], strict=True):
        assert (mine["feature"], mine["test"]) == (theirs["feature"], theirs["test"])
        assert mine["drifted"] == theirs["drifted"]
        for key in ("statistic", "p_value", "threshold"):
            expected = theirs[key] if theirs[key] is None else pytest.approx(theirs[key], rel=1e-9)
            assert mine[key] == expected, (mine, theirs, key)


@pytest.mark.ray
def test_drift_on_ray_equals_drift_here(local_ray, client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from shipyard.monitoring import runner
    from shipyard.monitoring._drift_ray import RayDrift

    version = register(client)
    now_ms = to_millis(client.clock.now())
    log_traffic(client, version, now_ms)
    local = run_monitors(monitors(), client=client, webhooks=[], executor="local")
    assert [r.status for r in local] == ["fired"] * 8, [r.details for r in local]
    assert local[1].details["rows"] == 12_300 and local[2].details["rows"] == 2_300

    def read_here(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a drift monitor on Ray read its window in the driver")

    monkeypatch.setattr(runner, "read_window_frame", read_here)
    mapped: list[set[str]] = []
    real_map = RayDrift._map

    def spy(self: Any, model: str, version: int, slices: Any, specs: Any) -> Any:
        mapped.append({spec.name for spec in specs})
        return real_map(self, model, version, slices, specs)

    monkeypatch.setattr(RayDrift, "_map", spy)
    on_ray = run_monitors(monitors(), client=client, webhooks=[], executor="ray", workers=2)
    # each window is read once per feature and kind of reference: psi, js and chi2 compare
    # with the profile, as the default tests did; wasserstein and ks with the rows
    assert mapped == [
        {"age", "income", "plan", "prediction"}, {"age", "income"}, {"age", "income"}  # 90m
    ]  # fmt: skip
    for here, there in zip(local, on_ray, strict=True):
        _same(here, there)
    assert {r["feature"] for r in on_ray[0].details["features"]} == {
        "age", "income", "plan", "prediction"
    }  # fmt: skip
    for result in on_ray[1:3]:
        ks = {r["feature"]: r for r in result.details["features"]}
        assert ks["income"]["drifted"] and ks["income"]["p_value"] < 1e-6
        assert 0.01 < ks["age"]["p_value"] < 1  # a p-value worth comparing


@pytest.mark.ray
def test_windows_are_cut_into_hour_slices_one_per_worker_at_least(local_ray, client) -> None:  # type: ignore[no-untyped-def]
    from shipyard.monitoring._drift_ray import RayDrift

    version = register(client)
    now_ms = to_millis(client.clock.now())
    log_traffic(client, version, now_ms)
    on_ray = RayDrift(client, None, workers=3)
    try:
        start = now_ms - 12 * HOUR
        slices, estimate = on_ray._slices("churn", start, now_ms)
    finally:
        on_ray.close()
    assert local_ray.is_initialized()  # a Ray it did not start is left running
    assert estimate == 6 * 2_000 + 300  # predicted rows (a failed call has none)
    assert len(slices) >= 3
    assert slices[0][0] == start and slices[-1][1] == now_ms
    assert all(a[1] == b[0] for a, b in itertools.pairwise(slices))
    assert all(lo % HOUR == 0 for lo, _ in slices[1:])


def _both(client: Client, declared: Monitor) -> dict[str, Any]:
    """The monitor's details here and on Ray, which must be the same; those details."""
    (here,) = run_monitors(declared, client=client, webhooks=[], executor="local")
    (there,) = run_monitors(declared, client=client, webhooks=[], executor="ray", workers=2)
    assert (there.status, there.details) == (here.status, here.details)
    return dict(there.details)


@pytest.mark.ray
def test_a_problem_is_the_monitors_error_result_as_here(local_ray, client) -> None:  # type: ignore[no-untyped-def]
    version = register(client)
    now_ms = to_millis(client.clock.now())
    drift = {"model": "churn@production", "check": "drift", "window": "1h"}
    assert _both(client, Monitor(name="empty", **drift)) == {
        "error": "monitor 'empty': the window of the last 1h holds no predictions"
    }
    failed = _call(version, now_ms - 60_000, {}, error="422: column 'age' is missing")
    client.store.predictions.append([failed])
    assert _both(client, Monitor(name="failed", **drift)) == {
        "error": "monitor 'failed': every one of the 1 calls in the window of the last 1h "
        "failed; there is no prediction to check"
    }
    inputs = {"age": [41.0, 39.5], "income": [50.0, 51.0], "plan": ["pro", "basic"]}
    client.store.predictions.append([_call(version, now_ms - 30_000, inputs)])
    unknown = _both(client, Monitor(name="unknown", features=["tenure"], **drift))
    assert "unknown feature(s) tenure (not in the window)" in unknown["error"]
    wrong_test = _both(client, Monitor(name="ks-plan", features=["plan"], test="ks", **drift))
    assert "test 'ks' does not apply to categorical feature 'plan'" in wrong_test["error"]
    fine = _both(client, Monitor(name="fine", **drift))
    assert fine["rows"] == 2 and {r["feature"] for r in fine["features"]} == {
        "age", "income", "plan", "prediction"
    }  # fmt: skip


@pytest.mark.ray
def test_the_cli_runs_drift_monitors_on_ray(local_ray, cli, shipyard_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    version = register(shipyard_client)
    log_traffic(shipyard_client, version, to_millis(shipyard_client.clock.now()))
    (tmp_path / "monitors.yaml").write_text(
        "monitors:\n"
        "  - name: income-drift\n    model: churn@production\n    check: drift\n"
        "    window: 12h\n    features: [income]\n"
        "  - name: calls\n    model: churn@production\n    check: volume\n"
        "    window: 12h\n    threshold: 5\n    direction: below\n"
    )
    args = ["monitor", "run", "--file", str(tmp_path / "monitors.yaml")]
    code, stdout, err = cli(*args, "--executor", "ray", "--workers", "2")
    assert code == 1, (stdout, err)  # income drifted
    lines = stdout.splitlines()
    assert "FIRED income-drift on churn v1: 1 feature(s) drifted: income" in lines, stdout
    assert any(line.startswith("OK    calls on churn v1: volume") for line in lines), stdout
    monitors = {m.name: m for m in shipyard_client.store.monitors.list_monitors("churn")}
    stored = shipyard_client.store.monitors.results(monitors["income-drift"].id, limit=5)
    assert stored and stored[0].details["drifted"] == ["income"]


def test_without_ray_the_message_names_the_extra(shipyard_client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    register(shipyard_client)
    declared = Monitor(name="d", model="churn@production", check="drift", window="1h")
    with pytest.raises(MissingExtra) as caught:
        run_monitors(declared, client=shipyard_client, webhooks=[], executor="ray")
    assert caught.value.message == (
        "Drift on Ray needs the 'ray' package: pip install 'shipyard[ray]'"
    )
    volume = Monitor(name="v", model="churn@production", check="volume", window="1h",
                     threshold=1)  # fmt: skip
    # without a drift monitor nothing needs Ray
    assert run_monitors(volume, client=shipyard_client, webhooks=[], executor="ray")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_range_areas_and_gaps_add_up_to_scipys_wasserstein_and_ks(seed: int) -> None:
    rng = np.random.default_rng(seed)
    reference = np.sort(rng.normal(0, 1, 700).round(2))  # ties within and across sides
    current = np.sort(rng.normal(0.1, 1.2, 1_300).round(2))
    for ranges in (1, 2, 7, 50):
        edges = np.unique(np.quantile(reference, np.linspace(0, 1, ranges + 1)[1:-1]))
        lows = np.concatenate(([-np.inf], edges))
        highs = np.concatenate((edges, [np.inf]))
        ref_parts = np.split(reference, np.searchsorted(reference, edges, side="left"))
        cur_parts = np.split(current, np.searchsorted(current, edges, side="left"))
        ref_before = np.cumsum([0] + [p.size for p in ref_parts])
        cur_before = np.cumsum([0] + [p.size for p in cur_parts])
        # the current values of a range arrive in pieces, one per slice
        results = [
            range_gaps(ref_parts[k], np.array_split(cur_parts[k], 3), int(ref_before[k]),
                       int(cur_before[k]), reference.size, current.size, lows[k], highs[k])
            for k in range(edges.size + 1)
        ]  # fmt: skip
        area = sum(a for a, _ in results)
        gap = max(g for _, g in results)
        assert area == pytest.approx(stats.wasserstein_distance(reference, current), rel=1e-12)
        assert gap == pytest.approx(stats.ks_2samp(reference, current).statistic, rel=1e-12)


def test_the_asymptotic_p_value_is_ks_2samps() -> None:
    rng = np.random.default_rng(3)
    reference, current = rng.normal(0, 1, 4_000), rng.normal(0.03, 1, 20_000)
    result = stats.ks_2samp(reference, current)
    assert ks_p_value(float(result.statistic), 4_000, 20_000) == pytest.approx(
        float(result.pvalue), rel=1e-12
    )
    assert 0.01 < result.pvalue < 0.99


def test_slice_summaries_add_up_to_the_whole_window() -> None:
    rng = np.random.default_rng(5)
    reference = reference_frame()
    window = pd.DataFrame(
        {
            "age": rng.normal(42, 12, 3_000),
            "plan": rng.choice([*PLANS, "gold"], 3_000),
            "error": [None] * 3_000,
        }
    )
    window.loc[::7, "age"] = np.nan
    window.loc[::11, "plan"] = None
    window.loc[::13, "error"] = "500: boom"
    source = ReferenceSide(reference)
    age_ref, age_values = reference_column(source, "age")
    plan_ref, _ = reference_column(source, "plan")
    assert age_values is not None
    specs = [
        FeatureSpec("age", cols.NUMERIC, age_ref, np.array([35.0, 45.0])),
        FeatureSpec("plan", cols.CATEGORICAL),
    ]  # fmt: skip
    outputs = [summarise(window.iloc[lo : lo + 700], specs) for lo in range(0, 3_000, 700)]
    total = merge([o[0] for o in outputs], specs)
    succeeded = window[window["error"].isna()]
    assert (total.calls, total.successes) == (3_000, len(succeeded))
    whole_age = numeric_side("age", succeeded["age"], age_ref, age_values, ())
    age = total.sides["age"]
    assert (age.rows, age.nulls, age.non_null) == (
        whole_age.rows, whole_age.nulls, whole_age.non_null
    )  # fmt: skip
    assert (age.below, age.above) == (whole_age.below, whole_age.above)
    assert age.bins.tolist() == whole_age.bins.tolist()
    values = np.sort(succeeded["age"].dropna().to_numpy())
    assert total.range_counts["age"].tolist() == [
        int((values < 35).sum()), int(((values >= 35) & (values < 45)).sum()),
        int((values >= 45).sum()),
    ]  # fmt: skip
    ranges = [np.concatenate([o[1 + k] for o in outputs]) for k in range(3)]
    assert np.array_equal(np.sort(np.concatenate(ranges)), values)
    whole_plan = categorical_side(succeeded["plan"])
    plan = total.sides["plan"]
    assert (plan.rows, plan.nulls, plan.keys) == (
        whole_plan.rows,
        whole_plan.nulls,
        whole_plan.keys,
    )
    assert plan.counts.tolist() == whole_plan.counts.tolist()
    assert plan_ref.categories  # the reference's categories, to compare with
