"""`shipyard monitor apply|run|ls|history` and `shipyard alerts ls` from the shell."""

from __future__ import annotations

import json

from tests.monitoring._monitor_helpers import closed_port_url, log_window, receiver, register

MONITORS = """
monitors:
  - name: age-drift
    model: churn@production
    check: drift
    features: [age]
    window: 1h
  - name: flood
    model: churn@production
    check: volume
    threshold: {threshold}
    direction: above
    webhooks: [{hook}]
"""


def test_apply_run_ls_history_and_alerts(cli, shipyard_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    version = register(shipyard_client)
    log_window(shipyard_client, version, rows=40, shift=20.0)
    path = tmp_path / "monitors.yaml"
    with receiver() as hook:
        path.write_text(MONITORS.format(threshold=10, hook=hook.url))
        code, out, _ = cli("monitor", "apply", str(path))
        assert code == 0 and "applied age-drift on churn@production (drift)" in out
        code, out, err = cli("monitor", "run")
        assert code == 1, err
        lines = out.splitlines()
        assert lines[0].startswith("FIRED age-drift on churn v1: 1 feature(s) drifted: age")
        assert lines[1].startswith("FIRED flood on churn v1: volume 40 (fires above 10)")
        assert len(hook.received) == 1

        path.write_text(MONITORS.format(threshold=1000, hook=hook.url))
        code, out, _ = cli("monitor", "run", "--file", str(path), "--model", "churn@production")
        assert code == 1 and "OK    flood on churn v1" in out
        assert [b["event"] for b in hook.received] == ["firing", "resolved"]

    code, out, _ = cli("monitor", "ls")
    assert code == 0 and "age-drift" in out and "flood" in out and "fired" in out
    listed = {m["name"]: m for m in json.loads(cli("monitor", "ls", "--json")[1])}
    assert (listed["flood"]["model"], listed["flood"]["check_kind"]) == ("churn", "volume")
    assert [r["status"] for r in listed["age-drift"]["last"]] == ["fired"]
    predictions = json.loads(cli("predictions", "ls", "churn", "--limit", "5", "--json")[1])
    assert len(predictions) == 5 and {p["version"] for p in predictions} == {1}
    assert predictions == sorted(predictions, key=lambda p: -p["ts_ms"])  # newest first
    shown = json.loads(cli("predictions", "show", predictions[0]["id"], "--json")[1])
    assert shown["id"] == predictions[0]["id"] and shown["model"] == "models:/churn/1"
    code, out, _ = cli("monitor", "history", "flood", "--json")
    history = json.loads(out)
    assert [h["status"] for h in history] == ["ok", "fired"] and history[0]["version"] == 1
    code, out, _ = cli("monitor", "history", "flood")
    assert code == 0 and "volume 1000" not in out and "fired" in out

    code, out, _ = cli("alerts", "ls")
    assert code == 0 and "age-drift" in out and "flood" not in out
    code, out, _ = cli("alerts", "ls", "--all", "--json")
    alerts = {a["monitor"]: a for a in json.loads(out)}
    assert alerts["flood"]["state"] == "resolved"
    assert [d["status"] for d in alerts["flood"]["deliveries"]] == ["delivered", "delivered"]


def test_errors_are_one_line_and_a_failed_delivery_shows(cli, shipyard_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "monitors.yaml"
    path.write_text("- {name: x, model: churn, check: drift, schedule: '99 * * * *'}\n")
    code, _, err = cli("monitor", "apply", str(path))
    assert code == 1 and err.count("\n") == 1 and "monitor 'x': schedule '99 * * * *'" in err
    code, _, err = cli("monitor", "history", "nope")
    assert code == 1 and "no monitor named 'nope'" in err and "Traceback" not in err
    code, out, _ = cli("monitor", "run")
    assert code == 0 and "no monitors to run" in out

    version = register(shipyard_client)
    log_window(shipyard_client, version, rows=5)
    dead = closed_port_url()
    path.write_text(
        f"- {{name: quiet, model: churn, check: volume, threshold: 100, webhooks: [{dead}]}}\n"
        "- {name: typo, model: churn, check: drift, features: [agee]}\n"
    )
    code, out, _ = cli("monitor", "run", "--file", str(path))
    assert code == 1
    assert "FIRED quiet on churn v1: volume 5 (fires below 100)" in out
    assert "ERROR typo on churn v1: monitor 'typo': unknown feature(s) agee" in out
    code, out, _ = cli("alerts", "ls")
    assert "1 failed" in out and "ConnectError" in out
