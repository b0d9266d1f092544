"""Whatever a user passes to the tracking calls is refused at the call or stored exactly,
on SQLite and PostgreSQL, and one bad point never costs the points around it."""

from __future__ import annotations

import logging
import math
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.errors import InvalidArgument
from shipyard.session.metric_writer import REJECTED_TAG
from shipyard.store import ArtifactRecord, Metric

INT64 = 2**63

# Everything a user may plausibly hand to log_metric / log_param / set_tag.
values = st.one_of(
    st.floats(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.booleans(),
    st.none(),
    st.text(),
    st.text(alphabet=st.characters(codec=None, categories=None)),  # any code point
    st.text(alphabet=st.sampled_from("a\x00\ud800\udfff\n\x7fé😀"), min_size=1),
    st.binary(max_size=20),
    st.decimals(),
    st.fractions(),
    st.complex_numbers(max_magnitude=10),
    st.floats(width=32).map(np.float32),
    st.integers(-(2**63), 2**63 - 1).map(np.int64),
)
steps = st.one_of(st.none(), st.integers(min_value=-(2**65), max_value=2**65))
settings_for_stores = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _same_float(stored: float, sent: Any) -> bool:
    expected = float(sent)
    return (math.isnan(stored) and math.isnan(expected)) or stored == expected


def _points(client, run_id: str, key: str) -> list[tuple[float, int]]:
    return [(m.value, m.step) for m in client.get_metric_history(run_id, key)]


@settings_for_stores
@given(value=values, step=steps)
def test_a_metric_is_refused_at_the_call_or_stored_exactly(client, value, step):
    run = client.create_run("p", capture_code=False)
    client.log_metric(run.id, "before", 1.0, step=0)
    try:
        client.log_metric(run.id, "m", value, step=step)
        accepted = True
    except InvalidArgument:
        accepted = False
    client.log_metric(run.id, "after", 2.0, step=0)
    client.flush()
    assert _points(client, run.id, "before") == [(1.0, 0)]
    assert _points(client, run.id, "after") == [(2.0, 0)]
    history = client.get_metric_history(run.id, "m")
    if accepted:
        assert len(history) == 1
        assert _same_float(history[0].value, value)
        assert history[0].step == (0 if step is None else step)
    else:
        assert history == []
    assert REJECTED_TAG not in client.get_run(run.id).tags


@settings_for_stores
@given(value=values)
def test_a_param_or_tag_is_refused_at_the_call_or_stored_exactly(client, value):
    run = client.create_run("p", capture_code=False)
    client.log_param(run.id, "before", "b")
    outcomes = {}
    for call, key in ((client.log_param, "x"), (client.set_tag, "t")):
        try:
            call(run.id, key, value)
            outcomes[key] = True
        except InvalidArgument:
            outcomes[key] = False
    client.set_tag(run.id, "after", "a")
    stored = client.get_run(run.id)
    assert stored.params["before"] == "b" and stored.tags["after"] == "a"
    assert outcomes["x"] == outcomes["t"]  # params and tags take the same text
    if outcomes["x"]:
        assert stored.params["x"] == str(value)
        assert stored.tags["t"] == str(value)
    else:
        assert "x" not in stored.params and "t" not in stored.tags


@settings_for_stores
@given(batch=st.dictionaries(st.sampled_from(["a", "b", "c"]), values, max_size=3))
def test_log_metrics_stores_all_of_a_dict_or_none_of_it(client, batch):
    run = client.create_run("p", capture_code=False)
    try:
        client.log_metrics(run.id, batch, step=5)
        accepted = True
    except InvalidArgument:
        accepted = False
    client.flush()
    for key, value in batch.items():
        history = client.get_metric_history(run.id, key)
        if accepted:
            assert len(history) == 1 and _same_float(history[0].value, value)
        else:
            assert history == []


def test_values_past_what_the_stores_hold_are_refused_with_the_name(client):
    run = client.create_run("p", capture_code=False)
    refused = {
        "step of metric 'm' 9223372036854775808 is out of range": dict(step=INT64),
        "step of metric 'm' -9223372036854775809 is out of range": dict(step=-INT64 - 1),
        "timestamp .* is out of range": dict(timestamp=INT64),
    }
    for message, kwargs in refused.items():
        with pytest.raises(InvalidArgument, match=message):
            client.log_metric(run.id, "m", 1.0, **kwargs)
    for big in (10**400, Decimal("1e400"), Fraction(10**400), -(10**400)):
        with pytest.raises(InvalidArgument, match=r"metric 'm' is .*too large for a 64-bit float"):
            client.log_metric(run.id, "m", big)
    for text in ("a\x00b", "\ud800"):
        with pytest.raises(InvalidArgument, match="param 'x'"):
            client.log_param(run.id, "x", text)
        with pytest.raises(InvalidArgument, match="tag 't'"):
            client.set_tag(run.id, "t", text)
    # the largest values that fit are stored and read back
    client.log_metric(run.id, "m", 1.7e308, step=INT64 - 1, timestamp=INT64 - 1)
    client.log_metric(run.id, "m", -1.7e308, step=-INT64, timestamp=-INT64)
    assert sorted(_points(client, run.id, "m")) == [(-1.7e308, -INT64), (1.7e308, INT64 - 1)]


def test_an_automatic_step_past_int64_is_refused(client):
    run = client.create_run("p", capture_code=False)
    client.log_metric(run.id, "m", 1.0, step=INT64 - 1)
    with pytest.raises(InvalidArgument, match="out of range"):
        client.log_metric(run.id, "m", 2.0)  # would be step 2**63
    assert _points(client, run.id, "m") == [(1.0, INT64 - 1)]


def test_one_point_the_store_cannot_hold_costs_no_other_point(client, caplog):
    """A point that got past the checks (here: added to the writer directly) is isolated:
    every other point of its run and of later runs is written, the bad one reported."""
    first = client.create_run("p", capture_code=False)
    second = client.create_run("p", capture_code=False)
    writer = client.writer
    for step in range(1000):
        writer.add(first.id, Metric("loss", float(step), step, 1))
        if step == 437:
            writer.add(first.id, Metric("loss", 0.5, INT64, 1))  # bigint out of range
    writer.add(second.id, Metric("acc", 0.9, 0, 1))
    with caplog.at_level(logging.ERROR, logger="shipyard.session.metric_writer"):
        client.flush()
    assert [s for _, s in _points(client, first.id, "loss")] == list(range(1000))
    assert _points(client, second.id, "acc") == [(0.9, 0)]
    assert [(r.run_id, r.metric.step) for r in writer.rejected] == [(first.id, INT64)]
    assert client.get_run(first.id).tags[REJECTED_TAG] == "1"
    assert REJECTED_TAG not in client.get_run(second.id).tags
    assert f"rejected metric point loss=0.5 (step {INT64}) of run {first.id}" in caplog.text
    # later points of the same process are written as usual
    client.log_metric(second.id, "acc", 0.95, step=1)
    client.flush()
    assert _points(client, second.id, "acc") == [(0.9, 0), (0.95, 1)]
    assert writer.pending() == 0


def test_names_that_would_break_urls_or_command_lines_are_refused(client):
    for bad in (".", "..", "-rf", "a/b", "has space", "x" * 257):
        with pytest.raises(InvalidArgument, match="project name"):
            client.create_project(bad)
        with pytest.raises(InvalidArgument, match="project name"):
            client.create_run(bad, capture_code=False)
    with pytest.raises(InvalidArgument, match="project name"):
        client.create_project("")
    for good in ("churn", "churn-2.0", "_scratch", "Прогноз"):
        client.create_run(good, capture_code=False)
    assert {p.name for p in client.list_projects()} >= {"churn", "churn-2.0", "Прогноз"}
    with pytest.raises(InvalidArgument, match="NUL"):
        client.create_project("ok", description="a\x00b")


def test_artifact_names_with_control_characters_are_refused(client, tmp_path):
    run = client.create_run("p", capture_code=False)
    for bad in ("a\x00b.txt", "line\nbreak.txt", "tab\there", "dir/\r.txt"):
        with pytest.raises(InvalidArgument, match="control characters"):
            client.log_text(run.id, "x", bad)
        with pytest.raises(InvalidArgument, match="control characters"):
            client.download_artifacts(run.id, bad, tmp_path)
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "ok.txt").write_text("fine")
    (folder / "new\nline.txt").write_text("bad")
    with pytest.raises(InvalidArgument, match="control characters"):
        client.log_artifact(run.id, folder)
    assert client.list_artifacts(run.id) == []  # a folder is logged whole or not at all
    # one logged before the rule existed cannot be written as a file: one clear error
    info = client.blobs.put_bytes(b"old")
    with pytest.raises(InvalidArgument, match="control characters"):  # the store refuses it
        client.store.add_artifacts([ArtifactRecord(run.id, "x\ny", info.hash, 3, "file", 1)])
    from shipyard.store.registry import sql_engine
    from shipyard.store.sql.tables import artifacts

    engine = sql_engine(client.settings.uri)  # written before the rule: straight into SQL
    with engine.begin() as conn:
        conn.execute(
            artifacts.insert().values(
                run_id=run.id, path="old\nname.txt", blob_hash=info.hash, size=info.size,
                serializer="file", created_ms=1,
            )
        )  # fmt: skip
    engine.dispose()
    with pytest.raises(InvalidArgument, match="control characters"):
        client.download_artifacts(run.id, "", tmp_path / "dl")


def test_a_killed_run_ends_at_its_last_heartbeat(client):
    run = client.create_run("p", capture_code=False)
    client.writer.unwatch(run.id)  # this test sends the heartbeats
    start_ms = client.store.get_run(run.id).start_ms
    client.store.heartbeat([run.id], start_ms + 5_000)
    assert client.store.mark_killed([run.id], start_ms + 600_000) == [run.id]
    killed = client.get_run(run.id)
    assert killed.status == "KILLED"
    assert killed.duration.total_seconds() == 5.0


def test_a_project_named_before_the_rule_keeps_working(client):
    client.store.create_project("legacy project", "")  # the store itself has no name rule
    run = client.create_run("legacy project", capture_code=False)
    assert client.get_run(run.id).project == "legacy project"
    assert client.get_project("legacy project").name == "legacy project"
