"""examples/retraining end to end, through the real commands: a drift alert on shifted
traffic starts the retraining flow (`shipyard scheduler --once`), whose new version is
promoted only through its gate; alert -> flow run -> model version -> alias move linked."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.tracking import Client

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "retraining"

pytestmark = pytest.mark.slow


def _run(env: dict[str, str], cwd: Path, *args: str, ok: tuple[int, ...] = (0,)) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode in ok, done.stdout + done.stderr
    return done.stdout


def test_a_drift_alert_retrains_evaluates_and_promotes(tmp_path):
    project = tmp_path / "retraining"
    shutil.copytree(EXAMPLE, project)
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(home)
    shipyard = [sys.executable, "-m", "shipyard.cli"]
    _run(env, project, *shipyard, "scheduler", "deploy", "retrain_flow.py")
    _run(env, project, sys.executable, "seed.py")
    fired = _run(env, project, *shipyard, "monitor", "run", "--file", "monitors.yaml", ok=(1,))
    assert "FIRED churn-drift on churn v1" in fired
    _run(env, project, *shipyard, "scheduler", "--once")

    client = Client(f"sqlite:///{home / 'shipyard.db'}", str(home / "blobs"))
    try:
        (alert,) = client.store.monitors.list_alerts()
        (firing,) = client.store.events.firings("RetrainChurn")
        assert firing.status == "succeeded", firing.message
        event = client.store.events.list_events(["alert.fired"])[-1]
        assert (event.id, event.payload["alert_id"]) == (firing.event_id, alert.id)
        run = client.get_run(firing.run_id)  # alert -> flow run
        assert run.tags["shipyard.trigger.alert_id"] == str(alert.id)
        assert run.params["alert"] == str(alert.id)
        candidate = client.store.models.get_model_version("churn", 2)
        assert client.get_run(candidate.run_id).tags.get("step") == "end"  # version -> run
        assert candidate.tags["alert"] == str(alert.id)
        assert candidate.metrics["holdout_auc"] > candidate.metrics["champion_holdout_auc"]
        (move,) = [m for m in client.store.models.alias_history("churn", "production")][:1]
        assert (move.from_version, move.to_version) == (1, 2)  # version -> promotion, gated
        assert [g["gate"] for g in move.gates] == [
            "metrics.holdout_auc >= metrics.champion_holdout_auc"
        ]
    finally:
        client.close()
