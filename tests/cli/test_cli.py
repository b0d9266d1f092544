"""The `shipyard` command: tables, JSON, one-line errors, gc, quickstart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

import shipyard
from shipyard.cli.main import main


@pytest.fixture
def two_runs(shipyard_home):
    ids = []
    for name, acc in (("good", 0.9), ("bad", 0.6)):
        with shipyard.start_run(project="cli", run_name=name, params={"lr": acc}) as run:
            shipyard.log_metric("acc", acc)
        ids.append(run.id)
    return ids


def test_runs_ls_filters_and_prints_json(cli, two_runs):
    code, out, _ = cli("runs", "ls", "--json", "-f", "metrics.acc > 0.8")
    assert code == 0
    assert [r["name"] for r in json.loads(out)] == ["good"]
    code, out, _ = cli("runs", "ls", "-p", "cli")
    assert code == 0 and "good" in out and "bad" in out and "acc" in out


def test_runs_show_and_compare_accept_id_prefixes(cli, two_runs):
    code, out, _ = cli("runs", "show", two_runs[0][:8])
    assert code == 0 and two_runs[0] in out and "lr" in out and "FINISHED" in out
    code, out, _ = cli("runs", "compare", two_runs[0][:8], two_runs[1][:8])
    assert code == 0 and "params.lr" in out and "metrics.acc" in out


def test_delete_then_restore(cli, two_runs):
    assert cli("runs", "delete", two_runs[1])[0] == 0
    assert [r.name for r in shipyard.search_runs("cli")] == ["good"]
    assert cli("runs", "restore", two_runs[1][:6])[0] == 0
    assert len(shipyard.search_runs("cli")) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["runs", "show", "ffffffff"], "no run id starts with"),
        (["runs", "ls", "-f", "metrics.acc >> 1"], "position"),
        (["runs", "show", "xyz"], "not a run id"),
    ],
)
def test_user_errors_are_one_line_without_traceback(cli, shipyard_home, args, message):
    code, _out, err = cli(*args)
    assert code == 1
    assert err.startswith("error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_debug_shows_the_traceback(shipyard_home):
    from shipyard.errors import NotFound

    with pytest.raises(NotFound):
        main(["--debug", "runs", "show", "ffffffff"])


def test_projects_config_and_db(cli, two_runs, shipyard_home):
    code, out, _ = cli("projects", "ls", "--json")
    assert code == 0 and json.loads(out) == [
        {"name": "cli", "description": "", "runs": 2, "created": json.loads(out)[0]["created"]}
    ]
    code, out, _ = cli("config", "--json")
    settings = json.loads(out)
    assert settings["home"] == {
        "value": str(shipyard_home),
        "source": "env SHIPYARD_HOME",
        "env": "SHIPYARD_HOME",
    }
    code, out, _ = cli("db", "upgrade")
    assert code == 0 and "up to date" in out


def test_gc_is_a_dry_run_unless_told(cli, two_runs, shipyard_home):
    client = shipyard.Client()
    client.log_text(two_runs[1], "only the bad run has this" * 100, "big.txt")
    blob = client.list_artifacts(two_runs[1])[0].blob_hash
    old = time.time() - 7200
    os.utime(client.blobs.path(blob), (old, old))
    assert cli("runs", "delete", two_runs[1])[0] == 0
    code, out, _ = cli("gc")
    assert code == 0 and "would delete 1 deleted run(s), 1 blob(s)" in out
    assert client.blobs.exists(blob)
    code, out, _ = cli("gc", "--yes")
    assert "deleted 1 deleted run(s), 1 blob(s)" in out
    assert not client.blobs.exists(blob)
    assert [r.name for r in shipyard.search_runs(include_deleted=True) if r.project == "cli"] == [
        "good"
    ]


def test_gc_keeps_young_unreferenced_blobs(cli, shipyard_home):
    client = shipyard.Client()
    young = client.blobs.put_bytes(b"written a moment ago, not referenced yet")
    code, _out, _ = cli("gc", "--yes")
    assert code == 0 and client.blobs.exists(young.hash)


@pytest.mark.slow
def test_quickstart_end_to_end(shipyard_home):
    done = subprocess.run(
        [sys.executable, "-m", "shipyard.cli", "quickstart", "--max-workers", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "SHIPYARD_HOME": str(shipyard_home), "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr
    assert "QuickstartFlow/1 finished" in done.stdout and "roc_auc" in done.stdout
    from shipyard.flows import Flow

    run = Flow("QuickstartFlow").latest_run
    assert run.successful and len(run["train"].tasks()) == 8
    tasks = shipyard.search_runs(
        "QuickstartFlow",
        "kind = 'task' and params.model is not null",
        order_by="metrics.roc_auc desc",
    )
    assert len(tasks) == 8 and all(t.status is shipyard.RunStatus.FINISHED for t in tasks)
    assert run.data.best_task == tasks[0].id and tasks[0].id in done.stdout
    assert hasattr(run.data.best_model, "predict_proba")
    boosted = next(t for t in tasks if t.params["model"] == "gradient_boosting")
    assert len(shipyard.get_metric_history(boosted.id, "test_auc_by_stage")) == 100
    # the feature store part: a point-in-time training set saved with lineage, online scoring
    assert "training set: dataset:quickstart/churn_training/1" in done.stdout
    assert "churn risk" in done.stdout and "missing" not in done.stdout
    from shipyard.features import FeatureStore

    fs = FeatureStore("quickstart")
    dataset = fs.get_dataset("churn_training")
    assert dataset.record.run_id == run["start"].task.id
    assert set(dataset.lineage["feature_views"]) == {"customer_profile", "customer_spend"}
    assert dataset.record.rows == 4000
    assert all(not s.stale for s in fs.catalog.status())
    # the registry and serving part: registered from the flow, promoted through gates,
    # served over HTTP from customer ids alone, every prediction logged
    from shipyard.registry import ModelRegistry

    version = ModelRegistry().get_version("models:/churn@production")
    assert version.version == 1 and version.run_id == run["end"].task.id
    assert version.dataset == dataset.uri and version.feature_service == "quickstart/churn_model"
    assert version.metrics["roc_auc"] == pytest.approx(run.data.best_scores["roc_auc"])
    (move,) = ModelRegistry().alias_history("churn", "production")
    assert [g["passed"] for g in move.gates] == [True, True]
    assert "promoted: churn@production v- -> v1" in done.stdout
    assert "300 requests with only a customer id" in done.stdout
    logged = shipyard.Client().store.predictions.query("churn", limit=1000)
    assert len(logged) == 600 and all(p.features for p in logged)
    shown = [p for p in logged if p.id in done.stdout]  # the table of the first five
    assert len(shown) == 5 and all(p.label is not None for p in shown)
    assert all(p.label is not None for p in logged)
    # the monitoring part: older customers sent through the server, the drift monitor fires
    # on age alone and its alert reaches the local receiver; the report is written
    # the older customers' requests carry an age of 60-89 that overrides the stored one
    # (not told apart by position: two workers log predictions made in the same
    # millisecond in either order; a drawn age can equal the stored one by chance)
    older = [p for p in logged if p.inputs["age"] != p.features["age"]]
    assert 280 <= len(older) <= 300 and all(60 <= p.inputs["age"] < 90 for p in older)
    assert sum(p.inputs["age"] == p.features["age"] for p in logged) >= 300
    assert "monitor churn-drift: FIRED (1 feature(s) drifted: age)" in done.stdout
    assert "monitor churn-auc: OK (roc_auc" in done.stdout
    received = [line for line in done.stdout.splitlines() if line.startswith("webhook ")]
    assert len(received) == 1 and "127.0.0.1" in received[0]
    assert (
        "received: firing: churn-drift on churn v1 fired: 1 feature(s) drifted: age"
        in (received[0])
    )
    (alert,) = shipyard.Client().store.monitors.list_alerts()
    assert alert.monitor == "churn-drift" and alert.state == "firing"
    report = shipyard_home / "reports" / "churn-production.html"
    assert f"report: {report}" in done.stdout
    assert f"open it: python -m webbrowser {report.as_uri()}" in done.stdout
    text = report.read_text(encoding="utf-8")
    assert "drift in 1 of 6 features: age" in text and "Open alerts (1)" in text


def test_config_never_prints_a_password(cli, shipyard_home, monkeypatch):
    monkeypatch.setenv("SHIPYARD_URI", "postgresql://ana:s3cret-pw@db.example:5432/shipyard")
    monkeypatch.setenv("SHIPYARD_ONLINE_URI", "redis://:r3dis-pw@127.0.0.1:6379/0")
    monkeypatch.setenv("SHIPYARD_ARTIFACT_URI", "s3://ana:s3-pw@bucket/shipyard")
    for args in (("config",), ("config", "--json")):
        code, out, _ = cli(*args)
        assert code == 0
        assert "s3cret-pw" not in out and "r3dis-pw" not in out and "s3-pw" not in out
    settings = json.loads(cli("config", "--json")[1])
    assert settings["uri"]["value"] == "postgresql://ana:***@db.example:5432/shipyard"
    assert settings["online_uri"]["value"] == "redis://:***@127.0.0.1:6379/0"


LISTING_COMMANDS = {"ls", "show", "status", "versions", "owners", "datasets", "history", "compare"}


def test_every_listing_command_takes_json():
    """Scripts and CI jobs read the registry, runs, flows and features without parsing
    tables: every command that lists or shows things has --json."""
    import click

    from shipyard.cli.main import cli as root

    def walk(command, path):
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from walk(sub, [*path, name])
        else:
            yield path, command

    checked = []
    for path, command in walk(root, []):
        if path[-1] in LISTING_COMMANDS or path == ["features", "plan"]:
            options = {o for p in command.params for o in getattr(p, "opts", [])}
            assert "--json" in options, f"`shipyard {' '.join(path)}` has no --json"
            checked.append(" ".join(path))
    assert {"models ls", "predictions ls", "flows show", "features status"} <= set(checked)
