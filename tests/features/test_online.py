"""Online store through the FeatureStore, on SQLite and Redis: materialization, watermarks,
pushes, statuses, and the promise that serving sees what training saw."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from shipyard._clock import FakeClock
from shipyard.errors import InvalidFeature, StoreUnavailable
from shipyard.features import (
    DataFrameSource,
    Entity,
    FeatureService,
    FeatureStatus,
    FeatureStore,
    FeatureView,
    Field,
    FileSource,
    Float64,
    Int64,
    PushSource,
    String,
)
from shipyard.features.online.base import as_columns
from shipyard.features.online.write import write_online
from shipyard.tracking import Client

NOW = pd.Timestamp("2024-03-01", tz="UTC")
customer = Entity("customer", join_keys=["customer_id"])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW.to_pydatetime())


@pytest.fixture
def store(
    shipyard_home: object, clock: FakeClock, online_uri: str | None
) -> Iterator[FeatureStore]:
    client = Client(clock=clock)
    fs = FeatureStore(f"p{uuid.uuid4().hex[:8]}", client=client, online_uri=online_uri)
    yield fs
    for name in fs.definitions(refresh=True).views:
        fs.online.drop(name)
    fs.close()
    client.close()


def _stats_frame(rows: int = 600, customers: int = 50, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = NOW - pd.to_timedelta(rng.integers(1, 40 * 86400, rows), unit="s")
    return pd.DataFrame(
        {
            "customer_id": rng.integers(0, customers, rows),
            "event_timestamp": ts,
            "created": ts + pd.to_timedelta(rng.integers(0, 3, rows), unit="s"),
            "spend": rng.random(rows).round(3),
            "orders": rng.integers(0, 9, rows),
            "segment": rng.choice(["a", "b"], rows),
        }
    )


def _view(df: pd.DataFrame, ttl: timedelta | None = timedelta(days=10)) -> FeatureView:
    return FeatureView(
        "stats",
        source=DataFrameSource(name="stats_source", df=df, created_timestamp_column="created"),
        entities=[customer],
        schema=[Field("spend", Float64), Field("orders", Int64), Field("segment", String)],
        ttl=ttl,
    )


REFS = ["stats:spend", "stats:orders", "stats:segment"]


def test_serving_sees_what_training_saw(store: FeatureStore) -> None:
    """For every customer (present, outside TTL, or unknown): the online values now equal
    the training-set values for an entity row at now."""
    store.apply([_view(_stats_frame())])
    store.materialize(None, NOW.to_pydatetime())
    ids = list(range(55))  # 50..54 have no rows
    entity_df = pd.DataFrame({"customer_id": ids, "event_timestamp": [NOW] * len(ids)})
    offline = store.get_training_set(entity_df, REFS).to_df()
    online = store.get_online_features(REFS, [{"customer_id": i} for i in ids])
    statuses = set()
    for i, cid in enumerate(ids):
        for name in ("spend", "orders", "segment"):
            expected = offline.loc[i, name]
            got = online.values[name][i]
            status = online.statuses[name][i]
            statuses.add(status)
            if pd.isna(expected):
                assert got is None and status != FeatureStatus.PRESENT, (cid, name)
            else:
                assert got == expected and status == FeatureStatus.PRESENT, (cid, name)
    assert statuses == {FeatureStatus.PRESENT, FeatureStatus.MISSING, FeatureStatus.OUTSIDE_TTL}


def test_outside_ttl_and_missing_statuses(store: FeatureStore, clock: FakeClock) -> None:
    df = pd.DataFrame(
        {
            "customer_id": [1, 2],
            "event_timestamp": [NOW - pd.Timedelta(days=1), NOW - pd.Timedelta(days=11)],
            "created": [NOW, NOW],
            "spend": [1.5, 2.5],
            "orders": [1, 2],
            "segment": ["a", "b"],
        }
    )
    store.apply([_view(df)])
    store.materialize(None, NOW.to_pydatetime())
    r = store.get_online_features(REFS, {"customer_id": [1, 2, 3]})
    assert r.values["spend"] == [1.5, None, None]
    assert r.statuses["spend"] == ["present", "outside_ttl", "missing"]
    assert r.values["segment"] == ["a", None, None]
    clock.advance(9 * 86400 + 1)  # customer 1's row is now 10 days + 1 s old
    assert store.get_online_features(REFS, [{"customer_id": 1}]).statuses["spend"] == [
        "outside_ttl"
    ]


def test_materialize_keeps_the_latest_row_and_never_goes_back(store: FeatureStore) -> None:
    t = [NOW - pd.Timedelta(days=d) for d in (5, 3, 3)]
    df = pd.DataFrame(
        {
            "customer_id": [1, 1, 1],
            "event_timestamp": t,
            "created": [t[0], t[1], t[2] + pd.Timedelta(seconds=1)],  # the tie goes to 3rd
            "spend": [1.0, 2.0, 3.0],
            "orders": [1, 2, 3],
            "segment": ["x", "y", "z"],
        }
    )
    store.apply([_view(df)])
    assert store.materialize(None, NOW.to_pydatetime()) == {"stats": 1}
    assert store.get_online_features(REFS, [{"customer_id": 1}]).values["spend"] == [3.0]
    # loading an older window afterwards does not overwrite the newer row
    store.materialize(
        (NOW - pd.Timedelta(days=6)).to_pydatetime(), (NOW - pd.Timedelta(days=4)).to_pydatetime()
    )
    assert store.get_online_features(REFS, [{"customer_id": 1}]).values["spend"] == [3.0]


def test_incremental_materialization_follows_the_watermark(
    store: FeatureStore, tmp_path: object, clock: FakeClock
) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path)) / "stats"
    folder.mkdir()
    first = _stats_frame(rows=50, customers=10)
    first.to_parquet(folder / "a.parquet")
    view = FeatureView(
        "stats",
        source=FileSource(name="stats_files", path=str(folder), created_timestamp_column="created"),
        entities=[customer],
        schema=[Field("spend", Float64)],
        ttl=timedelta(days=60),
    )
    store.apply([view])
    assert store.materialize_incremental() == {"stats": first.customer_id.nunique()}
    assert store.meta.watermarks(store.project)["stats"] == int(NOW.timestamp() * 1000)
    clock.advance(3600)
    late = pd.DataFrame(
        {
            "customer_id": [3],
            "event_timestamp": [NOW + pd.Timedelta(minutes=30)],
            "created": [NOW + pd.Timedelta(minutes=30)],
            "spend": [99.0],
        }
    )
    late.to_parquet(folder / "b.parquet")
    assert store.materialize_incremental() == {"stats": 1}  # only the new window
    assert store.get_online_features(["stats:spend"], [{"customer_id": 3}]).values["spend"] == [
        99.0
    ]
    status = {s.view: s for s in store.catalog.status()}["stats"]
    assert status.rows_materialized == 1 and not status.stale


def test_push_is_served_at_once_and_wins_over_older_batch_rows(
    store: FeatureStore, tmp_path: object
) -> None:
    from pathlib import Path

    batch = Path(str(tmp_path)) / "clicks.parquet"
    pd.DataFrame(
        {"customer_id": [1], "event_timestamp": [NOW - pd.Timedelta(hours=1)], "clicks": [5]}
    ).to_parquet(batch)
    view = FeatureView(
        "clicks",
        source=PushSource(
            name="clicks_push", batch_source=FileSource(name="clicks_batch", path=str(batch))
        ),
        entities=[customer],
        schema=[Field("clicks", Int64)],
        ttl=timedelta(days=1),
    )
    store.apply([view])
    store.push(
        "clicks_push",
        pd.DataFrame({"customer_id": [1, 2], "event_timestamp": [NOW, NOW], "clicks": [7, 8]}),
    )
    assert store.get_online_features(["clicks:clicks"], {"customer_id": [1, 2]}).values == {
        "clicks": [7, 8]
    }
    store.materialize(None, (NOW + pd.Timedelta(seconds=1)).to_pydatetime())  # older batch row
    assert store.get_online_features(["clicks:clicks"], [{"customer_id": 1}]).values["clicks"] == [
        7
    ]
    pushes = [m for m in store.meta.materializations(store.project) if m.kind == "push"]
    assert pushes and pushes[0].rows == 2


def test_feature_service_and_full_names(store: FeatureStore) -> None:
    view = _view(_stats_frame())
    store.apply([view, FeatureService("svc", features=[view[["spend"]]])])
    store.materialize(None, NOW.to_pydatetime())
    r = store.get_online_features("svc", [{"customer_id": 0}])
    assert list(r.values) == ["spend"]
    full = store.get_online_features("svc", [{"customer_id": 0}], full_feature_names=True)
    assert list(full.values) == ["stats__spend"]
    assert full.values["stats__spend"] == r.values["spend"]


def test_bad_entity_rows(store: FeatureStore) -> None:
    store.apply([_view(_stats_frame())])
    with pytest.raises(
        InvalidFeature, match="has no 'customer_id', the join key of feature view 'stats'"
    ):
        store.get_online_features(REFS, [{"id": 1}])
    with pytest.raises(
        InvalidFeature, match="'customer_id' of feature view 'stats' is int64, got 'x'"
    ):
        store.get_online_features(REFS, [{"customer_id": "x"}])
    with pytest.raises(InvalidFeature, match="same length"):
        store.get_online_features(REFS, {"customer_id": [1, 2], "other": [1]})


def test_materialize_refuses_naive_or_reversed_times(store: FeatureStore) -> None:
    store.apply([_view(_stats_frame())])
    with pytest.raises(InvalidFeature, match="timezone-aware"):
        store.materialize(None, NOW.to_pydatetime().replace(tzinfo=None))
    with pytest.raises(InvalidFeature, match="is not before"):
        store.materialize(NOW.to_pydatetime(), (NOW - pd.Timedelta(days=1)).to_pydatetime())
    with pytest.raises(InvalidFeature, match="no feature view 'nope' to materialize"):
        store.materialize(None, NOW.to_pydatetime(), ["nope"])


def test_lookups_keep_answering_during_a_materialization(store: FeatureStore) -> None:
    rows = 120_000
    rng = np.random.default_rng(3)
    df = pd.DataFrame(
        {
            "customer_id": np.arange(rows),
            "event_timestamp": NOW - pd.to_timedelta(rng.integers(1, 86400, rows), unit="s"),
            "created": NOW,
            "spend": rng.random(rows),
            "orders": rng.integers(0, 5, rows),
            "segment": "a",
        }
    )
    store.apply([_view(df)])
    store.materialize(None, NOW.to_pydatetime(), ["stats"])
    errors: list[BaseException] = []
    answered = 0
    done = threading.Event()

    def reader() -> None:
        nonlocal answered
        while not done.is_set():
            try:
                r = store.get_online_features(REFS, [{"customer_id": 7}])
                assert r.statuses["spend"] == ["present"]
                answered += 1
            except BaseException as exc:  # surfaced below
                errors.append(exc)
                return

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        store.materialize(None, NOW.to_pydatetime(), ["stats"])
    finally:
        done.set()
        thread.join(timeout=60)
    assert not thread.is_alive(), "the reader thread did not stop"
    assert not errors, errors[0]
    assert answered > 0


def test_non_finite_and_null_values_round_trip(store: FeatureStore) -> None:
    df = pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "event_timestamp": [NOW - pd.Timedelta(hours=1)] * 3,
            "created": [NOW] * 3,
            "spend": [float("nan"), float("inf"), None],
            "orders": [1, None, 3],
            "segment": ['é ü "quoted"', None, "x"],
        }
    ).astype({"orders": "Int64"})
    store.apply([_view(df)])
    store.materialize(None, NOW.to_pydatetime())
    r = store.get_online_features(REFS, {"customer_id": [1, 2, 3]})
    spend = r.values["spend"]
    # pandas' NaN is its missing value: null, as in training sets; inf is kept
    assert spend[0] is None and spend[1] == float("inf") and spend[2] is None
    assert r.values["orders"] == [1, None, 3]
    assert r.values["segment"] == ['é ü "quoted"', None, "x"]
    assert r.statuses["spend"] == ["present"] * 3


def test_pushed_rows_live_beside_the_blobs(shipyard_home: object, clock: FakeClock) -> None:
    """With the artifact store on an object store (memory:// here, s3:// for a team), pushed
    segments go there too, so another machine's training sets see them."""
    blobs = f"memory://shipyard-{uuid.uuid4().hex[:8]}/blobs"
    batch = pd.DataFrame(
        {"customer_id": [1], "event_timestamp": [NOW - pd.Timedelta(days=1)], "clicks": [5]}
    )
    view = FeatureView(
        "clicks",
        source=PushSource(name="clicks_push", batch_source=DataFrameSource(name="b", df=batch)),
        entities=[customer],
        schema=[Field("clicks", Int64)],
    )
    writer = FeatureStore("team", client=Client(artifact_uri=blobs, clock=clock))
    writer.apply([view])
    writer.push(
        "clicks_push", pd.DataFrame({"customer_id": [1], "event_timestamp": [NOW], "clicks": [9]})
    )
    import fsspec

    fs, root = fsspec.core.url_to_fs(blobs)
    assert len(fs.glob(f"{root}/features/team/pushed/clicks_push/*.parquet")) == 1
    reader = FeatureStore("team", client=Client(artifact_uri=blobs, clock=clock))
    entity_df = pd.DataFrame(
        {"customer_id": [1, 1], "event_timestamp": [NOW - pd.Timedelta(hours=1), NOW]}
    )
    assert reader.get_training_set(entity_df, ["clicks:clicks"]).to_df()["clicks"].tolist() == [
        5,
        9,
    ]


class _Recorder:
    """An online store that keeps what it is given, and can fail on its n-th write."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.rows: list[tuple[str, int, str]] = []
        self.fail_at = fail_at
        self.calls = 0

    def write(self, table: str, keys: object, ts: object, payloads: object) -> int:
        self.calls += 1
        if self.calls == self.fail_at:
            raise StoreUnavailable("the store went away")
        k, t, p = as_columns(keys, ts, payloads)  # type: ignore[arg-type]
        self.rows += zip(k, t, p, strict=True)
        return len(k)


def _writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "shipyard-online-write"]


def test_the_streamed_write_keeps_order_and_ends_its_reader() -> None:
    import duckdb

    con = duckdb.connect()
    store = _Recorder()
    sql = "SELECT i::VARCHAR AS k, i AS t, '{}' AS p FROM range(120000) r(i) ORDER BY i"
    assert write_online(con, sql, store, "v") == 120_000  # type: ignore[arg-type]
    assert [t for _, t, _ in store.rows] == list(range(120_000)) and store.calls == 3
    assert not _writer_threads()


def test_a_store_failure_stops_the_reader_and_is_raised() -> None:
    import duckdb

    con = duckdb.connect()
    store = _Recorder(fail_at=2)
    sql = "SELECT i::VARCHAR AS k, i AS t, '{}' AS p FROM range(2000000) r(i)"
    with pytest.raises(StoreUnavailable, match="went away"):
        write_online(con, sql, store, "v")  # type: ignore[arg-type]
    assert store.calls == 2 and len(store.rows) == 50_000
    assert not _writer_threads()
    assert con.sql("SELECT 42").fetchall() == [(42,)]  # the connection is free again


def test_a_query_failure_midway_is_raised() -> None:
    import duckdb

    con = duckdb.connect()
    store = _Recorder()
    # as materialization renders payloads: above the sort, chunk by chunk
    sql = (
        "SELECT k, t, CASE WHEN t < 100000 THEN '{}' ELSE error('boom') END AS p "
        "FROM (SELECT i::VARCHAR AS k, i AS t FROM range(200000) r(i) ORDER BY i)"
    )
    # DuckDB's error, or pyarrow's OSError with its text when it arrives mid-stream (as
    # before read-ahead; memory_guard knows both forms of an out-of-memory error)
    with pytest.raises((duckdb.Error, OSError), match="boom"):
        write_online(con, sql, store, "v")  # type: ignore[arg-type]
    assert [t for _, t, _ in store.rows] == list(range(len(store.rows)))
    assert len(store.rows) <= 100_000  # at most the chunks before the failing one
    assert not _writer_threads()
