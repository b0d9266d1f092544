"""Batch scoring through `shipyard predict`, and `shipyard serve` as a real process with
several workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pandas as pd
import pytest

import shipyard
from tests.serving.conftest import free_port, records


def test_predict_scores_a_file_in_chunks_and_logs_every_row(
    cli, churn_model, customers, tmp_path, shipyard_client
):
    source = tmp_path / "in.parquet"
    customers.to_parquet(source)
    out = tmp_path / "scored" / "out.parquet"
    code, stdout, _ = cli(
        "predict",
        "churn@production",
        "--input",
        str(source),
        "--output",
        str(out),
        "--chunk-rows",
        "64",
    )
    assert code == 0 and "300 rows scored by churn v1" in stdout
    scored = pd.read_parquet(out)
    assert list(scored.columns) == ["age", "spend", "plan", "prediction", "prediction_id"]
    assert scored["prediction"].tolist() == churn_model.predict(customers).tolist()
    logged = shipyard_client.store.predictions.query("churn")
    assert sorted(p.id for p in logged) == sorted(scored["prediction_id"])
    assert {p.variant for p in logged} == {"batch"}

    csv = tmp_path / "in.csv"
    customers.head(10).to_csv(csv, index=False)
    code, _, _ = cli(
        "predict",
        "churn/1",
        "--input",
        str(csv),
        "--output",
        str(tmp_path / "p.parquet"),
        "--method",
        "predict_proba",
        "--no-log",
    )
    assert code == 0
    assert len(pd.read_parquet(tmp_path / "p.parquet")["prediction"][0]) == 2
    assert len(shipyard_client.store.predictions.query("churn")) == 300  # --no-log


def test_predict_refuses_bad_input_and_leaves_no_output(cli, churn_model, customers, tmp_path):
    bad = customers.assign(age=customers["age"].astype(str))
    bad.to_parquet(tmp_path / "bad.parquet")
    out = tmp_path / "out.parquet"
    code, _, err = cli(
        "predict",
        "churn@production",
        "--input",
        str(tmp_path / "bad.parquet"),
        "--output",
        str(out),
    )
    assert code == 1 and "input 'age' must be an integer" in err
    assert list(tmp_path.glob("*out.parquet*")) == []
    code, _, err = cli(
        "predict", "churn@production", "--input", str(tmp_path / "x.json"), "--output", str(out)
    )
    assert code == 1 and "does not exist" in err
    (tmp_path / "x.json").write_text("{}")
    code, _, err = cli(
        "predict", "churn@production", "--input", str(tmp_path / "x.json"), "--output", str(out)
    )
    assert code == 1 and "must be a .parquet or .csv file" in err
    code, _, err = cli(
        "predict", "nope@production", "--input", str(tmp_path / "bad.parquet"), "--output", str(out)
    )
    assert code == 1 and "nope" in err


def test_serve_usage_errors_are_one_line(cli, churn_model, tmp_path):
    code, _, err = cli("serve")
    assert code == 2 and "give MODEL" in err
    code, _, err = cli(
        "serve", "churn@production", "--split", "churn/1=60", "--split", "churn/1=40"
    )
    assert code == 1 and err.startswith("error: --split weights add up to 100%")
    code, _, err = cli("serve", "churn@nope", "--port", str(free_port()))
    assert code == 1 and err.startswith("error:") and "nope" in err


@pytest.mark.slow
def test_serve_runs_several_workers_and_sums_their_metrics(
    churn_model, customers, shipyard_home, tmp_path
):
    port = free_port()
    log = tmp_path / "serve.log"
    log_file = log.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shipyard.cli",
            "serve",
            "churn@production",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        env={**os.environ, "SHIPYARD_HOME": str(shipyard_home)},
        stdout=subprocess.DEVNULL,
        stderr=log_file,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        with httpx.Client(base_url=url, timeout=10) as http:
            for _ in range(20):  # new connections spread over the workers
                with httpx.Client(base_url=url, timeout=10) as one:
                    response = one.post("/predict", json={"records": records(customers.head(2))})
                    assert response.status_code == 200
            text = http.get("/metrics").text
        assert (
            'shipyard_predictions_total{model="churn",variant="production",version="1"} 40.0'
            in text
        )
    finally:
        process.terminate()
        process.wait(timeout=30)
        log_file.close()
    assert "production: churn v1 (models:/churn@production, 100%)" in log.read_text()


def test_predictions_ls_and_show_read_the_log(
    cli, churn_model, customers, tmp_path, shipyard_client
):
    customers.head(30).to_parquet(tmp_path / "in.parquet")
    out = tmp_path / "out.parquet"
    assert (
        cli(
            "predict",
            "churn@production",
            "--input",
            str(tmp_path / "in.parquet"),
            "--output",
            str(out),
        )[0]
        == 0
    )
    ids = pd.read_parquet(out)["prediction_id"].tolist()
    shipyard.log_labels(ids[:2], [1, 0])
    code, stdout, _ = cli("models", "ls")
    assert code == 0 and "never" not in stdout  # the last prediction is known now
    code, stdout, _ = cli("predictions", "ls", "churn", "--limit", "5")
    assert code == 0 and "30 prediction(s) in the last 1d" in stdout
    assert ids[-1] in stdout and ids[0] not in stdout  # newest first, 5 of them
    code, stdout, _ = cli("predictions", "ls", "churn", "--labelled")
    assert "2 prediction(s)" in stdout and ids[0] in stdout and ids[1] in stdout
    code, stdout, _ = cli("predictions", "show", ids[0])
    shown = json.loads(stdout)
    assert shown["model"] == "models:/churn/1" and shown["label"] == 1
    assert shown["inputs"] == records(customers.head(1))[0]
    assert shown["output"] == churn_model.predict(customers.head(1)).tolist()[0]
    assert set(shown["lineage"]) >= {"run", "dataset", "feature_service"}
    code, _, err = cli("predictions", "show", "f" * 32)
    assert code == 1 and "no prediction" in err
    code, _, err = cli("predictions", "ls", "churn", "--since", "yesterday")
    assert code == 1 and "must look like 30m, 2h or 7d" in err
