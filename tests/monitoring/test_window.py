"""read_window: the prediction log read back as columns, equal to what was logged, whether
the hours are sealed into Parquet segments yet or not, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import shipyard.serving
from shipyard.errors import InvalidArgument
from shipyard.monitoring import read_window
from shipyard.serving.predlog import LoggedBatch, PredictionLogger, new_ids
from shipyard.store.log_segments import SEGMENT_MS, seal, seal_all
from tests.serving import conftest as serving
from tests.serving.conftest import records

churn_model, customers, serve = serving.churn_model, serving.customers, serving.serve

T0 = 1_764_000_000_000  # an hour boundary
MIN = 60_000


@pytest.fixture
def log(client, store_uri, shipyard_home, monkeypatch):
    """A log writer on ``client``'s store; log_labels (which opens its own client) sees the
    same store."""
    monkeypatch.setenv("SHIPYARD_URI", store_uri)
    monkeypatch.setenv("SHIPYARD_ARTIFACT_URI", str(shipyard_home / "blobs"))
    return PredictionLogger(client.store.predictions, interval=60, blobs=client.blobs)


def write(log, ts, inputs, outputs, *, version=1, variant="main", features=None, shadow=False):
    n = len(outputs)
    batch = LoggedBatch(
        new_ids(n, ts), ts, "churn", version, variant, shadow, 2.5, inputs, features, outputs
    )
    log.log(batch)
    return batch.ids


def traffic(log) -> list[str]:
    """Three hours of calls: single rows and batches, two versions, fetched features, a null,
    a column mixing numbers and strings, probability outputs."""
    ids = []
    for k in range(9):
        ts = T0 + k * 20 * MIN + k
        rows = 1 + k % 3
        ids += write(
            log,
            ts,
            {"age": [30 + k + i for i in range(rows)], "plan": ["pro", 7, None][:rows]},
            [[0.1 * (k % 10), 1 - 0.1 * (k % 10)]] * rows,
            version=1 + k % 2,
            variant="main" if k % 2 else "next",
            features={"spend": [k * 1.5, None, 2.0][:rows]},
            shadow=k == 4,
        )
    log.flush()
    return ids


def expected(client, model="churn", **kw) -> list[dict[str, Any]]:
    """The oracle: the per-record reader of the same log."""
    return [
        {
            "age": p.inputs["age"],
            "plan": p.inputs["plan"],
            "spend": (p.features or {}).get("spend"),
            "prediction": p.output,
            "label": p.label,
            "prediction_id": p.id,
            "ts": p.ts_ms,
            "version": p.version,
            "variant": p.variant,
            "shadow": p.shadow,
            "latency_ms": p.latency_ms,
            "error": p.error,
        }
        for p in client.store.predictions.query(model, **kw)
    ]


def plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return int(value.timestamp() * 1000)
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)  # a nullable integer column comes back as floats
    return value


def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: plain(v) for k, v in r.items()} for r in frame.to_dict(orient="records")]


def normalised(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: plain(v) for k, v in r.items()} for r in records]


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def test_the_log_reads_back_equal_before_and_after_sealing(client, log):
    ids = traffic(log)
    store = client.store.predictions
    assert shipyard.serving.log_labels(ids[:4], [1, 0, 1, 1]) == 4
    before = read_window("churn", client=client)
    assert list(before.columns) == [
        "age",
        "plan",
        "spend",
        "prediction",
        "label",
        "prediction_id",
        "ts",
        "version",
        "variant",
        "shadow",
        "latency_ms",
        "error",
    ]
    assert str(before["ts"].dt.tz) == "UTC" and len(before) == len(ids)
    assert rows(before) == normalised(expected(client))

    written = seal_all(store, client.blobs, now_ms=T0 + 4 * SEGMENT_MS)
    segments = store.list_segments("churn")
    assert written == len(segments) == 6  # 3 hours x 2 versions
    assert sum(s.rows for s in segments) == len(ids)
    after = read_window("churn", client=client)
    assert rows(after) == rows(before)
    assert seal_all(store, client.blobs, now_ms=T0 + 4 * SEGMENT_MS) == 0  # nothing new

    # a label that arrives after its segment was written is still joined
    shipyard.serving.log_labels([ids[5]], [0])
    got = read_window("churn", client=client, columns=["prediction_id", "label"])
    assert dict(zip(got["prediction_id"], got["label"].map(plain), strict=True))[ids[5]] == 0
    assert rows(read_window("churn", client=client)) == normalised(expected(client))


def test_calls_that_reach_a_sealed_hour_late_are_read_and_resealed(client, log):
    traffic(log)
    store = client.store.predictions
    seal_all(store, client.blobs, now_ms=T0 + 4 * SEGMENT_MS)
    late = write(log, T0 + 5 * MIN, {"age": [99], "plan": ["team"]}, [[0.5, 0.5]])
    log.flush()  # e.g. a server that kept it buffered while the store was down
    frame = read_window("churn", client=client)
    assert late[0] in set(frame["prediction_id"])
    assert rows(frame) == normalised(expected(client))
    assert seal_all(store, client.blobs, now_ms=T0 + 4 * SEGMENT_MS) == 1  # v1's first hour
    first = [s for s in store.list_segments("churn", T0, T0 + 1) if s.version == 1]
    assert [s.calls for s in first] == [3]
    assert rows(read_window("churn", client=client)) == normalised(expected(client))


def test_a_crash_between_blob_and_index_row_loses_nothing(client, log, monkeypatch):
    traffic(log)
    store = client.store.predictions
    real = store.put_segment

    def crash(segment):
        raise ConnectionError("the server died after writing the blob")

    monkeypatch.setattr(store, "put_segment", crash)
    with pytest.raises(ConnectionError):
        seal(store, client.blobs, "churn", now_ms=T0 + 4 * SEGMENT_MS)
    assert store.list_segments("churn") == []  # the blob is orphaned: gc takes it
    assert rows(read_window("churn", client=client)) == normalised(expected(client))
    monkeypatch.setattr(store, "put_segment", real)
    assert seal(store, client.blobs, "churn", now_ms=T0 + 4 * SEGMENT_MS) == 6
    assert rows(read_window("churn", client=client)) == normalised(expected(client))


def test_concurrent_sealers_converge_on_the_fullest_copy(client, log):
    traffic(log)
    store = client.store.predictions
    seal_all(store, client.blobs, now_ms=T0 + 4 * SEGMENT_MS)
    (first, *_) = store.list_segments("churn")
    stale = first.__class__(**{**first.__dict__, "calls": first.calls - 1, "blob_hash": "0" * 64})
    assert store.put_segment(stale) is False  # a slower writer's older copy does not win
    assert store.list_segments("churn")[0] == first


def test_a_damaged_segment_is_read_from_sql_and_rewritten_once_deleted(client, log, caplog):
    """Segments are checked against their hash before DuckDB reads them: a damaged one is
    never read (its hours come from the SQL log), and once its blob is deleted the next
    seal writes it again."""
    traffic(log)
    store = client.store.predictions
    seal_all(store, client.blobs, now_ms=T0 + 4 * SEGMENT_MS)
    (first, *_) = store.list_segments("churn")
    path = Path(client.blobs.path(first.blob_hash))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: a page DuckDB would still decode
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    with caplog.at_level("WARNING", logger="shipyard.monitoring"):
        frame = read_window("churn", client=client)
    assert rows(frame) == normalised(expected(client))
    assert first.blob_hash in caplog.text and "damaged" in caplog.text

    client.blobs.delete(first.blob_hash)  # as `shipyard doctor` advises
    assert seal_all(store, client.blobs, now_ms=T0 + 4 * SEGMENT_MS) == 1
    assert client.blobs.digest(first.blob_hash) == first.blob_hash  # same bytes again
    caplog.clear()
    with caplog.at_level("WARNING", logger="shipyard.monitoring"):
        assert rows(read_window("churn", client=client)) == normalised(expected(client))
    assert "damaged" not in caplog.text


def test_window_boundaries_and_version_filter(client, log):
    traffic(log)
    seal_all(client.store.predictions, client.blobs, now_ms=T0 + 2 * SEGMENT_MS)  # hour 1 only
    since, until = T0 + 40 * MIN + 2, T0 + 100 * MIN + 5  # exactly calls k=2 and k=5
    window = read_window("churn", since=at(since), until=at(until), client=client)
    want = [r for r in expected(client) if since <= r["ts"] < until]
    assert rows(window) == normalised(want) and want[0]["ts"] == since
    v2 = read_window(
        "churn", version=2, since=at(since), until=at(until + 1), client=client, columns=["age"]
    )
    assert list(v2.columns) == ["age"]
    assert v2["age"].tolist() == [
        r["age"] for r in expected(client, version=2) if since <= r["ts"] <= until
    ]


def test_empty_windows_unknown_models_and_bad_arguments(client, log):
    traffic(log)
    empty = read_window("churn", since=at(T0 + 10 * SEGMENT_MS), client=client)
    assert len(empty) == 0 and {"prediction", "label", "ts"} <= set(empty.columns)
    nothing = read_window("never-served", client=client)
    assert len(nothing) == 0 and "prediction_id" in nothing.columns
    with pytest.raises(InvalidArgument, match="no time zone"):
        read_window("churn", since=datetime(2026, 1, 1), client=client)
    with pytest.raises(InvalidArgument, match="is not after since"):
        read_window("churn", since=at(T0 + MIN), until=at(T0), client=client)
    with pytest.raises(InvalidArgument, match="neither a duration"):
        read_window("churn", since="yesterday", client=client)
    with pytest.raises(InvalidArgument, match=r"no column 'income'; columns: .*age"):
        read_window("churn", columns=["income"], client=client)
    recent = read_window("churn", since=timedelta(days=1), client=client)
    assert len(recent) == 0  # the test traffic is from 2025


def test_predictions_served_over_http_read_back(serve, churn_model, customers, shipyard_client):
    server = serve("churn@production")
    sent = records(customers.head(5))
    body = server.post("/predict", {"records": sent}).json()
    server.service.logger.flush()
    shipyard.serving.log_labels(body["prediction_ids"][:2], [1, 0])
    frame = read_window("churn", version=1, since="1h", client=shipyard_client)
    assert frame["prediction_id"].tolist() == body["prediction_ids"]
    assert rows(frame[["age", "spend", "plan"]]) == normalised(sent)
    assert frame["prediction"].tolist() == body["predictions"]
    assert rows(frame[["label"]]) == [{"label": 1}, {"label": 0}] + [{"label": None}] * 3
    assert set(frame["variant"]) == {"production"} and not frame["shadow"].any()


def test_predictions_seal_catches_up_on_a_log_written_without_segments(
    client, log, store_uri, shipyard_home, monkeypatch
):
    """`shipyard predictions seal` writes the segments a log written before segments
    existed (or by batch scoring) lacks; reads are the same before and after."""
    from click.testing import CliRunner

    from shipyard.cli.main import cli

    traffic(log)  # T0 is long past: three finished hours, none sealed (no flusher pass)
    before = read_window("churn", client=client)
    assert client.store.predictions.list_segments("churn") == []
    result = CliRunner().invoke(cli, ["predictions", "seal", "churn"])
    assert result.exit_code == 0, result.output
    written = int(result.output.split()[1])
    assert written >= 3
    assert len(client.store.predictions.list_segments("churn")) == written
    after = read_window("churn", client=client)
    pd.testing.assert_frame_equal(before, after, check_like=True)
    assert (
        CliRunner().invoke(cli, ["predictions", "seal", "churn"]).output == "wrote 0 segment(s)\n"
    )


def test_prune_deletes_whole_hours_with_their_labels_and_segments(
    client, log, store_uri, shipyard_home, monkeypatch
):
    """Retention: calls before the cutoff go with their labels and segments in one
    transaction; later hours read back unchanged, sealed or not."""
    from click.testing import CliRunner

    from shipyard.cli.main import cli

    ids = traffic(log)
    store = client.store.predictions
    assert shipyard.serving.log_labels([ids[0], ids[-1]], [1, 0]) == 2
    seal_all(store, client.blobs, now_ms=T0 + 4 * SEGMENT_MS)
    kept = [r for r in expected(client) if r["ts"] >= T0 + SEGMENT_MS]

    gone = store.prune(T0 + SEGMENT_MS)
    assert gone == {"calls": 3, "labels": 1, "segments": 2}  # hour 0: 3 calls, 2 versions
    assert expected(client) == kept
    assert rows(read_window("churn", client=client)) == normalised(kept)
    assert [s.first_ts_ms for s in store.list_segments("churn")] == [T0 + SEGMENT_MS] * 2 + [
        T0 + 2 * SEGMENT_MS
    ] * 2
    assert store.prune(T0 + SEGMENT_MS) == {"calls": 0, "labels": 0, "segments": 0}

    runner = CliRunner()
    other = runner.invoke(cli, ["predictions", "prune", "fraud", "--older-than", "1d"])
    assert other.exit_code == 0 and other.output.startswith("deleted 0 call(s)")
    assert len(expected(client)) == len(kept)
    result = runner.invoke(cli, ["predictions", "prune", "churn", "--older-than", "1d"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("deleted 6 call(s), 1 label(s) and 4 segment(s)")  # 9 - 3
    assert expected(client) == [] and store.list_segments("churn") == []
    bad = runner.invoke(cli, ["predictions", "prune", "--older-than", "a week"])
    assert bad.exit_code == 1
    assert str(bad.exception) == "--older-than 'a week' must look like 30m, 2h or 7d"
