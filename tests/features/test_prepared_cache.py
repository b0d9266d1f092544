"""Prepared rows are made once per (view version, source data) and reused, in memory and
from ``<home>/cache``, and are never served stale: changed data, a new view version or a
damaged entry make them again; two processes writing one entry are safe."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.errors import InvalidFeature
from shipyard.features import (
    Entity,
    FeatureStore,
    FeatureView,
    Field,
    FileSource,
    Float64,
    PushSource,
    SqlSource,
    training,
)
from shipyard.features import cache as cache_module
from shipyard.tracking import Client

T0 = pd.Timestamp("2024-01-01", tz="UTC")
DAY = pd.Timedelta(days=1)


def write_stats(
    path: Path, spend: list[float], created: list[int] | None = None, **parquet: Any
) -> None:
    """Customers 1 and 2, one row per day; ``created`` (hours) ties rows of equal days."""
    n = len(spend)
    frame = pd.DataFrame(
        {
            "customer_id": np.array([1 + i % 2 for i in range(n)], dtype="int64"),
            "event_timestamp": [T0 + (i // 2) * DAY for i in range(n)],
            "spend": spend,
        }
    )
    if created is not None:
        frame["created"] = [T0 + pd.Timedelta(hours=h) for h in created]
    frame.to_parquet(path, **parquet)


def stats_view(path: Path, created: bool = False, ttl_days: int = 30) -> list[Any]:
    customer = Entity("customer", join_keys=["customer_id"])
    source = FileSource(
        name="stats_source", path=str(path), created_timestamp_column="created" if created else None
    )
    view = FeatureView(
        "stats",
        source=source,
        entities=[customer],
        schema=[Field("spend", Float64)],
        ttl=timedelta(days=ttl_days),
    )
    return [customer, source, view]


ENTITIES = pd.DataFrame(
    {
        "customer_id": [1, 2, 1, 3],
        "event_timestamp": [T0 + 10 * DAY, T0 + 10 * DAY, T0, T0 + DAY],
    }
)


def spend(fs: FeatureStore, entities: pd.DataFrame = ENTITIES) -> list[float | None]:
    got = fs.get_training_set(entities, ["stats:spend"]).to_df()
    return [None if pd.isna(v) else float(v) for v in got["spend"]]


class Builds:
    """Counts how often prepared rows are built (not found in memory or on disk)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = training.build

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(training, "build", counting)


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> Builds:
    return Builds(monkeypatch)


@pytest.fixture
def store(shipyard_client: Client) -> Iterator[FeatureStore]:
    fs = FeatureStore("cached", client=shipyard_client)
    yield fs
    fs.context.prepared.flush()
    fs.close()


def entries(home: Path, view: str = "stats") -> list[Path]:
    folder = home / "cache" / "features" / "cached" / view
    return sorted(folder.glob("*.arrow")) if folder.is_dir() else []


def fresh_store(client: Client) -> FeatureStore:
    """Another store on the same home: an empty memory, the same files (a new process)."""
    return FeatureStore("cached", client=client)


def test_prepared_once_then_reused_in_memory_and_from_disk(
    store: FeatureStore,
    shipyard_client: Client,
    shipyard_home: Path,
    tmp_path: Path,
    builds: Builds,
) -> None:
    path = tmp_path / "stats.parquet"
    write_stats(path, [1.0, 2.0, 3.0, 4.0])
    store.apply(stats_view(path))
    assert spend(store) == [3.0, 4.0, 1.0, None]
    assert spend(store) == [3.0, 4.0, 1.0, None]
    assert builds.count == 1
    store.context.prepared.flush()
    assert len(entries(shipyard_home)) == 1

    other = fresh_store(shipyard_client)
    assert spend(other) == [3.0, 4.0, 1.0, None]
    assert builds.count == 1  # read from the file


def test_changed_source_data_is_never_served_stale(
    store: FeatureStore, shipyard_client: Client, tmp_path: Path, builds: Builds
) -> None:
    path = tmp_path / "stats.parquet"
    write_stats(path, [1.0, 2.0, 3.0, 4.0])
    store.apply(stats_view(path))
    assert spend(store) == [3.0, 4.0, 1.0, None]
    store.context.prepared.flush()

    write_stats(path, [10.0, 20.0, 30.0, 40.0, 50.0, 60.0])  # same view version
    assert spend(store) == [50.0, 60.0, 10.0, None]
    store.context.prepared.flush()  # the new entry on disk before another store looks
    assert spend(fresh_store(shipyard_client)) == [50.0, 60.0, 10.0, None]
    assert builds.count == 2


def test_same_size_rewrite_with_new_values_is_seen(
    store: FeatureStore, tmp_path: Path, builds: Builds
) -> None:
    path = tmp_path / "stats.parquet"
    plain = {"compression": None, "use_dictionary": False, "write_statistics": False}
    write_stats(path, [1.0, 2.0, 3.0, 4.0], **plain)
    store.apply(stats_view(path))
    assert spend(store) == [3.0, 4.0, 1.0, None]
    before = path.stat()
    write_stats(path, [5.0, 6.0, 7.0, 8.0], **plain)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1))  # one ns later
    assert path.stat().st_size == before.st_size
    assert spend(store) == [7.0, 8.0, 5.0, None]


def test_a_new_view_version_is_prepared_anew(
    store: FeatureStore, shipyard_client: Client, tmp_path: Path, builds: Builds
) -> None:
    """Two rows of customer 1 on day 0: the first created later. Without the created
    column the later source row wins the tie; with it, the later created one."""
    path = tmp_path / "stats.parquet"
    pd.DataFrame(
        {
            "customer_id": [1, 1],
            "event_timestamp": [T0, T0],
            "created": [T0 + pd.Timedelta(hours=5), T0 + pd.Timedelta(hours=1)],
            "spend": [1.0, 2.0],
        }
    ).to_parquet(path)
    store.apply(stats_view(path))
    assert spend(store) == [2.0, None, 2.0, None]
    store.context.prepared.flush()
    store.apply(stats_view(path, created=True))  # a new version of the view
    assert spend(store) == [1.0, None, 1.0, None]
    assert builds.count == 2
    assert spend(fresh_store(shipyard_client)) == [1.0, None, 1.0, None]


def test_ttl_change_reuses_nothing_stale(store: FeatureStore, tmp_path: Path) -> None:
    path = tmp_path / "stats.parquet"
    write_stats(path, [1.0, 2.0])
    store.apply(stats_view(path, ttl_days=30))
    later = pd.DataFrame({"customer_id": [1], "event_timestamp": [T0 + 5 * DAY]})
    assert spend(store, later) == [1.0]
    store.apply(stats_view(path, ttl_days=2))
    assert spend(store, later) == [None]


@pytest.mark.parametrize("damage", ["changed", "truncated", "empty", "deleted", "garbage"])
def test_a_damaged_or_missing_entry_is_built_again(
    store: FeatureStore,
    shipyard_client: Client,
    shipyard_home: Path,
    tmp_path: Path,
    builds: Builds,
    damage: str,
) -> None:
    path = tmp_path / "stats.parquet"
    write_stats(path, [1.0, 2.0, 3.0, 4.0])
    store.apply(stats_view(path))
    assert spend(store) == [3.0, 4.0, 1.0, None]
    store.context.prepared.flush()
    [entry] = entries(shipyard_home)
    original = entry.read_bytes()
    data = bytearray(original)
    if damage == "changed":  # a value changed in place: the file still reads well
        at = data.find(struct.pack("<d", 3.0))
        data[at : at + 8] = struct.pack("<d", 7.0)
        entry.write_bytes(bytes(data))
    elif damage == "truncated":
        entry.write_bytes(bytes(data[: len(data) // 2]))
    elif damage == "empty":
        entry.write_bytes(b"")
    elif damage == "deleted":
        entry.unlink()
    else:
        entry.write_bytes(os.urandom(len(data)))

    other = fresh_store(shipyard_client)
    assert spend(other) == [3.0, 4.0, 1.0, None]
    assert builds.count == 2
    other.context.prepared.flush()
    [rebuilt] = entries(shipyard_home)
    assert rebuilt.read_bytes() == original  # the same rows again
    assert spend(fresh_store(shipyard_client)) == [3.0, 4.0, 1.0, None]
    assert builds.count == 2  # and read from the file


def test_entry_under_another_key_is_not_read(
    store: FeatureStore, shipyard_client: Client, shipyard_home: Path, tmp_path: Path
) -> None:
    """An entry copied under a different key (a wrong name) fails its metadata check."""
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    write_stats(a, [1.0, 2.0, 3.0, 4.0])
    write_stats(b, [9.0, 9.0, 9.0, 9.0, 9.0, 9.0])
    store.apply(stats_view(a))
    assert spend(store) == [3.0, 4.0, 1.0, None]
    store.context.prepared.flush()
    [entry] = entries(shipyard_home)
    store.apply(stats_view(b))
    other = fresh_store(shipyard_client)
    key = cache_module.cache_key(
        "cached",
        other.definitions().views["stats"],
        other.definitions().version("feature_view", "stats"),
        other.definitions().views["stats"].source.data_fingerprint(other.source_context()),
    )
    crc = entry.name.split(".")[1]
    entry.rename(entry.with_name(f"{key}.{crc}.arrow"))
    assert spend(other) == [9.0, 9.0, 9.0, None]


def test_sql_sources_are_prepared_every_time(
    store: FeatureStore, tmp_path: Path, shipyard_home: Path, builds: Builds
) -> None:
    """A query's text says nothing of its rows: they are read for every training set."""
    path = tmp_path / "stats.parquet"
    write_stats(path, [1.0, 2.0, 3.0, 4.0])
    customer = Entity("customer", join_keys=["customer_id"])
    query = f"SELECT * FROM read_parquet('{path}')"
    view = FeatureView(
        "stats",
        source=SqlSource(name="stats_sql", query=query),
        entities=[customer],
        schema=[Field("spend", Float64)],
    )
    store.apply([customer, view])
    assert spend(store) == [3.0, 4.0, 1.0, None]
    write_stats(path, [5.0, 6.0, 7.0, 8.0])
    assert spend(store) == [7.0, 8.0, 5.0, None]
    assert builds.count == 2
    store.context.prepared.flush()
    assert entries(shipyard_home) == []


def test_pushed_rows_reach_a_cached_view(store: FeatureStore, tmp_path: Path) -> None:
    path = tmp_path / "stats.parquet"
    write_stats(path, [1.0, 2.0, 3.0, 4.0])
    customer = Entity("customer", join_keys=["customer_id"])
    push = PushSource(name="stats_push", batch_source=FileSource(name="batch", path=str(path)))
    view = FeatureView(
        "stats", source=push, entities=[customer], schema=[Field("spend", Float64)], online=False
    )
    store.apply([customer, push, view])
    assert spend(store) == [3.0, 4.0, 1.0, None]
    fresh = pd.DataFrame({"customer_id": [1], "event_timestamp": [T0 + 5 * DAY], "spend": [99.0]})
    store.push("stats_push", fresh)
    assert spend(store) == [99.0, 4.0, 1.0, None]


def test_the_cache_keeps_a_few_entries_per_view(
    store: FeatureStore, shipyard_home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "stats.parquet"
    write_stats(path, [1.0])
    store.apply(stats_view(path))
    for i in range(5):
        write_stats(path, [float(i)] * (i + 2))
        spend(store)
        store.context.prepared.flush()
    assert len(entries(shipyard_home)) == cache_module.KEEP_PER_VIEW
    assert not list((shipyard_home / "cache").rglob("*.tmp"))


def test_concurrent_writers_of_one_entry_leave_one_good_file(
    store: FeatureStore, shipyard_home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "stats.parquet"
    write_stats(path, [1.0, 2.0, 3.0, 4.0])
    store.apply(stats_view(path))
    assert spend(store) == [3.0, 4.0, 1.0, None]
    store.context.prepared.flush()
    [entry] = entries(shipyard_home)
    prepared = cache_module._read(entry, entry.name.split(".")[0])
    entry.unlink()
    threads = [
        threading.Thread(target=cache_module.write, args=(entry.parent, prepared)) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive()
    [written] = entries(shipyard_home)
    assert written.name == entry.name  # same rows, same checksum
    assert cache_module._read(written, prepared.key).table.equals(prepared.table)
    assert not list(entry.parent.glob("*.tmp"))


CHILD = textwrap.dedent(
    """
    import sys
    import pandas as pd
    from shipyard.features import FeatureStore
    from shipyard.tracking import Client

    fs = FeatureStore("cached", client=Client())
    entities = pd.read_parquet(sys.argv[1])
    df = fs.get_training_set(entities, ["stats:spend"]).to_df()
    fs.context.prepared.flush()
    print(",".join("nan" if pd.isna(v) else repr(float(v)) for v in df["spend"]))
    """
)


def test_two_processes_building_one_entry_agree(
    store: FeatureStore, shipyard_home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "stats.parquet"
    rng = np.random.default_rng(5)
    write_stats(path, list(rng.random(20_000)))
    store.apply(stats_view(path))
    entities = tmp_path / "entities.parquet"
    ENTITIES.to_parquet(entities)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "SHIPYARD_HOME": str(shipyard_home)}
    children = [
        subprocess.Popen(
            [sys.executable, str(script), str(entities)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [c.communicate(timeout=120) for c in children]
    assert [c.returncode for c in children] == [0, 0, 0], [err for _, err in outputs]
    expected = spend(fresh_store(Client()))
    for out, _ in outputs:
        values = [None if v == "nan" else float(v) for v in out.strip().split(",")]
        assert values == expected
    [entry] = entries(shipyard_home)
    assert cache_module._read(entry, entry.name.split(".")[0]).rows == 20_000
    assert not list(entry.parent.glob("*.tmp"))


def test_threads_share_one_store(store: FeatureStore, tmp_path: Path, builds: Builds) -> None:
    """Training sets from several threads at once: one build per view, the same rows, each
    job on its own DuckDB cursor (entity files register a view on theirs)."""
    path = tmp_path / "stats.parquet"
    write_stats(path, [float(i) for i in range(400)], created=[i % 3 for i in range(400)])
    store.apply(stats_view(path, created=True))
    files = tmp_path / "entities.parquet"
    ENTITIES.to_parquet(files)
    results: list[Any] = []

    def work(i: int) -> None:
        entities: Any = files if i % 2 else ENTITIES
        got = store.get_training_set(entities, ["stats:spend"]).to_df()
        results.append([None if pd.isna(v) else float(v) for v in got["spend"]])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive()
    assert builds.count == 1
    assert results == [[20.0, 21.0, 0.0, None]] * 8  # day 10: rows 20 and 21; day 0: row 0


def test_views_beyond_the_memory_budget_spill_to_a_file(
    store: FeatureStore, shipyard_client: Client, shipyard_home: Path, tmp_path: Path
) -> None:
    """Prepared rows past the cache's memory budget are streamed to a file and memory-
    mapped; the rows of every read equal those of a store that kept them in memory."""
    path = tmp_path / "stats.parquet"
    rng = np.random.default_rng(9)
    n = 300_000  # DuckDB hands out 122,880 rows a batch: three of them
    pd.DataFrame(
        {
            "customer_id": rng.integers(0, 2_000, n),
            "event_timestamp": T0 + pd.to_timedelta(rng.integers(0, 200, n), unit="D"),
            "created": T0 + pd.to_timedelta(rng.integers(0, 3, n), unit="h"),  # many ties
            "spend": rng.random(n),
        }
    ).to_parquet(path, row_group_size=50_000)
    store.apply(stats_view(path, created=True))
    entities = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 2_100, 5_000),
            "event_timestamp": T0 + pd.to_timedelta(rng.integers(0, 210 * 24, 5_000), unit="h"),
        }
    )
    expected = spend(store, entities)  # in memory
    store.context.prepared.flush()

    spilling = fresh_store(shipyard_client)
    spilling.context.prepared.memory_bytes = 1_000_000  # a tenth of the rows
    for file in entries(shipyard_home):
        file.unlink()
    job = spilling.get_training_set(entities, ["stats:spend"])
    got = job.to_df()
    assert [None if pd.isna(v) else float(v) for v in got["spend"]] == expected
    [prepared] = job._prepare()  # type: ignore[misc]
    assert prepared.spilled
    assert prepared.table.column(0).num_chunks > 1 and prepared.keep is not None
    files = tmp_path / "entities.parquet"
    entities.to_parquet(files)
    by_duckdb = spilling.get_training_set(files, ["stats:spend"]).to_df()  # the SQL join
    assert [None if pd.isna(v) else float(v) for v in by_duckdb["spend"]] == expected
    spilling.context.prepared.flush()
    assert not list((shipyard_home / "tmp" / "prepared").iterdir())  # deleted once mapped
    assert spend(fresh_store(shipyard_client), entities) == expected  # its entry on disk


def test_apply_prepares_new_and_changed_views_for_the_first_training_set(
    store: FeatureStore,
    shipyard_client: Client,
    shipyard_home: Path,
    tmp_path: Path,
    builds: Builds,
) -> None:
    path = tmp_path / "stats.parquet"
    write_stats(path, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], created=[0, 1, 0, 2, 0, 1])
    store.apply(stats_view(path, created=True))
    assert builds.count == 1
    assert len(entries(shipyard_home)) == 1  # on disk when apply returns
    assert store.context.prepared._memory == {}  # and not held in memory by apply
    assert spend(store) == [5.0, 6.0, 1.0, None]  # read back from the file
    assert builds.count == 1
    other = fresh_store(shipyard_client)  # another process's first training set
    assert spend(other) == [5.0, 6.0, 1.0, None]
    assert builds.count == 1
    store.apply(stats_view(path, created=True))  # unchanged: nothing to prepare
    assert builds.count == 1
    store.apply(stats_view(path, created=True, ttl_days=3))  # changed: prepared again
    assert builds.count == 2
    assert spend(fresh_store(shipyard_client)) == [None, None, 1.0, None]
    assert builds.count == 2


def test_apply_without_prepare_leaves_it_to_the_training_set(
    store: FeatureStore, shipyard_home: Path, tmp_path: Path, builds: Builds
) -> None:
    path = tmp_path / "stats.parquet"
    write_stats(path, [1.0, 2.0, 3.0, 4.0])
    store.apply(stats_view(path), prepare=False)
    assert builds.count == 0
    assert entries(shipyard_home) == []
    assert spend(store) == [3.0, 4.0, 1.0, None]
    assert builds.count == 1


def test_a_view_that_fails_to_prepare_does_not_fail_apply(
    store: FeatureStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "stats.parquet"
    write_stats(path, [1.0, 2.0, 3.0, 4.0])

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("no room")

    monkeypatch.setattr(training, "build", failing)
    plan = store.apply(stats_view(path))
    assert [c.name for c in plan.pending if c.kind == "feature_view"] == ["stats"]
    assert store.definitions(refresh=True).version("feature_view", "stats") == 1
    assert "could not prepare the rows of feature view 'stats': no room" in caplog.text
    with pytest.raises(RuntimeError, match="no room"):  # an explicit prepare raises
        store.prepare(["stats"])
    monkeypatch.undo()
    assert spend(store) == [3.0, 4.0, 1.0, None]


def test_prepare_after_new_data_and_its_answers(
    store: FeatureStore,
    shipyard_client: Client,
    shipyard_home: Path,
    tmp_path: Path,
    builds: Builds,
) -> None:
    path = tmp_path / "stats.parquet"
    write_stats(path, [1.0, 2.0, 3.0, 4.0])
    store.apply(stats_view(path))
    write_stats(path, [10.0, 20.0, 30.0, 40.0, 50.0, 60.0])
    took = store.prepare()
    assert list(took) == ["stats"] and took["stats"] >= 0
    assert builds.count == 2
    assert spend(fresh_store(shipyard_client)) == [50.0, 60.0, 10.0, None]
    assert builds.count == 2
    assert store.prepare(["stats"]) == {"stats": pytest.approx(0, abs=5)}  # found, not built
    assert builds.count == 2
    with pytest.raises(InvalidFeature, match="no feature view 'nope'"):
        store.prepare(["nope"])


def test_close_releases_the_duckdb_database(
    store: FeatureStore, shipyard_home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "stats.parquet"
    write_stats(path, [1.0, 2.0, 3.0, 4.0])
    store.apply(stats_view(path), prepare=False)
    entity_file = tmp_path / "entities.parquet"
    ENTITIES.to_parquet(entity_file)
    got = store.get_training_set(str(entity_file), ["stats:spend"]).to_df()  # DuckDB's join
    assert sorted(got["spend"].dropna()) == [1.0, 3.0, 4.0]
    state = store.context._offline
    database = state.database
    assert database is not None and state.cache is not None
    store.close()
    assert state.database is None
    with pytest.raises(Exception, match="closed"):
        database.execute("SELECT 1")
    assert len(entries(shipyard_home)) == 1  # written before the close returned
    assert spend(store) == [3.0, 4.0, 1.0, None]  # reopened on use


def test_a_waited_save_writes_in_the_callers_thread(
    store: FeatureStore, shipyard_home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "stats.parquet"
    write_stats(path, [1.0, 2.0, 3.0, 4.0])
    store.apply(stats_view(path), prepare=False)
    cache = store.context.prepared
    req = training.ViewRequest(store.get_feature_view("stats"), [], 1)
    prepared = training.prepare(store.context, req)
    assert entries(shipyard_home) == []
    cache.save([prepared], wait=True)
    assert cache._writers == []  # no background thread
    assert len(entries(shipyard_home)) == 1
