"""The tracking contract: the same behaviour on every metadata backend (SQLite, PostgreSQL)."""

from __future__ import annotations

import math

import pytest

from shipyard.errors import AlreadyExists, Conflict, FilterSyntaxError, InvalidArgument, NotFound
from shipyard.store import RunStatus


def test_projects_are_created_on_first_run_and_listed(client):
    client.create_run("alpha", "r1")
    client.create_project("beta", description="second")
    assert [p.name for p in client.list_projects()] == ["alpha", "beta"]
    assert client.get_project("beta").description == "second"
    with pytest.raises(AlreadyExists, match="beta"):
        client.create_project("beta")
    with pytest.raises(NotFound, match="projects ls"):
        client.get_project("gamma")


def test_run_lifecycle_records_what_and_where(client):
    run = client.create_run("p", "first", params={"lr": 0.1, "depth": 3}, tags={"team": "fraud"})
    assert run.status is RunStatus.RUNNING
    assert run.params == {"lr": "0.1", "depth": "3"}
    assert run.tags["team"] == "fraud"
    assert run.user and run.host and run.pid > 0 and run.command
    assert run.environment_hash is not None
    environment = client.get_environment(run.id)
    assert environment["python"].count(".") == 2 and "SQLAlchemy" in environment["packages"]
    client.end_run(run.id, "FINISHED")
    done = client.get_run(run.id)
    assert done.status is RunStatus.FINISHED
    assert done.end_time is not None and done.end_time >= done.start_time


def test_params_are_immutable_but_tags_are_not(client):
    run = client.create_run("p", "r", params={"lr": 0.1})
    client.log_param(run.id, "lr", 0.1)  # same value: fine
    with pytest.raises(Conflict, match="immutable"):
        client.log_param(run.id, "lr", 0.2)
    client.set_tag(run.id, "stage", "a")
    client.set_tag(run.id, "stage", "b")
    assert client.get_run(run.id).tags["stage"] == "b"
    client.delete_tag(run.id, "stage")
    assert "stage" not in client.get_run(run.id).tags
    with pytest.raises(NotFound):
        client.delete_tag(run.id, "stage")


def test_a_rejected_batch_leaves_nothing_behind(client):
    run = client.create_run("p", "r", params={"a": 1})
    with pytest.raises(Conflict):
        client.log_params(run.id, {"b": 2, "a": 99})
    assert client.get_run(run.id).params == {"a": "1"}
    with pytest.raises(InvalidArgument):
        client.log_params(run.id, {"c": 3, "bad key!": 4})
    assert client.get_run(run.id).params == {"a": "1"}


def test_metric_history_and_latest_value(client):
    run = client.create_run("p", "r")
    for step, value in enumerate([0.9, 0.5, 0.25]):
        client.log_metric(run.id, "loss", value, step=step)
    client.log_metric(run.id, "loss", 0.7, step=1)  # a late point for an earlier step
    history = client.get_metric_history(run.id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.9), (1, 0.5), (1, 0.7), (2, 0.25)]
    assert client.get_run(run.id).metrics["loss"] == 0.25  # latest by step, not by arrival


def test_metric_histories_of_several_runs_in_one_read(client):
    a, b = client.create_run("p", "a"), client.create_run("q", "b")
    for step, value in enumerate([0.9, math.nan, 0.25]):
        client.log_metric(a.id, "loss", value, step=step)
    client.log_metric(a.id, "loss", 0.7, step=1)
    client.log_metrics(b.id, {"loss": 2.0, "acc": math.inf})
    client.log_metric(b.id, "other", 1.0)
    client.flush()
    found = client.store.get_metric_histories([b.id, a.id, b.id], ["loss", "acc", "none"])
    assert list(found) == [b.id, a.id] and all(
        list(h) == ["loss", "acc", "none"] for h in found.values()
    )
    loss_a = [(m.step, m.value) for m in found[a.id]["loss"]]
    assert (
        loss_a[0] == (0, 0.9) and math.isnan(loss_a[1][1]) and loss_a[2:] == [(1, 0.7), (2, 0.25)]
    )
    assert found[a.id]["loss"][1].step == 1
    assert [m.value for m in found[b.id]["acc"]] == [math.inf]
    assert found[a.id]["acc"] == found[a.id]["none"] == found[b.id]["none"] == []
    assert found[b.id]["loss"] == client.get_metric_history(b.id, "loss")
    assert client.store.get_metric_histories([a.id], []) == {a.id: {}}
    with pytest.raises(NotFound, match="0" * 32):
        client.store.get_metric_histories([a.id, "0" * 32], ["loss"])


def test_steps_count_up_per_key_when_not_given(client):
    run = client.create_run("p", "r")
    for value in (1.0, 2.0, 3.0):
        client.log_metric(run.id, "a", value)
    client.log_metric(run.id, "b", 5.0)
    assert [m.step for m in client.get_metric_history(run.id, "a")] == [0, 1, 2]
    assert [m.step for m in client.get_metric_history(run.id, "b")] == [0]


def test_non_finite_metrics_round_trip(client):
    run = client.create_run("p", "r")
    client.log_metrics(run.id, {"nan": float("nan"), "inf": float("inf"), "ninf": -math.inf})
    got = {k: client.get_metric_history(run.id, k)[0].value for k in ("nan", "inf", "ninf")}
    assert math.isnan(got["nan"]) and got["inf"] == math.inf and got["ninf"] == -math.inf


def test_bad_metrics_are_rejected_before_anything_is_buffered(client):
    run = client.create_run("p", "r")
    for bad in ("0.5", None, [1], object()):
        with pytest.raises(InvalidArgument, match="must be a number"):
            client.log_metric(run.id, "m", bad)
    with pytest.raises(InvalidArgument):
        client.log_metrics(run.id, {"ok": 1.0, "bad": "x"})
    with pytest.raises(InvalidArgument, match="integer"):
        client.log_metric(run.id, "m", 1.0, step=1.5)
    assert client.get_metric_history(run.id, "ok") == []


def test_unknown_runs_are_reported_clearly(client):
    with pytest.raises(NotFound, match="no run"):
        client.get_run("0" * 32)
    with pytest.raises(NotFound):
        client.log_metric("0" * 32, "m", 1.0)
    with pytest.raises(InvalidArgument, match="not a run id"):
        client.get_run("nope")


def _sweep(client):
    ids = {}
    for name, model, acc in [("a", "xgb", 0.95), ("b", "xgb", 0.85), ("c", "lr", 0.91)]:
        run = client.create_run("sweep", name, params={"model": model}, tags={"team": "fraud"})
        client.log_metric(run.id, "acc", acc)
        client.end_run(run.id)
        ids[name] = run.id
    failed = client.create_run("sweep", "d", params={"model": "lr"})
    client.end_run(failed.id, "FAILED")
    ids["d"] = failed.id
    return ids


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("metrics.acc > 0.9 and params.model = 'xgb'", ["a"]),
        ("metrics.acc > 0.9 or status = 'FAILED'", ["a", "c", "d"]),
        ("params.model in ('lr') and metrics.acc is null", ["d"]),
        ("metrics.acc is not null and name != 'a'", ["b", "c"]),
        ("tags.team like 'fra%' and metrics.acc <= 0.91", ["b", "c"]),
        ("name ilike 'A'", ["a"]),
        ("params.model not in ('xgb')", ["c", "d"]),
        ("", ["a", "b", "c", "d"]),
    ],
)
def test_search_filters(client, query, expected):
    ids = _sweep(client)
    found = client.search_runs("sweep", query)
    assert sorted(r.name for r in found) == expected
    assert all(r.id == ids[r.name] for r in found)
    assert client.store.count_runs(["sweep"], query) == len(expected)


def test_search_order_limit_and_projects(client):
    _sweep(client)
    client.create_run("elsewhere", "z")
    ranked = client.search_runs("sweep", order_by="metrics.acc desc")
    assert [r.name for r in ranked] == ["a", "c", "b", "d"]  # runs without the metric last
    assert [r.name for r in client.search_runs("sweep", order_by=["metrics.acc"], limit=2)] == [
        "b",
        "c",
    ]
    assert {r.project for r in client.search_runs()} == {"sweep", "elsewhere"}
    assert client.search_runs("missing-project") == []
    assert client.store.count_runs() == 5
    assert client.store.count_runs(["sweep", "elsewhere"], "name != 'a'") == 4
    assert client.store.count_runs(["missing-project"]) == 0
    assert client.store.count_runs([]) == 0


def test_search_rejects_bad_input(client):
    with pytest.raises(FilterSyntaxError, match="position"):
        client.search_runs(filter="metrics.acc >")
    with pytest.raises(FilterSyntaxError, match="unknown status"):
        client.search_runs(filter="status = 'DONE'")
    with pytest.raises(InvalidArgument, match="limit"):
        client.search_runs(limit=0)


def test_delete_restore_and_purge(client):
    ids = _sweep(client)
    client.delete_run(ids["a"])
    assert "a" not in {r.name for r in client.search_runs("sweep")}
    assert "a" in {r.name for r in client.search_runs("sweep", include_deleted=True)}
    assert client.store.count_runs(["sweep"]) == 3
    assert client.store.count_runs(["sweep"], include_deleted=True) == 4
    client.restore_run(ids["a"])
    assert "a" in {r.name for r in client.search_runs("sweep")}
    client.delete_run(ids["b"])
    assert client.store.purge_deleted_runs() == [ids["b"]]
    with pytest.raises(NotFound):
        client.get_run(ids["b"])
    assert client.get_metric_history(ids["c"], "acc")[0].value == 0.91


def test_nested_runs_record_their_parent(client):
    parent = client.create_run("p", "parent")
    child = client.create_run("p", "child", parent_id=parent.id)
    assert child.parent_id == parent.id
    with pytest.raises(NotFound):
        client.create_run("p", "orphan", parent_id="f" * 32)


def test_artifacts_files_folders_and_objects(client, tmp_path):
    import numpy as np
    import pandas as pd

    run = client.create_run("p", "r")
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "index.html").write_text("<h1>hi</h1>")
    (tmp_path / "report" / "img").mkdir()
    (tmp_path / "report" / "img" / "a.png").write_bytes(b"\x89PNG")
    client.log_artifact(run.id, tmp_path / "report", "report")
    client.log_object(run.id, np.arange(5), "arrays/five")
    client.log_object(run.id, pd.DataFrame({"x": [1, 2]}), "frame")
    client.log_dict(run.id, {"k": [1, 2]}, "config.json")
    client.log_text(run.id, "hello", "notes.txt")
    paths = [a.path for a in client.list_artifacts(run.id)]
    assert paths == [
        "arrays/five",
        "config.json",
        "frame",
        "notes.txt",
        "report/img/a.png",
        "report/index.html",
    ]
    assert client.load_artifact(run.id, "arrays/five").tolist() == [0, 1, 2, 3, 4]
    assert client.load_artifact(run.id, "frame")["x"].tolist() == [1, 2]
    assert client.load_artifact(run.id, "config.json") == {"k": [1, 2]}
    assert client.load_artifact(run.id, "notes.txt") == b"hello"
    out = client.download_artifacts(run.id, "report", tmp_path / "out")
    assert (out / "index.html").read_text() == "<h1>hi</h1>"
    assert (out / "img" / "a.png").read_bytes() == b"\x89PNG"
    serializers = {a.path: a.serializer for a in client.list_artifacts(run.id)}
    assert serializers["arrays/five"] == "numpy" and serializers["frame"] == "pandas"


def test_artifact_paths_stay_inside_the_run(client, tmp_path):
    run = client.create_run("p", "r")
    for bad in ("../escape", "/abs/path", "a/../../b", ""):
        with pytest.raises(InvalidArgument):
            client.log_text(run.id, "x", bad)
    with pytest.raises(NotFound):
        client.log_artifact(run.id, tmp_path / "missing.txt")
    with pytest.raises(InvalidArgument, match="no artifact"):
        client.download_artifacts(run.id, "nothing", tmp_path)


def test_identical_artifacts_are_stored_once(client):
    a = client.create_run("p", "a")
    b = client.create_run("p", "b")
    first = client.log_text(a.id, "same bytes" * 1000, "x.txt")
    second = client.log_text(b.id, "same bytes" * 1000, "y.txt")
    assert first.blob_hash == second.blob_hash
    assert sum(1 for blob in client.blobs.iter_blobs() if blob.hash == first.blob_hash) == 1


def test_oversized_params_and_names_are_refused(client):
    run = client.create_run("p", "r")
    with pytest.raises(InvalidArgument, match="log_dict"):
        client.log_param(run.id, "big", "x" * 7000)
    with pytest.raises(InvalidArgument, match="limit"):
        client.create_run("p" * 300)
    with pytest.raises(InvalidArgument):
        client.set_tag(run.id, "", "v")


def test_a_folder_is_logged_all_or_nothing(client, tmp_path):
    run = client.create_run("p", "r")
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    (folder / "b.txt").symlink_to(folder / "missing")  # the second file cannot be read
    with pytest.raises(NotFound, match=r"b\.txt"):
        client.log_artifact(run.id, folder)
    assert client.list_artifacts(run.id) == []
