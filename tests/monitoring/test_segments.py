"""segments(): performance per segment of a column, gaps flagged on a biased model and not
on a fair one; numeric columns cut into quantile bands; read through the real log."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

import shipyard.serving
from shipyard.errors import InvalidArgument
from shipyard.monitoring import read_window, segments
from shipyard.serving.predlog import LoggedBatch, PredictionLogger, new_ids
from tests.serving import conftest as serving

churn_model, customers = serving.churn_model, serving.customers

T0 = 1_764_000_000_000


def population(biased: bool, n: int = 1200, seed: int = 0) -> pd.DataFrame:
    """Labels and predictions for three regions; when biased, the model is right 55% of the
    time in 'south' and 90% elsewhere; when fair, 90% everywhere."""
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east"], n)
    label = rng.integers(0, 2, n)
    right = rng.random(n) < np.where(biased & (region == "south"), 0.55, 0.9)
    return pd.DataFrame(
        {
            "region": region,
            "age": rng.integers(18, 80, n),
            "label": label,
            "prediction": np.where(right, label, 1 - label),
        }
    )


def test_a_biased_segment_is_flagged_and_a_fair_one_is_not():
    biased = segments(population(True), "region")
    flagged = biased[biased["flagged"]]
    assert flagged["segment"].tolist() == ["south"]
    south = population(True)
    south = south[south["region"] == "south"]
    assert flagged["f1"].iloc[0] == pytest.approx(skm.f1_score(south["label"], south["prediction"]))
    assert biased.attrs["metric"] == "f1" and biased.attrs["max_gap"] > 0.25
    fair = segments(population(False), "region")
    assert not fair["flagged"].any() and fair.attrs["max_gap"] < 0.1
    assert set(fair.columns) >= {"segment", "rows", "labelled", "positive_rate", "f1", "gap"}


def test_numeric_columns_are_cut_into_quantile_bands():
    result = segments(population(False), "age", bins=4, metric="accuracy")
    assert len(result) == 4 and result["segment"].str.startswith("(").all()
    assert result["rows"].sum() == 1200


def test_bad_arguments():
    frame = population(False)
    with pytest.raises(InvalidArgument, match="cannot segment by 'city'"):
        segments(frame, "city")
    with pytest.raises(InvalidArgument, match="metric 'rmse' is not available"):
        segments(frame, "region", metric="rmse")


def test_segments_of_the_logged_predictions(client, store_uri, shipyard_home, monkeypatch):
    monkeypatch.setenv("SHIPYARD_URI", store_uri)
    monkeypatch.setenv("SHIPYARD_ARTIFACT_URI", str(shipyard_home / "blobs"))
    data = population(True, n=600, seed=1)
    log = PredictionLogger(client.store.predictions, interval=60, blobs=client.blobs)
    ids = new_ids(len(data), T0)
    log.log(
        LoggedBatch(
            ids, T0, "churn", 1, "main", False, 3.0,
            {"region": data["region"].tolist(), "age": data["age"].tolist()}, None,
            data["prediction"].tolist(),
        )
    )  # fmt: skip
    log.flush()
    shipyard.serving.log_labels(ids, data["label"].tolist())
    result = segments(read_window("churn", client=client), "region")
    assert result[result["flagged"]]["segment"].tolist() == ["south"]
    assert result["rows"].sum() == 600


def test_the_cli_commands_resolve_the_alias_and_print_json_and_tables(churn_model, shipyard_client):
    import json
    import time

    from click.testing import CliRunner

    from shipyard.cli.main import cli

    data = population(True, n=400, seed=2)
    log = PredictionLogger(shipyard_client.store.predictions, interval=60)
    now = time.time_ns() // 1_000_000
    ids = new_ids(len(data), now)
    log.log(
        LoggedBatch(
            ids, now, "churn", 1, "production", False, 3.0,
            {"region": data["region"].tolist()}, None, data["prediction"].tolist(),
        )
    )  # fmt: skip
    log.flush()
    shipyard.serving.log_labels(ids, data["label"].tolist())
    runner = CliRunner()
    done = runner.invoke(
        cli, ["monitor", "segments", "churn@production", "--by", "region", "--json"]
    )
    assert done.exit_code == 0, done.output
    body = json.loads(done.output)
    assert body["version"] == 1 and body["metric"] == "f1"
    assert [s["segment"] for s in body["segments"] if s["flagged"]] == ["south"]
    table = runner.invoke(
        cli, ["monitor", "segments", "churn/1", "--by", "region", "--since", "1d"]
    )
    assert table.exit_code == 0 and "flagged: south" in table.output
    perf = runner.invoke(cli, ["monitor", "performance", "churn", "--window", "1h", "--json"])
    assert perf.exit_code == 0, perf.output
    windows = json.loads(perf.output)["windows"]
    assert sum(w["rows"] for w in windows) == 400 and windows[0]["accuracy"] is not None
    bad = runner.invoke(cli, ["monitor", "segments", "churn@production", "--by", "city"])
    assert "cannot segment by 'city'" in str(bad.exception)
