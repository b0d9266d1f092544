"""Training sets bigger than DuckDB's memory limit: the join spills to disk, rows stream to
Parquet in input order, and the values match pandas' merge_asof."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from shipyard.errors import StoreUnavailable
from shipyard.features import (
    Entity,
    FeatureStore,
    FeatureView,
    Field,
    FileSource,
    Float64,
    SqlSource,
    String,
)
from shipyard.tracking import Client

ROWS = 1_000_000
BASE = pd.Timestamp("2024-01-01", tz="UTC")


def _data(folder: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(11)
    features = pd.DataFrame(
        {
            "customer_id": rng.integers(0, ROWS // 10, ROWS),
            "event_timestamp": BASE + pd.to_timedelta(rng.integers(0, 90 * 86400, ROWS), unit="s"),
        }
    )
    for i in range(5):
        features[f"f{i}"] = rng.random(ROWS)
    entities = pd.DataFrame(
        {
            "customer_id": rng.integers(0, ROWS // 10, ROWS),
            "event_timestamp": BASE + pd.to_timedelta(rng.integers(0, 90 * 86400, ROWS), unit="s"),
            "row": np.arange(ROWS),
        }
    )
    features.to_parquet(folder / "features.parquet", row_group_size=100_000)
    entities.to_parquet(folder / "entities.parquet", row_group_size=100_000)
    return folder / "features.parquet", folder / "entities.parquet"


@pytest.mark.slow
def test_join_larger_than_the_memory_limit_streams_to_parquet(
    shipyard_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    features_path, entities_path = _data(tmp_path)
    # ~100 MB of input columns against a 96 MB limit
    monkeypatch.setenv("SHIPYARD_DUCKDB_MEMORY_LIMIT", "96MB")
    fs = FeatureStore("big", client=Client())
    view = FeatureView(
        "stats",
        source=FileSource(name="stats_source", path=str(features_path)),
        entities=[Entity("customer", join_keys=["customer_id"])],
        schema=[Field(f"f{i}", Float64) for i in range(5)],
        ttl=timedelta(days=30),
    )
    fs.apply([view])
    out = tmp_path / "train.parquet"
    fs.get_training_set(entities_path, [f"stats:f{i}" for i in range(5)]).to_parquet(out)

    result = pq.read_table(out, columns=["row", "customer_id", "event_timestamp", "f0"]).to_pandas()
    assert len(result) == ROWS
    assert (result["row"].to_numpy() == np.arange(ROWS)).all()  # input order kept
    sample = result.sample(2_000, random_state=0).sort_values("event_timestamp")
    sample["event_timestamp"] = sample["event_timestamp"].dt.tz_convert("UTC")
    feats = pd.read_parquet(features_path, columns=["customer_id", "event_timestamp", "f0"])
    expected = pd.merge_asof(
        sample,
        feats.sort_values("event_timestamp").rename(columns={"f0": "expected"}),
        on="event_timestamp",
        by="customer_id",
        tolerance=pd.Timedelta(days=30),
        allow_exact_matches=True,
    )
    assert len(expected) == len(sample)
    np.testing.assert_allclose(
        expected["f0"].to_numpy(dtype=float), expected["expected"].to_numpy(dtype=float)
    )


def test_out_of_memory_says_what_to_change(
    shipyard_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    features_path, _ = _data(tmp_path)
    monkeypatch.setenv("SHIPYARD_DUCKDB_MEMORY_LIMIT", "8MB")
    fs = FeatureStore("tiny", client=Client())
    view = FeatureView(
        "stats",
        source=FileSource(name="stats_source", path=str(features_path)),
        entities=[Entity("customer", join_keys=["customer_id"])],
        schema=[Field(f"f{i}", Float64) for i in range(5)],
    )
    with pytest.raises(StoreUnavailable, match="raise SHIPYARD_DUCKDB_MEMORY_LIMIT"):
        fs.apply([view])
    assert fs.meta.latest_feature_objects("tiny") == []


def _limited_store(monkeypatch: pytest.MonkeyPatch, limit: str) -> FeatureStore:
    monkeypatch.setenv("SHIPYARD_DUCKDB_MEMORY_LIMIT", limit)
    return FeatureStore("tiny", client=Client())


def test_out_of_memory_while_streaming_is_not_a_raw_oserror(
    shipyard_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transformation reads its source through an Arrow reader: DuckDB's out-of-memory
    error surfaces there as pyarrow's OSError, and must still say what to change."""
    growing = (  # each batch of rows needs more memory than the last
        "SELECT i AS customer_id, TIMESTAMPTZ '2024-01-01' AS event_timestamp, "
        "repeat('x', (i // 10000) * 10000) AS note FROM range(1000000) t(i)"
    )
    view = FeatureView(
        "notes",
        source=SqlSource(name="notes_sql", query=growing),
        entities=[Entity("customer", join_keys=["customer_id"])],
        schema=[Field("note", String)],
        transformation=lambda df: df,
    )
    fs = _limited_store(monkeypatch, "20MB")
    with pytest.raises(StoreUnavailable) as caught:
        fs.apply([view])
    message = str(caught.value)
    assert type(caught.value.__cause__) is OSError  # the streamed form of the error
    assert "DuckDB ran out of memory" in message
    assert "raise SHIPYARD_DUCKDB_MEMORY_LIMIT (the duckdb_memory_limit setting" in message
    assert "now '20MB', from env SHIPYARD_DUCKDB_MEMORY_LIMIT" in message
    assert fs.meta.latest_feature_objects("tiny") == []


def test_out_of_memory_of_a_streamed_training_set_says_what_to_change(
    shipyard_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Applied with room to spare, then read with a limit too small for the join: every
    way of reading the result (to_batches streams it) says which setting to raise."""
    rng = np.random.default_rng(3)
    rows = 300_000
    path = tmp_path / "stats.parquet"
    pd.DataFrame(
        {
            "customer_id": rng.integers(0, rows // 10, rows),
            "event_timestamp": BASE + pd.to_timedelta(rng.integers(0, 90 * 86400, rows), unit="s"),
            "f0": rng.random(rows),
            "f1": rng.random(rows),
        }
    ).to_parquet(path)
    entities = tmp_path / "entities.parquet"
    pd.DataFrame(
        {
            "customer_id": rng.integers(0, rows // 10, rows),
            "event_timestamp": BASE + pd.to_timedelta(rng.integers(0, 90 * 86400, rows), unit="s"),
        }
    ).to_parquet(entities)
    view = FeatureView(
        "stats",
        source=FileSource(name="stats_source", path=str(path)),
        entities=[Entity("customer", join_keys=["customer_id"])],
        schema=[Field("f0", Float64), Field("f1", Float64)],
        ttl=timedelta(days=30),
    )
    FeatureStore("tiny", client=Client()).apply([view])
    fs = _limited_store(monkeypatch, "12MB")
    job = fs.get_training_set(entities, ["stats:f0", "stats:f1"])
    reads = {
        "to_batches": lambda: list(job.to_batches()),
        "to_parquet": lambda: job.to_parquet(tmp_path / "out.parquet"),
        "to_arrow": job.to_arrow,
        "save_dataset": lambda: job.save_dataset("train"),
    }
    for name, read in reads.items():
        with pytest.raises(StoreUnavailable, match="now '12MB', from env SHIPYARD_DUCKDB") as c:
            read()
        assert "raise SHIPYARD_DUCKDB_MEMORY_LIMIT" in str(c.value), name
