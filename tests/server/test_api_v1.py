"""The /api/v1 routes over a live server: what they answer, their 4xx errors (always the
JSON error form), gzip request bodies, idempotent batches, blobs with Range and resumable
uploads, and the generic store RPC."""

from __future__ import annotations

import gzip
import hashlib
import math

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.store import wire


def error_of(response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"], body
    return response.status_code, body["error"]["code"]


def new_run(api, **fields) -> dict:
    response = api.post("/runs", json={"project": "p", **fields})
    assert response.status_code == 201, response.text
    return response.json()


# -- health, openapi, projects -----------------------------------------------------------


def test_health_and_the_openapi_document_describes_the_bodies(api, live_server):
    assert api.get("/health").json()["status"] == "ok"
    spec = api.get(f"{live_server.url}/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for name in ("RunIn", "RunOut", "LogBatchIn", "MetricIn", "SearchOut", "ArtifactOut"):
        assert name in schemas, name
    assert "/api/v1/runs/{run_id}/log-batch" in spec["paths"]


def test_projects_are_created_listed_and_read_with_json_errors(api):
    assert api.post("/projects", json={"name": "alpha", "description": "A"}).status_code == 201
    assert error_of(api.post("/projects", json={"name": "alpha"})) == (409, "ALREADY_EXISTS")
    assert [p["name"] for p in api.get("/projects").json()] == ["alpha"]
    assert api.get("/projects/alpha").json()["description"] == "A"
    assert error_of(api.get("/projects/nope")) == (404, "NOT_FOUND")
    assert error_of(api.post("/projects", json={"name": "-bad"}))[0] == 400
    assert error_of(api.post("/projects", json={}))[0] == 422
    assert error_of(api.post("/projects", content=b"{not json"))[0] == 422


# -- runs -----------------------------------------------------------------------------------


def test_a_run_is_created_renamed_ended_deleted_restored_and_purged(api):
    run = new_run(api, name="first", params={"lr": "0.1"}, tags={"team": "fraud"})
    assert (run["status"], run["params"], run["tags"]) == (
        "RUNNING",
        {"lr": "0.1"},
        {"team": "fraud"},
    )
    run_id = run["id"]
    patched = api.patch(f"/runs/{run_id}", json={"name": "renamed", "status": "FINISHED"}).json()
    assert (patched["name"], patched["status"]) == ("renamed", "FINISHED")
    assert patched["end_ms"] >= patched["start_ms"]
    assert api.delete(f"/runs/{run_id}").json() == {"ok": True}
    assert api.get(f"/runs/{run_id}").json()["deleted"] is True
    api.post(f"/runs/{run_id}/restore")
    assert api.get(f"/runs/{run_id}").json()["deleted"] is False
    api.delete(f"/runs/{run_id}")
    assert api.post("/runs-purge").json() == {"purged": [run_id]}
    assert error_of(api.get(f"/runs/{run_id}")) == (404, "NOT_FOUND")


def test_bad_run_requests_are_4xx(api):
    assert error_of(api.get("/runs/not-a-run-id")) == (400, "INVALID_ARGUMENT")
    assert error_of(api.get(f"/runs/{'0' * 32}")) == (404, "NOT_FOUND")
    assert error_of(api.post("/runs", json={"project": "p", "params": {"bad key!": "1"}}))[0] == 400
    assert error_of(api.post("/runs", json={"project": "p", "parent_id": "0" * 32}))[0] == 404
    run_id = new_run(api)["id"]
    assert error_of(api.patch(f"/runs/{run_id}", json={"status": "DONE"}))[0] == 422
    assert error_of(api.patch(f"/runs/{run_id}", json={"end_ms": -1}))[0] == 422


# -- run data -----------------------------------------------------------------------------


def test_a_batch_logs_params_tags_and_non_finite_metrics(api):
    run_id = new_run(api)["id"]
    batch = {
        "params": {"depth": "3"},
        "tags": {"stage": "a"},
        "metrics": [
            {"key": "loss", "value": 0.5, "step": 0, "timestamp_ms": 1},
            {"key": "loss", "value": "NaN", "step": 1, "timestamp_ms": 2},
            {"key": "loss", "value": "Infinity", "step": 2, "timestamp_ms": 3},
            {"key": "gap", "value": "-Infinity", "step": 0},
        ],
    }
    logged = api.post(f"/runs/{run_id}/log-batch", json=batch).json()
    assert logged == {"metrics": 4, "params": 1, "tags": 1, "replayed": False}
    history = api.get(f"/runs/{run_id}/metric-history", params={"key": "loss"}).json()
    assert [(m["step"], m["value"]) for m in history] == [(0, 0.5), (1, "NaN"), (2, "Infinity")]
    run = api.get(f"/runs/{run_id}").json()
    assert run["metrics"] == {"loss": "Infinity", "gap": "-Infinity"}
    assert (run["params"], run["tags"]) == ({"depth": "3"}, {"stage": "a"})
    bad = {"metrics": [{"key": "x", "value": "nan"}]}
    assert error_of(api.post(f"/runs/{run_id}/log-batch", json=bad))[0] == 422
    conflict = {"params": {"depth": "4"}}
    assert error_of(api.post(f"/runs/{run_id}/log-batch", json=conflict)) == (409, "CONFLICT")
    assert error_of(api.post(f"/runs/{'0' * 32}/log-batch", json={}))[0] == 404


def test_a_batch_sent_again_with_its_idempotency_key_is_applied_once(api):
    run_id = new_run(api)["id"]
    batch = {"metrics": [{"key": "m", "value": float(i), "step": i} for i in range(5)]}
    headers = {"Idempotency-Key": "batch-1"}
    first = api.post(f"/runs/{run_id}/log-batch", json=batch, headers=headers).json()
    again = api.post(f"/runs/{run_id}/log-batch", json=batch, headers=headers).json()
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert len(api.get(f"/runs/{run_id}/metric-history", params={"key": "m"}).json()) == 5
    api.post(f"/runs/{run_id}/log-batch", json=batch, headers={"Idempotency-Key": "batch-2"})
    assert len(api.get(f"/runs/{run_id}/metric-history", params={"key": "m"}).json()) == 10


def test_gzip_bodies_are_inflated_and_bombs_refused(api):
    run_id = new_run(api)["id"]
    batch = {"metrics": [{"key": "m", "value": i, "step": i} for i in range(2000)]}
    headers = {"content-encoding": "gzip", "content-type": "application/json"}
    body = gzip.compress(orjson.dumps(batch))
    assert api.post(f"/runs/{run_id}/log-batch", content=body, headers=headers).status_code == 200
    assert len(api.get(f"/runs/{run_id}/metric-history", params={"key": "m"}).json()) == 2000
    corrupt = api.post(f"/runs/{run_id}/log-batch", content=b"not gzip", headers=headers)
    assert error_of(corrupt) == (400, "INVALID_ARGUMENT")
    bomb = gzip.compress(b"[" + b" " * (65 * 1024 * 1024) + b"]", compresslevel=9)
    assert error_of(api.post("/projects", content=bomb, headers=headers)) == (
        413,
        "PAYLOAD_TOO_LARGE",
    )


def test_search_pages_with_next_offset_and_refuses_bad_filters(api):
    for i in range(5):
        run_id = new_run(api, name=f"r{i}")["id"]
        api.post(f"/runs/{run_id}/log-batch", json={"metrics": [{"key": "acc", "value": i / 10}]})
    query = {"projects": ["p"], "filter": "metrics.acc >= 0.1", "order_by": ["metrics.acc DESC"]}
    page = api.post("/runs/search", json={**query, "limit": 3}).json()
    assert [r["name"] for r in page["runs"]] == ["r4", "r3", "r2"] and page["next_offset"] == 3
    rest = api.post("/runs/search", json={**query, "limit": 3, "offset": 3}).json()
    assert [r["name"] for r in rest["runs"]] == ["r1"] and rest["next_offset"] is None
    assert (
        error_of(api.post("/runs/search", json={"filter": "metrics.acc >>"}))[1] == "INVALID_FILTER"
    )
    assert error_of(api.post("/runs/search", json={"limit": 0}))[0] == 422


def test_artifact_records_are_added_listed_and_read(api):
    run_id = new_run(api)["id"]
    blob = hashlib.sha256(b"data").hexdigest()
    added = api.post(
        f"/runs/{run_id}/artifacts", json=[{"path": "a/b.txt", "blob_hash": blob, "size": 4}]
    )
    assert added.status_code == 201 and added.json()[0]["serializer"] == "file"
    assert [
        a["path"] for a in api.get(f"/runs/{run_id}/artifacts", params={"prefix": "a/"}).json()
    ] == ["a/b.txt"]
    assert api.get(f"/runs/{run_id}/artifact", params={"path": "a/b.txt"}).json()["size"] == 4
    assert error_of(api.get(f"/runs/{run_id}/artifact", params={"path": "nope"}))[0] == 404
    escape = [{"path": "../x", "blob_hash": blob, "size": 1}]
    assert error_of(api.post(f"/runs/{run_id}/artifacts", json=escape))[0] == 400


# -- blobs and uploads -----------------------------------------------------------------------


def test_blobs_are_hash_checked_and_served_whole_or_by_range(api):
    data = bytes(range(256)) * 1000
    digest = hashlib.sha256(data).hexdigest()
    assert error_of(api.get(f"/blobs/{digest}")) == (404, "NOT_FOUND")
    assert api.head(f"/blobs/{digest}").status_code == 404
    wrong = api.put(f"/blobs/{'0' * 64}", content=data)
    assert (
        error_of(wrong) == (400, "INVALID_ARGUMENT")
        and "hash to" in wrong.json()["error"]["message"]
    )
    assert api.put(f"/blobs/{digest}", content=data).json() == {"hash": digest, "size": len(data)}
    assert api.put(f"/blobs/{digest}", content=data).status_code == 201  # again: a no-op
    assert int(api.head(f"/blobs/{digest}").headers["content-length"]) == len(data)
    assert api.get(f"/blobs/{digest}").content == data
    part = api.get(f"/blobs/{digest}", headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == data[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
    assert api.get(f"/blobs/{digest}", headers={"Range": "bytes=255000-"}).content == data[255000:]
    assert api.get(f"/blobs/{digest}", headers={"Range": "bytes=-10"}).content == data[-10:]
    assert error_of(api.get(f"/blobs/{digest}", headers={"Range": f"bytes={len(data)}-"}))[0] == 416
    assert error_of(api.get(f"/blobs/{digest}", headers={"Range": "lines=1-2"}))[0] == 400
    assert error_of(api.get("/blobs/not-a-hash"))[0] == 400


def test_a_chunked_upload_resumes_at_the_received_offset(api):
    data = b"0123456789" * 10_000
    digest = hashlib.sha256(data).hexdigest()
    upload = api.post("/uploads", json={"sha256": digest, "size": len(data)}).json()
    path = f"/uploads/{upload['id']}"

    def send(start: int, end: int):
        headers = {"Content-Range": f"bytes {start}-{end - 1}/{len(data)}"}
        return api.put(path, content=data[start:end], headers=headers)

    assert send(0, 40_000).json()["offset"] == 40_000
    assert error_of(send(0, 40_000)) == (409, "CONFLICT")  # a chunk sent twice
    assert api.get(path).json()["offset"] == 40_000  # where to resume
    assert error_of(api.post(f"{path}/finish")) == (409, "CONFLICT")  # not complete
    assert send(40_000, len(data)).json()["offset"] == len(data)
    assert api.post(f"{path}/finish").json() == {"hash": digest, "size": len(data)}
    assert api.get(f"/blobs/{digest}").content == data
    assert error_of(api.get(path)) == (404, "NOT_FOUND")  # finished uploads are gone


def test_an_upload_whose_bytes_do_not_match_its_hash_is_refused(api):
    upload = api.post("/uploads", json={"sha256": "1" * 64, "size": 3}).json()
    path = f"/uploads/{upload['id']}"
    assert (
        error_of(api.put(path, content=b"abc", headers={"Content-Range": "bytes 0-1/3"}))[0] == 400
    )
    assert error_of(api.put(path, content=b"abc"))[0] == 400  # no Content-Range
    api.put(path, content=b"abc", headers={"Content-Range": "bytes 0-2/3"})
    assert error_of(api.post(f"{path}/finish")) == (400, "INVALID_ARGUMENT")
    assert error_of(api.get("/uploads/nope"))[0] == 404


# -- the store RPC ---------------------------------------------------------------------------


def test_the_store_rpc_calls_protocol_methods_only(api):
    run_id = new_run(api, name="rpc")["id"]

    def call(area: str, method: str, *args, **kwargs):
        body = wire.dumps({"args": list(args), "kwargs": kwargs})
        return api.post(f"/store/{area}/{method}", content=body)

    record = wire.decode(call("tracking", "get_run", run_id).json()["result"])
    assert (record.id, record.name) == (run_id, "rpc")
    assert wire.decode(call("models", "list_models").json()["result"]) == []
    assert error_of(call("tracking", "close")) == (404, "NOT_FOUND")
    assert error_of(call("tracking", "__init__")) == (404, "NOT_FOUND")
    assert error_of(call("nowhere", "get_run")) == (404, "NOT_FOUND")
    assert error_of(call("tracking", "get_run", 1, 2, 3)) == (400, "INVALID_ARGUMENT")
    assert error_of(call("tracking", "get_run", "0" * 32))[0] == 404
    assert error_of(api.post("/store/tracking/get_run", content=b"[1]"))[0] == 400
    from shipyard.store.base import Metric

    refused = error_of(call("tracking", "heartbeat", 5, 1))
    assert refused == (400, "INVALID_ARGUMENT")
    wrong = call("tracking", "get_run", Metric("k", 1.0, 0, 0)).json()["error"]["message"]
    assert "argument 'run_id': expected str, got Metric" in wrong
    forged = {"args": [{"__record__": "Settings", "fields": {}}]}
    assert error_of(api.post("/store/tracking/get_run", json=forged))[0] == 400


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("-inf"),
        b"\x00\xff",
        ("a", 1),
        {"x", "y"},
        {("m", 1): 2},
        {"__record__": "not a tag"},
        [1.5, None, True, "NaN"],
    ],
)
def test_wire_values_round_trip(value):
    back = wire.loads(wire.dumps(value))
    if isinstance(value, float):
        assert repr(back) == repr(value)
    else:
        assert back == value


def _same(a, b) -> bool:
    """Equality where NaN equals NaN and types must match exactly."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats()
    | st.text()
    | st.binary()
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
        | st.dictionaries(st.tuples(st.text(max_size=3), st.integers(0, 9)), inner, max_size=3)
        | st.frozensets(st.integers(-(2**63), 2**63 - 1), max_size=3).map(set)
    ),
    max_leaves=12,
)


@given(_values)
def test_any_store_value_survives_the_wire(value):
    assert _same(wire.loads(wire.dumps(value)), value)


def test_what_json_cannot_carry_is_refused_before_it_is_sent():
    from shipyard.errors import InvalidArgument

    for value in (2**64, [object()], {"k": complex(1, 2)}):
        with pytest.raises(InvalidArgument, match="cannot be sent"):
            wire.dumps(value)


def test_store_records_and_enums_survive_the_wire():
    from shipyard.store.base import Metric, NewModelVersion, RunStatus

    version = NewModelVersion("sklearn", "1" * 64, requirements=("a==1",), metrics={"x": math.nan})
    back = wire.loads(wire.dumps([version, RunStatus.FAILED, Metric("k", math.inf, 1, 2)]))
    assert back[0].requirements == ("a==1",) and math.isnan(back[0].metrics["x"])
    assert back[1] is RunStatus.FAILED and back[2] == Metric("k", math.inf, 1, 2)


class _Tag(str):
    """A str subclass, which orjson refuses: such runs take the generic path."""


@pytest.mark.parametrize(
    "metrics",
    [{"acc": 0.5, "loss": math.nan}, {"acc": math.inf, "loss": -math.inf}, {}],
)
@pytest.mark.parametrize("tag", ["plain", _Tag("subclass")])
def test_a_search_result_survives_the_wire_exactly(metrics, tag):
    from shipyard.store import RunRecord, RunStatus

    runs = [
        RunRecord(
            id=f"{i:032x}",
            project="p",
            name=f"r{i}",
            status=RunStatus.KILLED,
            start_ms=1,
            end_ms=None if i else 5,
            heartbeat_ms=2,
            user="ana",
            host="h",
            pid=i,
            command="python train.py",
            code_version=None,
            environment_hash=None,
            parent_id=None,
            kind="task",
            deleted=bool(i),
            params={"__float__": "NaN"},
            metrics=metrics,
            tags={"t": tag},
        )
        for i in range(3)
    ]
    back = wire.loads(wire.dumps(runs))
    assert all(type(r) is RunRecord and r.status is RunStatus.KILLED for r in back)
    assert _same([r.metrics for r in back], [r.metrics for r in runs])
    assert [r.params for r in back] == [{"__float__": "NaN"}] * 3  # a param, not a tag
    assert [(r.end_ms, r.deleted, r.tags["t"]) for r in back] == [
        (r.end_ms, r.deleted, str(tag)) for r in runs
    ]


def test_every_answer_carries_the_security_headers(api):
    from shipyard.server.security_headers import HEADERS

    answers = [
        api.get("/api/v1/health"),
        api.get("/api/v1/runs/" + "0" * 32),  # a 404 from a route
        api.get("/nowhere"),  # a 404 from the router
        api.post("/api/v1/projects", content=b"{", headers={"content-type": "application/json"}),
        api.get("/api/2.0/mlflow/experiments/get?experiment_id=nope"),
    ]
    for answer in answers:
        for name, value in HEADERS:
            assert answer.headers[name.decode()] == value.decode(), (answer.url, name)


def test_artifact_records_that_leave_the_run_are_refused_through_the_rpc(api):
    from shipyard.store import ArtifactRecord

    run_id = new_run(api, name="paths")["id"]
    for path in ("../evil.txt", "/etc/cron.d/x", "a/../../b", "%2e%2e/../x"):
        record = ArtifactRecord(run_id, path, "0" * 64, 1, "text", 1)
        body = wire.dumps({"args": [[record]], "kwargs": {}})
        assert error_of(api.post("/store/tracking/add_artifacts", content=body)) == (
            400,
            "INVALID_ARGUMENT",
        ), path
    assert api.get(f"/runs/{run_id}/artifacts").json() == []


def test_bodies_without_a_size_are_cut_at_the_limit_on_every_json_route(api, live_server):
    """A chunked body declares no Content-Length: what arrives is counted instead, on the
    /api/v1 routes and on MLflow's JSON routes alike."""

    def chunks():
        piece = b" " * (1024 * 1024)
        yield b"["
        for _ in range(66):  # 66 MiB of whitespace: valid JSON, past the 64 MiB limit
            yield piece
        yield b"]"

    headers = {"content-type": "application/json"}
    answer = api.post("/projects", content=chunks(), headers=headers)
    assert error_of(answer) == (413, "PAYLOAD_TOO_LARGE")
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        answer = http.post("/api/2.0/mlflow/experiments/create", content=chunks(), headers=headers)
        assert 400 <= answer.status_code < 500 and "error_code" in answer.json()
    assert api.post("/projects", json={"name": "after"}).status_code == 201  # still serving
