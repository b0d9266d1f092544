"""`load_test` against a live server (counts, errors by status, bounds), payloads from a
signature or a file, and `shipyard models load-test` starting its own server."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pandas as pd
import pytest

import shipyard
from shipyard.errors import InvalidArgument
from shipyard.registry import ModelRegistry, PythonModel
from shipyard.serving import loadtest
from shipyard.serving.loadtest import file_payloads, load_test, signature_payloads
from shipyard.store.base import NewModelVersion
from tests.serving.conftest import free_port, records

EVERY_TYPE = {
    "inputs": [
        {"name": "amount", "type": "double"},
        {"name": "count", "type": "long"},
        {"name": "active", "type": "boolean"},
        {"name": "plan", "type": "string"},
        {"name": "seen_at", "type": "datetime"},
        {"name": "blob", "type": "binary"},
    ],
    "outputs": [{"name": "prediction", "type": "long"}],
}


class ColumnCounter(PythonModel):
    """Predicts, for each row, how many columns reached the model."""

    def predict(self, context: Any, model_input: Any) -> Any:
        return [len(model_input.columns)] * len(model_input)


def predictions_total(server: Any) -> float:
    text = server.http.get("/metrics").text
    found = re.search(r"^shipyard_predictions_total\{[^}]*\} (\S+)$", text, re.M)
    return float(found[1]) if found else 0.0


def test_counts_add_up_on_both_sides(serve, churn_model):
    server = serve("churn@production", log_predictions=False)
    bodies = signature_payloads(
        ModelRegistry().find_version("churn@production").record.signature, batch_size=3
    )
    result = load_test(server.url, bodies, concurrency=4, requests=60)
    assert (result.requests, result.ok, result.failed, result.rows) == (60, 60, 0, 180)
    assert result.errors == {}
    assert 0 < result.p50_ms <= result.p90_ms <= result.p99_ms <= result.max_ms
    assert result.rps == pytest.approx(60 / result.seconds)
    assert predictions_total(server) == 180  # every row predicted once, none lost


def test_errors_are_counted_by_status_with_their_first_message(serve, churn_model, customers):
    server = serve("churn@production", log_predictions=False)
    good = {"records": records(customers.head(2))}
    wrong_type = {"records": [{"age": "old", "spend": 1.0, "plan": "pro"}]}
    result = load_test(
        server.url + "/", [good, wrong_type, b"not json"], concurrency=3, requests=30
    )
    assert (result.requests, result.ok, result.rows) == (30, 10, 20)
    assert set(result.errors) == {"400", "422"}
    assert result.errors["422"].count == 10 and result.errors["400"].count == 10
    assert result.errors["422"].message == "input 'age' must be an integer; row 0 has str 'old'"
    assert "not valid JSON" in result.errors["400"].message
    assert result.failed == 20


def test_a_test_stops_at_its_duration_or_its_request_count(serve, churn_model, monkeypatch):
    server = serve("churn@production", log_predictions=False)
    bodies = [{"records": [{"age": 30, "spend": 20.0, "plan": "team"}]}]
    started = time.monotonic()
    timed = load_test(server.url, bodies, concurrency=2, duration=0.5)
    assert 0.5 <= timed.seconds < 3 and time.monotonic() - started < 4
    assert timed.requests == timed.ok > 0

    counted = load_test(server.url, bodies, concurrency=4, requests=5, duration=60)
    assert counted.requests == 5 and counted.seconds < 10

    monkeypatch.setattr(loadtest, "DEFAULT_REQUESTS", 7)  # neither bound given: defaults
    assert load_test(server.url, bodies, concurrency=2).requests == 7


def test_nothing_listening_stops_at_once_and_bad_arguments_are_refused():
    body = [{"records": [{"x": 1.0}]}]
    result = load_test(f"http://127.0.0.1:{free_port()}", body, concurrency=4, duration=30)
    assert result.ok == 0 and result.seconds < 5
    assert "connection" in result.errors and result.p50_ms is None
    for url, kw, says in [
        ("ftp://127.0.0.1/", {}, "is not an http"),
        ("http://127.0.0.1:1", {"concurrency": 0}, "concurrency must be at least 1"),
        ("http://127.0.0.1:1", {"requests": 0}, "requests must be at least 1"),
        ("http://127.0.0.1:1", {"duration": 0}, "duration must be more than 0"),
    ]:
        with pytest.raises(InvalidArgument, match=says):
            load_test(url, body, **kw)
    with pytest.raises(InvalidArgument, match="no payloads"):
        load_test("http://127.0.0.1:1", [])


def test_generated_values_of_every_type_pass_the_servers_checks(serve, shipyard_client):
    first = shipyard.register_model("counter", ColumnCounter())
    store = ModelRegistry().store
    store.create_model_version(
        "counter",
        NewModelVersion(
            flavor=first.record.flavor, blob_hash=first.record.blob_hash, signature=EVERY_TYPE
        ),
        "tester",
        first.record.created_ms + 1,
    )
    server = serve("counter/2", log_predictions=False)
    bodies = signature_payloads(EVERY_TYPE, batch_size=4, count=8, seed=3)
    assert bodies == signature_payloads(EVERY_TYPE, batch_size=4, count=8, seed=3)  # seeded
    assert {type(v) for v in bodies[0]["records"][0].values()} == {float, int, bool, str}
    result = load_test(server.url, bodies, concurrency=2, requests=16)
    assert (result.ok, result.rows, result.errors) == (16, 64, {})
    response = server.post("/predict", bodies[5])
    assert response.json()["predictions"] == [6, 6, 6, 6]  # every input reached the model


def test_payloads_from_a_file_cycle_its_rows(serve, churn_model, customers, tmp_path):
    frame = customers.head(10).assign(seen=pd.Timestamp("2024-03-01T12:00:00Z"))
    frame.to_parquet(tmp_path / "rows.parquet")
    frame.to_csv(tmp_path / "rows.csv", index=False)
    bodies = file_payloads(tmp_path / "rows.parquet", batch_size=4)
    assert [len(b["records"]) for b in bodies] == [4, 4, 4]
    sent = [r["age"] for b in bodies for r in b["records"]]
    assert sent == [*frame["age"], *frame["age"][:2]]  # wrapped to fill the last batch
    assert bodies[0]["records"][0]["seen"] == "2024-03-01T12:00:00+00:00"
    assert (
        file_payloads(tmp_path / "rows.csv", batch_size=20)[0]["records"][0]["plan"]
        == (frame["plan"].iloc[0])
    )
    server = serve("churn@production", log_predictions=False)
    result = load_test(server.url, bodies, concurrency=2, requests=9)
    assert (result.ok, result.rows) == (9, 36)

    with pytest.raises(InvalidArgument, match="does not exist"):
        file_payloads(tmp_path / "nope.csv")
    with pytest.raises(InvalidArgument, match="no input signature"):
        signature_payloads({})
    with pytest.raises(InvalidArgument, match="batch size"):
        signature_payloads(EVERY_TYPE, batch_size=0)


def test_cli_against_a_url_exits_1_naming_the_failures(
    cli, serve, churn_model, customers, tmp_path
):
    server = serve("churn@production", log_predictions=False)
    customers.head(4).assign(age="old").to_csv(tmp_path / "bad.csv", index=False)
    code, stdout, err = cli(
        "models", "load-test", "churn@production", "--url", server.url,
        "--input", str(tmp_path / "bad.csv"), "--requests", "6", "--concurrency", "2",
    )  # fmt: skip
    assert code == 1
    assert err.strip().splitlines()[-1] == "error: 6 of 6 requests failed (422: 6)"
    assert "input 'age' must be an integer" in stdout
    code, _, err = cli("models", "load-test", "churn@production", "--url", server.url, "--log")
    assert code == 2 and "--log applies to the server this command starts" in err
    code, _, err = cli(
        "models", "load-test", "churn/1", "--url", f"http://127.0.0.1:{free_port()}",
        "--requests", "3",
    )  # fmt: skip
    assert code == 1 and "error: nothing answered at http://127.0.0.1:" in err


@pytest.mark.slow
def test_cli_starts_its_own_server_and_stops_it(cli, churn_model, shipyard_client):
    code, stdout, err = cli(
        "models", "load-test", "churn@production", "--requests", "40", "--concurrency", "8",
        "--batch-size", "5",
    )  # fmt: skip
    assert code == 0, err
    url = re.search(r"at (http://127\.0\.0\.1:\d+):", stdout)
    assert url is not None and "8 clients, 5 row(s) per request" in stdout
    row = next(line.split() for line in stdout.splitlines() if line.strip().startswith("40 "))
    assert row[:3] == ["40", "40", "0"]  # requests, ok, failed
    with pytest.raises(httpx.TransportError):  # the server it started is gone
        httpx.get(url[1] + "/health", timeout=2)
    assert shipyard_client.store.predictions.query("churn") == []  # not logged by default
