"""Every kind of source, end to end: apply a view over it, then read a training set and
check the values that come back (not just that something came back)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

import shipyard
from shipyard.errors import InvalidFeature
from shipyard.features import (
    DataFrameSource,
    Entity,
    FeatureStore,
    FeatureView,
    Field,
    FileSource,
    Float64,
    Int64,
    PushSource,
    SqlSource,
    String,
)
from shipyard.features.sources import Source, frame_fingerprint

from .conftest import BASE

customer = Entity("customer", join_keys=["customer_id"])
DAY = pd.Timedelta(days=1)


def ts(days: float) -> pd.Timestamp:
    return BASE + days * DAY


def frame(rows: list[tuple[int, float, float]], **extra: list[Any]) -> pd.DataFrame:
    """(customer_id, day, spend) rows with tz-aware event timestamps."""
    return pd.DataFrame(
        {
            "customer_id": pd.array([r[0] for r in rows], dtype="int64"),
            "event_timestamp": pd.DatetimeIndex([ts(r[1]) for r in rows]),
            "spend": [float(r[2]) for r in rows],
            **extra,
        }
    )


def stats_view(source: Source, **kwargs: Any) -> FeatureView:
    options: dict[str, Any] = {
        "entities": [customer],
        "schema": [Field("spend", Float64)],
        "ttl": timedelta(days=30),
    }
    options.update(kwargs)
    return FeatureView("stats", source=source, **options)


def entities(rows: list[tuple[int, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.array([r[0] for r in rows], dtype="int64"),
            "event_timestamp": pd.DatetimeIndex([ts(r[1]) for r in rows]),
        }
    )


def spends(fs: FeatureStore, rows: list[tuple[int, float]], ref: str = "stats:spend") -> list:
    """The feature values for entity rows, nulls as None."""
    df = fs.get_training_set(entities(rows), [ref]).to_df()
    assert len(df) == len(rows)
    name = ref.split(":")[1]
    return [None if pd.isna(v) else float(v) for v in df[name]]


# The standard data set: two customers, values that change over time.
ROWS = [(1, 0, 10.0), (1, 2, 30.0), (2, 1, 20.0)]
# (entity rows) -> expected spend: before any row, after each row, an unknown customer.
PROBES = [(1, -1), (1, 1), (1, 2), (1, 5), (2, 1.5), (3, 1)]
EXPECTED = [None, 10.0, 30.0, 30.0, 20.0, None]


# -- files -------------------------------------------------------------------------------


def test_single_parquet_file(fs: FeatureStore, tmp_path: Path) -> None:
    path = tmp_path / "stats.parquet"
    frame(ROWS).to_parquet(path)
    fs.apply([stats_view(FileSource(name="stats_source", path=str(path)))])
    assert spends(fs, PROBES) == EXPECTED


def test_folder_of_hive_partitioned_parquet_files(fs: FeatureStore, tmp_path: Path) -> None:
    folder = tmp_path / "stats"
    for day, rows in (
        ("2024-01-01", ROWS[:1]),
        ("2024-01-02", ROWS[2:]),
        ("2024-01-03", ROWS[1:2]),
    ):
        (folder / f"date={day}").mkdir(parents=True)
        frame(rows).to_parquet(folder / f"date={day}" / "part.parquet")
    (folder / "README.txt").write_text("not data")  # only *.parquet files are read
    source = FileSource(name="stats_source", path=str(folder))
    assert [Path(p).parent.name for p in source.files()] == [
        "date=2024-01-01",
        "date=2024-01-02",
        "date=2024-01-03",
    ]
    fs.apply([stats_view(source)])
    assert spends(fs, PROBES) == EXPECTED


def test_hive_partition_column_is_readable_as_a_feature(fs: FeatureStore, tmp_path: Path) -> None:
    folder = tmp_path / "stats"
    for region, rows in ((7, ROWS[:2]), (9, ROWS[2:])):
        (folder / f"region={region}").mkdir(parents=True)
        frame(rows).to_parquet(folder / f"region={region}" / "part.parquet")
    view = stats_view(
        FileSource(name="stats_source", path=str(folder)),
        schema=[Field("spend", Float64), Field("region", Int64)],
    )
    fs.apply([view])
    df = fs.get_training_set(entities([(1, 5), (2, 5)]), ["stats:spend", "stats:region"]).to_df()
    assert df["spend"].tolist() == [30.0, 20.0]
    assert df["region"].tolist() == [7, 9]


def test_glob_reads_only_matching_files(fs: FeatureStore, tmp_path: Path) -> None:
    frame(ROWS[:2]).to_parquet(tmp_path / "part-0.parquet")
    frame(ROWS[2:]).to_parquet(tmp_path / "part-1.parquet")
    frame([(1, 1, 999.0), (2, 1, 999.0)]).to_parquet(tmp_path / "other.parquet")
    source = FileSource(name="stats_source", path=str(tmp_path / "part-*.parquet"))
    assert [Path(p).name for p in source.files()] == ["part-0.parquet", "part-1.parquet"]
    fs.apply([stats_view(source)])
    assert spends(fs, PROBES) == EXPECTED


def test_relative_path_resolves_against_the_working_folder(
    fs: FeatureStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "data").mkdir()
    frame(ROWS).to_parquet(tmp_path / "data" / "stats.parquet")
    monkeypatch.chdir(tmp_path)
    source = FileSource(path="data/stats.parquet")
    assert source.name == "stats"  # named after the file
    assert source.path == str((tmp_path / "data" / "stats.parquet").resolve())
    view = FeatureView(
        "spend_view",
        source=source,
        entities=[customer],
        schema=[Field("spend", Float64)],
        ttl=timedelta(days=30),
    )
    fs.apply([view])
    monkeypatch.chdir("/")  # the applied path is absolute: reading works from anywhere
    assert spends(fs, PROBES, "spend_view:spend") == EXPECTED


def test_source_and_entity_may_share_their_views_name(fs: FeatureStore) -> None:
    """Definitions of different kinds live in separate namespaces (the registry keys them
    by kind and name), so a source and an entity named like their view are fine."""
    stats = Entity("stats", join_keys=["customer_id"])
    fs.apply([stats_view(DataFrameSource(name="stats", df=frame(ROWS)), entities=[stats])])
    assert spends(fs, PROBES) == EXPECTED
    assert {s.feature for s in fs.meta.feature_stats(fs.project)} == {"spend"}


CSV_HEADER = "customer_id,event_timestamp,spend\n"


def test_csv_with_offset_timestamps(fs: FeatureStore, tmp_path: Path) -> None:
    path = tmp_path / "stats.csv"
    path.write_text(
        CSV_HEADER
        + "1,2024-01-01T00:00:00+00:00,10.0\n"
        + "1,2024-01-03T02:00:00+02:00,30.0\n"  # = 2024-01-03T00:00Z
        + "2,2024-01-02T00:00:00+00:00,20.0\n"
    )
    source = FileSource(name="stats_source", path=str(path))
    assert source.file_format == "csv"
    fs.apply([stats_view(source)])
    assert spends(fs, PROBES) == EXPECTED
    # the +02:00 row counts from its UTC instant: not visible one hour before it
    assert spends(fs, [(1, 2 - 1 / 24)]) == [10.0]


def test_csv_with_naive_timestamps_is_refused(fs: FeatureStore, tmp_path: Path) -> None:
    path = tmp_path / "stats.csv"
    path.write_text(CSV_HEADER + "1,2024-01-01T00:00:00,10.0\n2,2024-01-02T00:00:00,20.0\n")
    with pytest.raises(
        InvalidFeature,
        match=r"feature view 'stats': column 'event_timestamp' holds naive timestamps.*tz_localize",
    ):
        fs.apply([stats_view(FileSource(name="stats_source", path=str(path)))])
    assert fs.meta.latest_feature_objects(fs.project) == []


def test_csv_folder_of_several_files(fs: FeatureStore, tmp_path: Path) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "a.csv").write_text(CSV_HEADER + "1,2024-01-01T00:00:00+00:00,10.0\n")
    (folder / "b.csv").write_text(
        CSV_HEADER + "1,2024-01-03T00:00:00+00:00,30.0\n2,2024-01-02T00:00:00+00:00,20.0\n"
    )
    fs.apply([stats_view(FileSource(name="stats_source", path=str(folder), file_format="csv"))])
    assert spends(fs, PROBES) == EXPECTED


@pytest.fixture
def memory_path() -> Iterator[str]:
    fsspec = pytest.importorskip("fsspec")
    memfs = fsspec.filesystem("memory")
    folder = f"/shipyard-test-{uuid.uuid4().hex[:8]}"
    yield f"memory://{folder}"
    if memfs.exists(folder):
        memfs.rm(folder, recursive=True)


def test_fsspec_memory_url(fs: FeatureStore, memory_path: str) -> None:
    url = f"{memory_path}/stats.parquet"
    write_memory_parquet(url, frame(ROWS))
    source = FileSource(name="stats_source", path=url)
    assert source.path == url  # URLs are kept as they are
    fs.apply([stats_view(source)])
    assert spends(fs, PROBES) == EXPECTED


def write_memory_parquet(url: str, df: pd.DataFrame) -> None:
    import fsspec

    with fsspec.open(url, "wb") as f:
        df.to_parquet(f)


def test_fsspec_memory_glob_of_hive_partitions(fs: FeatureStore, memory_path: str) -> None:
    for day, rows in (("2024-01-01", ROWS[:2]), ("2024-01-02", ROWS[2:])):
        write_memory_parquet(f"{memory_path}/stats/date={day}/part.parquet", frame(rows))
    fs.apply([stats_view(FileSource(name="stats_source", path=f"{memory_path}/stats/*/*.parquet"))])
    assert spends(fs, PROBES) == EXPECTED


def test_fsspec_memory_folder(fs: FeatureStore, memory_path: str) -> None:
    """The docs: 'a file, a folder (recursive, Hive partitions) or a glob; local or any
    fsspec URL'."""
    for day, rows in (("2024-01-01", ROWS[:2]), ("2024-01-02", ROWS[2:])):
        write_memory_parquet(f"{memory_path}/stats/date={day}/part.parquet", frame(rows))
    fs.apply([stats_view(FileSource(name="stats_source", path=f"{memory_path}/stats"))])
    assert spends(fs, PROBES) == EXPECTED


def test_fsspec_fingerprint_changes_with_the_data(memory_path: str) -> None:
    url = f"{memory_path}/stats.parquet"
    write_memory_parquet(url, frame(ROWS))
    source = FileSource(name="stats_source", path=url)
    before = source.fingerprint()
    write_memory_parquet(url, frame([*ROWS, (4, 0, 1.0)]))
    assert source.fingerprint() != before


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [(1.0, 2.0, 2.0), (2.0, 1.0, 1.0)],
    ids=["later-file-larger", "later-file-smaller"],
)
def test_ties_across_files_go_to_the_later_file(
    fs: FeatureStore, tmp_path: Path, first: float, second: float, expected: float
) -> None:
    """Same key, event time and created time in two files: the later file's row wins,
    both in training sets and in the online store."""
    folder = tmp_path / "stats"
    folder.mkdir()
    for name, value in (("a.parquet", first), ("b.parquet", second)):
        frame([(1, 1, value)], created=[ts(1)]).to_parquet(folder / name)
    source = FileSource(name="stats_source", path=str(folder), created_timestamp_column="created")
    fs.apply([stats_view(source, ttl=None)])
    assert spends(fs, [(1, 1), (1, 2)]) == [expected, expected]
    fs.materialize(ts(0).to_pydatetime(), ts(5).to_pydatetime())
    online = fs.get_online_features(["stats:spend"], [{"customer_id": 1}])
    assert online.to_dict() == {"spend": [expected]}


def test_created_timestamp_beats_file_order(fs: FeatureStore, tmp_path: Path) -> None:
    folder = tmp_path / "stats"
    folder.mkdir()
    frame([(1, 1, 1.0)], created=[ts(3)]).to_parquet(folder / "a.parquet")  # created later
    frame([(1, 1, 2.0)], created=[ts(2)]).to_parquet(folder / "b.parquet")
    source = FileSource(name="stats_source", path=str(folder), created_timestamp_column="created")
    fs.apply([stats_view(source)])
    assert spends(fs, [(1, 1)]) == [1.0]


# -- SQL -----------------------------------------------------------------------------------


def test_sql_source_run_by_duckdb(fs: FeatureStore, tmp_path: Path) -> None:
    path = tmp_path / "raw.parquet"
    frame(ROWS, cents=[int(r[2] * 100) for r in ROWS]).drop(columns="spend").to_parquet(path)
    source = SqlSource(
        name="stats_sql",
        query=(
            "SELECT customer_id, event_timestamp, cents / 100.0 AS spend "
            f"FROM read_parquet('{path}')"
        ),
    )
    fs.apply([stats_view(source)])
    assert spends(fs, PROBES) == EXPECTED
    assert fs.get_feature_view("stats").source.describe() == "sql (duckdb)"


@pytest.fixture
def pg_table(postgres_database: str) -> Iterator[tuple[str, str]]:
    """A table of stats rows in the test PostgreSQL database: timestamptz event times, a
    bigint key, and double, integer, numeric, text and naive timestamp columns."""
    table = f"stats_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(postgres_database)
    meta = sa.MetaData()
    stats = sa.Table(
        table,
        meta,
        sa.Column("customer_id", sa.BigInteger, nullable=False),
        sa.Column("event_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("spend", sa.Float, nullable=False),
        sa.Column("orders", sa.Integer),
        sa.Column("segment", sa.Text),
        sa.Column("amount", sa.Numeric(10, 2)),
        sa.Column("local_time", sa.DateTime(timezone=False)),
    )
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            stats.insert(),
            [
                {
                    "customer_id": c,
                    "event_timestamp": ts(d).to_pydatetime(),
                    "spend": s,
                    "orders": int(s) // 10,
                    "segment": f"seg{c}",
                    "amount": s + 0.25,
                    "local_time": ts(d).tz_localize(None).to_pydatetime(),
                }
                for c, d, s in ROWS
            ],
        )
    yield postgres_database, table
    meta.drop_all(engine)
    engine.dispose()


@pytest.mark.services
def test_sql_source_on_postgresql(fs: FeatureStore, pg_table: tuple[str, str]) -> None:
    uri, table = pg_table
    source = SqlSource(
        name="stats_pg",
        query=f"SELECT customer_id, event_timestamp, spend, orders, segment FROM {table}",
        connection=uri,
    )
    view = stats_view(
        source, schema=[Field("spend", Float64), Field("orders", Int64), Field("segment", String)]
    )
    fs.apply([view])
    assert spends(fs, PROBES) == EXPECTED
    df = fs.get_training_set(entities([(1, 5), (2, 5)]), ["stats:orders", "stats:segment"]).to_df()
    assert df["orders"].tolist() == [3, 2]
    assert df["segment"].tolist() == ["seg1", "seg2"]
    # materialize from PostgreSQL into the online store too
    assert fs.materialize(ts(-1).to_pydatetime(), ts(10).to_pydatetime()) == {"stats": 2}
    online = fs.get_online_features(["stats:spend"], [{"customer_id": 1}, {"customer_id": 2}])
    assert online.statuses["spend"] == ["outside_ttl", "outside_ttl"]  # 2024 data, ttl 30d


@pytest.mark.services
def test_sql_source_on_postgresql_with_no_rows_keeps_columns(
    fs: FeatureStore, pg_table: tuple[str, str]
) -> None:
    uri, table = pg_table
    source = SqlSource(
        name="stats_pg",
        query=f"SELECT customer_id, event_timestamp, spend FROM {table} WHERE spend < 0",
        connection=uri,
    )
    fs.apply([stats_view(source)])
    assert spends(fs, [(1, 5)]) == [None]


@pytest.mark.services
def test_postgresql_naive_timestamps_are_refused(
    fs: FeatureStore, pg_table: tuple[str, str]
) -> None:
    uri, table = pg_table
    source = SqlSource(
        name="stats_pg",
        query=f"SELECT customer_id, local_time AS event_timestamp, spend FROM {table}",
        connection=uri,
    )
    with pytest.raises(InvalidFeature, match="'event_timestamp' holds naive timestamps"):
        fs.apply([stats_view(source)])
    assert fs.meta.latest_feature_objects(fs.project) == []


@pytest.mark.services
def test_postgresql_numeric_column_reads_as_float(
    fs: FeatureStore, pg_table: tuple[str, str]
) -> None:
    uri, table = pg_table
    source = SqlSource(
        name="stats_pg",
        query=f"SELECT customer_id, event_timestamp, amount AS spend FROM {table}",
        connection=uri,
    )
    fs.apply([stats_view(source)])
    assert spends(fs, PROBES) == [None if v is None else v + 0.25 for v in EXPECTED]


@pytest.mark.services
def test_bad_sql_on_postgresql_names_the_source(fs: FeatureStore, postgres_database: str) -> None:
    source = SqlSource(
        name="stats_pg", query="SELECT * FROM no_such_table_here", connection=postgres_database
    )
    with pytest.raises(
        InvalidFeature, match=r"source 'stats_pg': query on .* failed: .*no_such_table_here"
    ) as caught:
        fs.apply([stats_view(source)])
    assert "\n" not in caught.value.message
    assert fs.meta.latest_feature_objects(fs.project) == []


@pytest.mark.parametrize(
    ("query", "transformation", "message"),
    [
        (
            "SELECT * FROM read_parquet('/nonexistent/stats.parquet')",
            None,
            r"source 'stats_sql': its query failed in DuckDB: IO Error: .*nonexistent",
        ),
        (
            "SELEC customer_id FROM t",
            None,
            r"source 'stats_sql': its query failed in DuckDB: Parser Error",
        ),
        (
            "SELECT 1 AS customer_id",
            "SELECT no_such_column FROM source",
            r"feature view 'stats': its SQL transformation failed in DuckDB: .*no_such_column",
        ),
    ],
    ids=["missing-file", "syntax-error", "bad-transformation"],
)
def test_bad_duckdb_sql_names_the_source(
    fs: FeatureStore, query: str, transformation: str | None, message: str
) -> None:
    view = stats_view(SqlSource(name="stats_sql", query=query), transformation=transformation)
    with pytest.raises(InvalidFeature, match=message) as caught:
        fs.apply([view])
    assert "\n" not in caught.value.message
    assert fs.meta.latest_feature_objects(fs.project) == []


def test_unreadable_parquet_file_names_the_source(fs: FeatureStore, tmp_path: Path) -> None:
    path = tmp_path / "stats.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(
        InvalidFeature, match=r"source 'stats_source': reading .*stats.parquet failed in DuckDB"
    ):
        fs.apply([stats_view(FileSource(name="stats_source", path=str(path)))])
    with pytest.raises(InvalidFeature, match=r"source 'gone': no parquet data at .*missing"):
        fs.apply([stats_view(FileSource(name="gone", path=str(tmp_path / "missing")))])
    assert fs.meta.latest_feature_objects(fs.project) == []


# -- DataFrames ----------------------------------------------------------------------------


def test_dataframe_source(fs: FeatureStore) -> None:
    df = frame(ROWS)
    source = DataFrameSource(name="stats_df", df=df)
    fs.apply([stats_view(source)])
    df.loc[0, "spend"] = -1.0  # the applied data is a copy stored at apply time
    assert spends(fs, PROBES) == EXPECTED
    other = FeatureStore(fs.project, client=fs.client)  # a fresh store reads the blob
    try:
        assert spends(other, PROBES) == EXPECTED
    finally:
        other.close()


# -- transformations -------------------------------------------------------------------------


def test_sql_transformation(fs: FeatureStore) -> None:
    view = FeatureView(
        "doubled",
        source=DataFrameSource(name="stats_df", df=frame(ROWS)),
        entities=[customer],
        schema=[Field("double_spend", Float64)],
        ttl=timedelta(days=30),
        transformation="SELECT customer_id, event_timestamp, spend * 2 AS double_spend FROM source",
    )
    fs.apply([view])
    got = spends(fs, PROBES, "doubled:double_spend")
    assert got == [None if v is None else 2 * v for v in EXPECTED]


def add_spend_features(df: pd.DataFrame) -> pd.DataFrame:
    out = df[["customer_id", "event_timestamp"]].copy()
    out["spend_plus_one"] = df["spend"] + 1.0
    out["big"] = (df["spend"] > 15).astype("int64")
    return out


def derived_view(source: Source) -> FeatureView:
    return FeatureView(
        "derived",
        source=source,
        entities=[customer],
        schema=[Field("spend_plus_one", Float64), Field("big", Int64)],
        ttl=timedelta(days=30),
        transformation=add_spend_features,
    )


def check_derived(fs: FeatureStore) -> None:
    df = fs.get_training_set(entities(PROBES), ["derived:spend_plus_one", "derived:big"]).to_df()
    assert [None if pd.isna(v) else v for v in df["spend_plus_one"]] == [
        None if v is None else v + 1 for v in EXPECTED
    ]
    assert [None if pd.isna(v) else int(v) for v in df["big"]] == [None, 0, 1, 1, 1, None]


def test_python_transformation(fs: FeatureStore, tmp_path: Path) -> None:
    path = tmp_path / "stats.parquet"
    frame(ROWS).to_parquet(path)
    fs.apply([derived_view(FileSource(name="stats_source", path=str(path)))])
    assert callable(fs.get_feature_view("derived").transformation)  # restored from its blob
    check_derived(fs)
    fs.materialize(ts(-1).to_pydatetime(), ts(10).to_pydatetime())
    assert fs.meta.watermarks(fs.project)["derived"] == int(ts(10).timestamp() * 1000)


def test_python_transformation_over_a_dataframe_source(fs: FeatureStore) -> None:
    fs.apply([derived_view(DataFrameSource(name="stats_df", df=frame(ROWS)))])
    check_derived(fs)


def broken_transformation(df: pd.DataFrame) -> pd.DataFrame:
    raise KeyError("spend_typo")


def test_failing_python_transformation_names_the_view(fs: FeatureStore) -> None:
    view = derived_view(DataFrameSource(name="stats_df", df=frame(ROWS)))
    view.transformation = broken_transformation
    with pytest.raises(
        InvalidFeature, match=r"feature view 'derived': its transformation failed.*spend_typo"
    ):
        fs.apply([view])
    assert fs.meta.latest_feature_objects(fs.project) == []


# -- push ----------------------------------------------------------------------------------


@pytest.fixture
def clicks(fs: FeatureStore, tmp_path: Path) -> FeatureView:
    path = tmp_path / "clicks.parquet"
    pd.DataFrame(
        {
            "customer_id": pd.array([1, 2], dtype="int64"),
            "event_timestamp": pd.DatetimeIndex([ts(0), ts(0)]),
            "clicks": pd.array([5, 6], dtype="int64"),
        }
    ).to_parquet(path)
    view = FeatureView(
        "clicks",
        source=PushSource(
            name="clicks_push", batch_source=FileSource(name="clicks_batch", path=str(path))
        ),
        entities=[customer],
        schema=[Field("clicks", Int64)],
        ttl=None,
    )
    fs.apply([view])
    return view


def pushed(rows: list[tuple[int, pd.Timestamp, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.array([r[0] for r in rows], dtype="int64"),
            "event_timestamp": pd.DatetimeIndex([r[1] for r in rows]),
            "clicks": pd.array([r[2] for r in rows], dtype="int64"),
        }
    )


def clicks_at(fs: FeatureStore, rows: list[tuple[int, pd.Timestamp]]) -> list:
    entity_df = pd.DataFrame(
        {
            "customer_id": pd.array([r[0] for r in rows], dtype="int64"),
            "event_timestamp": pd.DatetimeIndex([r[1] for r in rows]),
        }
    )
    df = fs.get_training_set(entity_df, ["clicks:clicks"]).to_df()
    return [None if pd.isna(v) else int(v) for v in df["clicks"]]


def online_clicks(fs: FeatureStore, keys: list[int]) -> tuple[list, list]:
    r = fs.get_online_features(["clicks:clicks"], [{"customer_id": k} for k in keys])
    return r.values["clicks"], [str(s) for s in r.statuses["clicks"]]


def test_pushed_rows_reach_training_sets_and_online(fs: FeatureStore, clicks: FeatureView) -> None:
    assert clicks_at(fs, [(1, ts(1)), (2, ts(1))]) == [5, 6]
    assert online_clicks(fs, [1, 2]) == ([None, None], ["missing", "missing"])

    assert fs.push("clicks_push", pushed([(1, ts(2), 50), (1, ts(3), 70), (3, ts(2), 9)])) == 3
    # offline: the pushed log joins point in time with the batch rows
    assert clicks_at(fs, [(1, ts(1)), (1, ts(2)), (1, ts(5)), (2, ts(5)), (3, ts(5))]) == [
        5,
        50,
        70,
        6,
        9,
    ]
    # online: the newest pushed row per entity, at once (no materialization)
    assert online_clicks(fs, [1, 2, 3]) == ([70, None, 9], ["present", "missing", "present"])
    history = fs.meta.materializations(fs.project, limit=10)
    assert [(m.view, m.kind, m.rows) for m in history] == [("clicks", "push", 2)]


def test_materializing_the_batch_keeps_fresher_pushed_values(
    fs: FeatureStore, clicks: FeatureView
) -> None:
    fs.push("clicks_push", pushed([(1, ts(3), 70)]), to_offline=False)
    loaded = fs.materialize(ts(-1).to_pydatetime(), ts(1).to_pydatetime())
    assert loaded == {"clicks": 2}
    assert online_clicks(fs, [1, 2]) == ([70, 6], ["present", "present"])


def test_pushed_row_ties_beat_batch_rows(fs: FeatureStore, clicks: FeatureView) -> None:
    fs.push("clicks_push", pushed([(1, ts(0), 500)]))  # same key and time as batch row
    assert clicks_at(fs, [(1, ts(1))]) == [500]


def test_push_without_offline_stays_out_of_training_sets(
    fs: FeatureStore, clicks: FeatureView
) -> None:
    fs.push("clicks_push", pushed([(1, ts(2), 50)]), to_offline=False)
    assert online_clicks(fs, [1]) == ([50], ["present"])
    assert clicks_at(fs, [(1, ts(5))]) == [5]
    assert clicks.source.pushed_files(fs.source_context()) == []  # type: ignore[attr-defined]


def test_push_to_unknown_source_is_refused(fs: FeatureStore, clicks: FeatureView) -> None:
    rows = pushed([(1, ts(2), 50)])
    with pytest.raises(
        InvalidFeature, match=r"'nope' is not an applied PushSource \(push sources: clicks_push\)"
    ):
        fs.push("nope", rows)
    with pytest.raises(InvalidFeature, match="'clicks_batch' is not an applied PushSource"):
        fs.push("clicks_batch", rows)
    _nothing_pushed(fs, clicks)


def test_push_with_wrong_column_type_is_refused(fs: FeatureStore, clicks: FeatureView) -> None:
    rows = pushed([(1, ts(2), 50)])
    rows["clicks"] = ["fifty"]
    with pytest.raises(
        InvalidFeature,
        match=r"feature view 'clicks': feature 'clicks' is declared int64 but the data has VARCHAR",
    ):
        fs.push("clicks_push", rows)
    naive = pushed([(1, ts(2), 50)])
    naive["event_timestamp"] = naive["event_timestamp"].dt.tz_localize(None)
    with pytest.raises(InvalidFeature, match="naive timestamps"):
        fs.push("clicks_push", naive)
    _nothing_pushed(fs, clicks)


def _nothing_pushed(fs: FeatureStore, clicks: FeatureView) -> None:
    assert clicks.source.pushed_files(fs.source_context()) == []  # type: ignore[attr-defined]
    assert online_clicks(fs, [1]) == ([None], ["missing"])
    assert clicks_at(fs, [(1, ts(5))]) == [5]
    assert fs.meta.materializations(fs.project, limit=10) == []


# -- time-range retrieval --------------------------------------------------------------------


def test_time_range_without_entity_df(fs: FeatureStore) -> None:
    rows = [(1, 0, 10.0), (1, 2, 30.0), (2, 1, 20.0), (2, 1, 20.0), (1, 4, 40.0), (3, 9, 1.0)]
    fs.apply([stats_view(DataFrameSource(name="stats_df", df=frame(rows)))])
    job = fs.get_training_set(
        features=["stats:spend"], start=ts(0).to_pydatetime(), end=ts(4).to_pydatetime()
    )
    df = job.to_df()
    assert list(df.columns) == ["customer_id", "event_timestamp", "spend"]
    got = [(int(c), t, float(s)) for c, t, s in df.itertuples(index=False)]
    # one row per distinct (key, event time) in [start, end], both ends included
    assert got == [(1, ts(0), 10.0), (1, ts(2), 30.0), (1, ts(4), 40.0), (2, ts(1), 20.0)]


def test_time_range_over_two_views(fs: FeatureStore) -> None:
    orders = pd.DataFrame(
        {
            "customer_id": pd.array([1, 2], dtype="int64"),
            "event_timestamp": pd.DatetimeIndex([ts(1), ts(1)]),
            "orders": pd.array([3, 4], dtype="int64"),
        }
    )
    orders_view = FeatureView(
        "orders",
        source=DataFrameSource(name="orders_df", df=orders),
        entities=[customer],
        schema=[Field("orders", Int64)],
    )
    fs.apply([stats_view(DataFrameSource(name="stats_df", df=frame(ROWS))), orders_view])
    df = fs.get_training_set(
        features=["stats:spend", "orders:orders"],
        start=ts(0).to_pydatetime(),
        end=ts(10).to_pydatetime(),
    ).to_df()
    got = [
        (int(c), t, None if pd.isna(s) else float(s), None if pd.isna(o) else int(o))
        for c, t, s, o in df.itertuples(index=False)
    ]
    # the union of both views' (key, event time), each joined point in time to both views
    assert got == [
        (1, ts(0), 10.0, None),
        (1, ts(1), 10.0, 3),
        (1, ts(2), 30.0, 3),
        (2, ts(1), 20.0, 4),
    ]


def test_time_range_needs_both_ends_and_no_entity_df(fs: FeatureStore) -> None:
    fs.apply([stats_view(DataFrameSource(name="stats_df", df=frame(ROWS)))])
    with pytest.raises(InvalidFeature, match="give start= and end="):
        fs.get_training_set(features=["stats:spend"], start=ts(0).to_pydatetime())
    with pytest.raises(InvalidFeature, match="either entity_df or start/end"):
        fs.get_training_set(entities([(1, 1)]), ["stats:spend"], start=ts(0).to_pydatetime())


# -- saved datasets --------------------------------------------------------------------------


def stored_frame(fs: FeatureStore, record: Any) -> pd.DataFrame:
    """A saved dataset's rows, read from its blob directly."""
    import io

    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(fs.client.blobs.get_bytes(record.blob_hash))).to_pandas()


def test_saved_datasets_are_versioned_with_lineage(fs: FeatureStore) -> None:
    source = DataFrameSource(name="stats_df", df=frame(ROWS))
    fs.apply([stats_view(source)])
    entity_df = entities(PROBES)
    job = fs.get_training_set(entity_df, ["stats:spend"])
    expected = job.to_df()

    first = job.save_dataset("train")
    second = job.save_dataset("train")
    assert (first.version, second.version) == (1, 2)
    assert first.uri == f"dataset:{fs.project}/train/1"
    assert (first.record.rows, first.record.run_id) == (len(PROBES), None)
    assert first.record.blob_hash == second.record.blob_hash  # same rows, same blob

    latest = fs.get_dataset("train")
    assert latest.version == 2
    assert fs.get_dataset("train", version=1).record == first.record
    assert sorted(d.version for d in fs.list_datasets("train")) == [1, 2]
    pd.testing.assert_frame_equal(stored_frame(fs, latest.record), expected)

    lineage = latest.lineage
    assert lineage["feature_views"] == {
        "stats": {
            "version": 1,
            "features": ["spend"],
            "source": "stats_df",
            "source_version": 1,
            "source_fingerprint": source.fingerprint(),
        }
    }
    assert lineage["entity_df_hash"] == frame_fingerprint(entity_df)
    assert lineage["timestamp_column"] == "event_timestamp"
    assert lineage["columns"] == ["customer_id", "event_timestamp", "spend"]
    assert lineage["project"] == fs.project
    assert lineage["feature_service"] is None


def test_saved_dataset_reads_back_as_the_jobs_frame(fs: FeatureStore) -> None:
    fs.apply([stats_view(DataFrameSource(name="stats_df", df=frame(ROWS)))])
    job = fs.get_training_set(entities(PROBES), ["stats:spend"])
    job.save_dataset("train")
    pd.testing.assert_frame_equal(fs.get_dataset("train").to_df(), job.to_df())


def test_saved_dataset_lineage_follows_view_versions(fs: FeatureStore, tmp_path: Path) -> None:
    path = tmp_path / "stats.parquet"
    frame(ROWS).to_parquet(path)
    fs.apply([stats_view(FileSource(name="stats_source", path=str(path)))])
    fp1 = fs.get_feature_view("stats").source.fingerprint()
    job = fs.get_training_set(entities(PROBES), ["stats:spend"])
    v1 = job.save_dataset("train").lineage["feature_views"]["stats"]
    assert (v1["version"], v1["source_fingerprint"]) == (1, fp1)

    frame([*ROWS, (4, 0, 1.0)]).to_parquet(path)  # the data changes: the fingerprint too
    longer = stats_view(FileSource(name="stats_source", path=str(path)), ttl=timedelta(days=60))
    fs.apply([longer])
    job = fs.get_training_set(entities(PROBES), ["stats:spend"])
    v2 = job.save_dataset("train").lineage["feature_views"]["stats"]
    assert v2["version"] == 2
    assert v2["source_fingerprint"] != fp1


def test_dataset_saved_in_a_run_records_and_tags_it(fs: FeatureStore) -> None:
    fs.apply([stats_view(DataFrameSource(name="stats_df", df=frame(ROWS)))])
    job = fs.get_training_set(entities(PROBES), ["stats:spend"])
    job.save_dataset("train")
    with shipyard.start_run(client=fs.client) as run:
        saved = job.save_dataset("train")
    assert saved.version == 2
    assert saved.record.run_id == run.id
    assert fs.get_dataset("train").record.run_id == run.id
    assert fs.get_dataset("train", version=1).record.run_id is None
    assert fs.client.get_run(run.id).tags["shipyard.dataset.train"] == "2"


def test_reading_a_dataset_in_a_run_tags_the_run(fs: FeatureStore) -> None:
    fs.apply([stats_view(DataFrameSource(name="stats_df", df=frame(ROWS)))])
    fs.get_training_set(entities(PROBES), ["stats:spend"]).save_dataset("train")
    with shipyard.start_run(client=fs.client) as reader:
        df = fs.get_dataset("train", version=1).to_df()
    assert len(df) == len(PROBES)
    assert fs.client.get_run(reader.id).tags["shipyard.dataset.train"] == "1"


def test_float_values_are_exact(fs: FeatureStore) -> None:
    """Float64 values survive the round trip exactly (no float32 narrowing)."""
    value = 1 / 3
    fs.apply([stats_view(DataFrameSource(name="stats_df", df=frame([(1, 0, value)])))])
    assert spends(fs, [(1, 1)]) == [value]
