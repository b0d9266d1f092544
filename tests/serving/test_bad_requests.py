"""Bad requests get a 4xx with a JSON error that says what is wrong; never a 500."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["age", "spend", "plan", "records", "x"]), children, max_size=4
        )
    ),
    max_leaves=12,
)
payload_keys = [
    "records",
    "columns",
    "record",
    "dataframe_split",
    "dataframe_records",
    "inputs",
    "instances",
    "method",
    "variant",
]


def assert_json_error(response, status, code=None, field=None, says=None):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    if code:
        assert error["code"] == code
    if field:
        assert error["field"] == field
    if says:
        assert says in error["message"], error["message"]


@pytest.fixture
def server(serve, churn_model):
    return serve("churn@production", max_body_bytes=64 * 1024)


def test_malformed_json_and_empty_bodies(server):
    for path in ("/predict", "/invocations", "/v2/models/churn/infer"):
        assert_json_error(
            server.post(path, content=b"{nope"), 400, "INVALID_ARGUMENT", says="not valid JSON"
        )
        assert_json_error(server.post(path, content=b""), 400, says="body is empty")


def test_wrong_types_name_the_field_and_the_row(server):
    rows = [{"age": 30, "spend": 1.5, "plan": "pro"}, {"age": 31.5, "spend": 2.0, "plan": "pro"}]
    assert_json_error(
        server.post("/predict", {"records": rows}),
        422,
        "INVALID_INPUT",
        "age",
        says="row 1 has float 31.5",
    )
    rows[1] = {"age": None, "spend": 2.0, "plan": "pro"}
    assert_json_error(
        server.post("/predict", {"records": rows}),
        422,
        field="age",
        says="must be an integer; row 1 has null",
    )
    rows[1] = {"age": 31, "spend": None, "plan": "pro"}  # a null number reaches the model as NaN
    assert_json_error(
        server.post("/predict", {"records": rows}),
        422,
        "INVALID_INPUT",
        says="churn v1 could not predict on this input: ValueError",
    )
    bad_bool = {"age": True, "spend": 1.0, "plan": "pro"}
    assert_json_error(server.post("/predict", {"record": bad_bool}), 422, field="age")


def test_missing_columns_and_ragged_input(server):
    assert_json_error(
        server.post("/predict", {"record": {"age": 30, "plan": "pro"}}),
        422,
        "INVALID_INPUT",
        "spend",
        says="missing input 'spend'",
    )
    ragged = {"records": [{"age": 1, "spend": 1.0, "plan": "a"}, {"age": 2, "plan": "b"}]}
    assert_json_error(server.post("/predict", ragged), 422, field="spend", says="record 1")
    uneven = {"columns": {"age": [1, 2], "spend": [1.0], "plan": ["a", "b"]}}
    assert_json_error(server.post("/predict", uneven), 422, says="same, non-zero length")
    split = {"dataframe_split": {"columns": ["age", "spend", "plan"], "data": [[1, 2.0]]}}
    assert_json_error(server.post("/invocations", split), 422, says="row 0 must be a list of 3")
    assert_json_error(server.post("/predict", {"rows": []}), 422, says='needs "records"')
    assert_json_error(server.post("/predict", [1, 2]), 422)
    assert_json_error(
        server.post("/invocations", {"inputs": [], "instances": []}), 422, says="exactly one of"
    )
    assert_json_error(server.post("/predict", {"records": []}), 422, says="non-empty")
    assert_json_error(
        server.post(
            "/v2/models/churn/infer",
            {"inputs": [{"name": "age", "shape": [2], "datatype": "INT64", "data": [1]}]},
        ),
        422,
        field="age",
        says="has 1 values",
    )
    assert_json_error(
        server.post(
            "/predict", {"record": {"age": 1, "spend": 1.0, "plan": "a"}, "variant": "nope"}
        ),
        404,
    )


def test_oversized_bodies_are_refused_before_parsing(server):
    big = {"records": [{"age": 30, "spend": 1.0, "plan": "x" * 100}] * 1000}  # ~120 kB
    assert_json_error(server.post("/predict", big), 413, "PAYLOAD_TOO_LARGE", says="at most 65,536")

    def chunks():  # no Content-Length: the limit holds while streaming
        for _ in range(100):
            yield b" " * 1024

    assert_json_error(server.post("/invocations", content=chunks()), 413)


def test_unknown_routes_and_methods_answer_in_json(server):
    assert_json_error(server.http.get("/nope"), 404, "NOT_FOUND")
    assert_json_error(server.http.get("/predict"), 405, "METHOD_NOT_ALLOWED")


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    payload=st.dictionaries(st.sampled_from(payload_keys), json_values, max_size=3) | json_values
)
def test_no_payload_makes_a_500(server, payload):
    for path in ("/predict", "/invocations", "/v2/models/churn/infer"):
        response = server.post(path, content=__import__("json").dumps(payload).encode())
        assert response.status_code < 500, (path, payload, response.text)
        if response.status_code != 200:
            assert "message" in response.json()["error"]
