"""Batch scoring on Ray: the same output as locally (columns, predictions, order), every
prediction logged, the model pinned to one version while its alias moves, a failing chunk
that leaves no output, the CLI flags, and the one-line message without Ray.

One local Ray (2 CPUs, no dashboard) serves the module. ``ray`` tests skip without Ray,
except with SHIPYARD_TEST_RAY=1 (CI), where such a skip fails the run.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import shipyard
from shipyard.errors import InvalidArgument, MissingExtra
from shipyard.serving.batch import Output, predict_file
from tests.serving.conftest import labels_for

CHUNK = 64  # 300 rows: 5 chunks


@pytest.mark.ray
def test_on_ray_the_output_and_log_match_the_local_executor(
    local_ray, churn_model, customers, tmp_path, shipyard_client
):
    source = tmp_path / "in.parquet"
    customers.to_parquet(source)
    here = predict_file(
        "churn@production",
        str(source),
        str(tmp_path / "local.parquet"),
        chunk_rows=CHUNK,
        executor="local",
    )
    there = predict_file(
        "churn@production",
        str(source),
        str(tmp_path / "ray.parquet"),
        chunk_rows=CHUNK,
        executor="ray",
        workers=2,
    )
    assert (there.rows, there.model, there.version) == (here.rows, here.model, here.version)
    assert there.rows == 300 and there.version == 1
    local, scored = pd.read_parquet(here.output), pd.read_parquet(there.output)
    assert list(scored.columns) == list(local.columns)
    assert list(scored.columns) == ["age", "spend", "plan", "prediction", "prediction_id"]
    pd.testing.assert_frame_equal(
        scored.drop(columns="prediction_id"), local.drop(columns="prediction_id")
    )
    assert scored["prediction"].tolist() == churn_model.predict(customers).tolist()
    ids = scored["prediction_id"].tolist()
    assert len(set(ids)) == 300 and not set(ids) & set(local["prediction_id"])
    logged = {p.id: p for p in shipyard_client.store.predictions.query("churn")}
    assert set(ids) <= set(logged) and len(logged) == 600
    assert [logged[i].output for i in ids] == scored["prediction"].tolist()
    assert {(logged[i].version, logged[i].variant) for i in ids} == {(1, "batch")}
    assert local_ray.is_initialized()  # a Ray it did not start is left running


@pytest.mark.ray
def test_the_model_is_pinned_while_its_alias_moves(
    local_ray, churn_model, customers, tmp_path, shipyard_client
):
    from shipyard.serving.batch_ray import score_on_ray

    flipped = make_pipeline(
        ColumnTransformer(
            [("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"])], remainder="passthrough"
        ),
        LogisticRegression(max_iter=500),
    ).fit(customers, 1 - labels_for(customers))
    shipyard.register_model("churn", flipped, input_example=customers.head(5))

    def chunks() -> Iterator[Any]:
        for index, batch in enumerate(pa.Table.from_pandas(customers).to_batches(CHUNK)):
            if index == 2:  # two chunks in: production moves to v2
                shipyard.set_model_alias("churn", "production", 2)
            yield batch

    out = tmp_path / "out.parquet"
    result = score_on_ray(
        "churn@production",
        chunks(),
        Output(out, "in"),
        method="predict",
        log_predictions=True,
        client=None,
        address=None,
        workers=2,
    )
    assert (result.model, result.version, result.rows) == ("churn", 1, 300)
    scored = pd.read_parquet(out)
    assert scored["prediction"].tolist() == churn_model.predict(customers).tolist()
    logged = shipyard_client.store.predictions.query("churn")
    assert {p.version for p in logged} == {1} and len(logged) == 300


@pytest.mark.ray
def test_a_failing_chunk_fails_the_run_in_one_line_and_writes_nothing(
    local_ray, churn_model, customers, tmp_path
):
    bad = customers.assign(age=customers["age"].astype(str))
    bad.to_parquet(tmp_path / "bad.parquet")
    out = tmp_path / "out.parquet"
    with pytest.raises(InvalidArgument) as caught:
        predict_file(
            "churn@production",
            str(tmp_path / "bad.parquet"),
            str(out),
            chunk_rows=CHUNK,
            executor="ray",
            workers=2,
        )
    message = caught.value.message
    assert message.startswith("chunk 1 (rows 1-64): input 'age' must be an integer")
    assert "\n" not in message
    assert list(tmp_path.glob("*out.parquet*")) == []


@pytest.mark.ray
def test_the_cli_scores_on_ray(local_ray, cli, churn_model, customers, tmp_path, shipyard_client):
    customers.to_parquet(tmp_path / "in.parquet")
    out = tmp_path / "out.parquet"
    code, stdout, err = cli(
        "predict",
        "churn@production",
        "--input",
        str(tmp_path / "in.parquet"),
        "--output",
        str(out),
        "--chunk-rows",
        str(CHUNK),
        "--executor",
        "ray",
        "--workers",
        "2",
    )
    assert code == 0, err
    assert "300 rows scored by churn v1" in stdout
    scored = pd.read_parquet(out)
    assert scored["prediction"].tolist() == churn_model.predict(customers).tolist()
    assert len(shipyard_client.store.predictions.query("churn")) == 300


@pytest.mark.ray
def test_the_executor_setting_picks_ray(
    local_ray, cli, churn_model, customers, tmp_path, monkeypatch
):
    from shipyard.serving import batch_ray

    calls: list[str] = []
    real = batch_ray.score_on_ray

    def spy(model: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(model)
        return real(model, *args, **kwargs)

    monkeypatch.setattr(batch_ray, "score_on_ray", spy)
    monkeypatch.setenv("SHIPYARD_EXECUTOR", "ray")
    customers.head(20).to_parquet(tmp_path / "in.parquet")
    args = ["predict", "churn/1", "--input", str(tmp_path / "in.parquet"), "--output"]
    code, stdout, err = cli(*args, str(tmp_path / "a.parquet"))
    assert code == 0 and "20 rows scored by churn v1" in stdout and calls == ["churn/1"], err
    code, _, err = cli(*args, str(tmp_path / "b.parquet"), "--executor", "local")
    assert code == 0 and calls == ["churn/1"], err  # --executor wins


def test_without_ray_the_message_names_the_extra(churn_model, customers, tmp_path, monkeypatch):
    customers.head(5).to_parquet(tmp_path / "in.parquet")
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(MissingExtra) as caught:
        predict_file(
            "churn/1", str(tmp_path / "in.parquet"), str(tmp_path / "out.parquet"), executor="ray"
        )
    assert caught.value.message == (
        "Batch scoring on Ray needs the 'ray' package: pip install 'shipyard[ray]'"
    )
    assert not (tmp_path / "out.parquet").exists()


def test_a_worker_error_names_its_chunk_in_one_line():
    from shipyard.errors import InvalidInput, ShipyardError
    from shipyard.serving.batch_ray import _failed

    class Wrapped(Exception):  # as Ray's RayTaskError: the worker's exception in .cause
        def __init__(self, cause: BaseException) -> None:
            super().__init__("traceback\n...")
            self.cause = cause

    crashed = _failed(Wrapped(MemoryError("out of memory\nat line 3")), 2, 128, 64)
    assert type(crashed) is ShipyardError
    assert crashed.message == "chunk 3 (rows 129-192) failed on Ray (MemoryError: out of memory)"
    bad = _failed(Wrapped(InvalidInput("input 'age' must be an integer", field="age")), 0, 0, 5)
    assert isinstance(bad, InvalidInput) and bad.field == "age"
    assert str(bad) == bad.message == "chunk 1 (rows 1-5): input 'age' must be an integer"
