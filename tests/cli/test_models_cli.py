"""`shipyard models`: list, versions, show, and alias moves from the shell."""

from __future__ import annotations

import json

import numpy as np
from sklearn.linear_model import LogisticRegression

from shipyard.registry import ModelRegistry


def _register_two(client) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    X, y = rng.random((50, 2)), rng.integers(0, 2, 50)
    registry = ModelRegistry(client)
    registry.register_model("churn", LogisticRegression().fit(X, y), owner="ana")
    registry.register_model("churn", LogisticRegression(C=0.1).fit(X, y), owner="ana")


def test_models_ls_versions_alias_show(cli, shipyard_client) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("models", "ls")
    assert code == 0 and "no models registered yet" in out
    _register_two(shipyard_client)
    code, out, _ = cli("models", "alias", "churn", "production", "1")
    assert code == 0 and "churn@production: (unset) -> v1" in out
    code, out, _ = cli("models", "alias", "churn", "production", "2")
    assert "v1 -> v2" in out
    code, out, _ = cli("models", "ls")
    assert "churn" in out and "v2" in out and "production→v2" in out and "ana" in out
    code, out, _ = cli("models", "versions", "churn")
    lines = [line for line in out.splitlines() if line.split()[:1] in (["v1"], ["v2"])]
    assert [line.split()[0] for line in lines] == ["v2", "v1"]
    assert "production" in lines[0] and "sklearn" in lines[0]
    code, out, _ = cli("models", "show", "models:/churn@production")
    assert code == 0 and json.loads(out)["version"] == 2


def test_models_errors_are_one_line(cli, shipyard_client) -> None:  # type: ignore[no-untyped-def]
    _register_two(shipyard_client)
    code, _, err = cli("models", "alias", "churn", "production", "9")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "9" in err
    code, _, err = cli("models", "show", "models:/churn@nope")
    assert code == 1 and "nope" in err and "Traceback" not in err
    code, _, err = cli("models", "versions", "missing")
    assert code == 1 and "missing" in err


def _register_gated(client) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    X, y = rng.random((50, 2)), rng.integers(0, 2, 50)
    registry = ModelRegistry(client)
    for auc, tests in ((0.88, "passed"), (0.91, "passed"), (0.85, "failed")):
        registry.register_model(
            "churn", LogisticRegression().fit(X, y), metrics={"auc": auc}, tags={"tests": tests}
        )


def test_models_promote_prints_each_gate_and_moves_only_when_all_hold(cli, shipyard_client) -> None:  # type: ignore[no-untyped-def]
    _register_gated(shipyard_client)
    gate = "metrics.auc >= champion.metrics.auc"
    code, out, _ = cli("models", "promote", "churn", "1", "--require", gate)
    assert code == 0 and f"pass  {gate}  (no champion yet)" in out
    assert "churn@production: (unset) -> v1" in out
    code, out, _ = cli(
        "models", "promote", "churn", "2", "--require", gate, "--require", "tests passed"
    )
    assert code == 0 and "(0.91 >= 0.88)" in out and "pass  tests passed" in out
    assert "churn@production: v1 -> v2" in out
    code, out, err = cli(
        "models", "promote", "churn", "3", "--require", gate, "--require", "tests passed"
    )
    assert code == 1 and "FAIL  tests passed  ('failed' != 'passed')" in out
    assert len(err.strip().splitlines()) == 1 and "2 of 2 gates failed" in err
    assert "0.85 < 0.91" in err and "Traceback" not in err
    assert ModelRegistry(shipyard_client).get_model("churn").aliases == {"production": 2}
    code, _, err = cli("models", "promote", "churn", "3", "--to", "staging", "--require", "auc > 1")
    assert code == 1 and "'auc' is not an operand" in err and "metrics.NAME" in err


def test_models_card_in_markdown_and_html(cli, shipyard_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _register_gated(shipyard_client)
    cli("models", "promote", "churn", "2", "--require", "tests passed")
    code, out, _ = cli("models", "card", "churn@production")
    assert code == 0 and out.startswith("# Model card: churn version 2")
    assert "tests passed: passed ('passed' == 'passed')" in out
    page = tmp_path / "card.html"
    code, out, _ = cli("models", "card", "churn/1", "--html", "--out", str(page))
    assert code == 0 and str(page) in out
    assert page.read_text().startswith("<!DOCTYPE html>") and "churn version 1" in page.read_text()
    code, out, _ = cli("models", "card", "churn")
    assert "churn version 3" in out


def test_models_build_and_show(cli, shipyard_client, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import shipyard.registry.build as build_module

    monkeypatch.setattr(
        build_module, "shipyard_source", lambda wheels: build_module.ShipyardSource("shipyard==9")
    )
    _register_gated(shipyard_client)
    cli("models", "alias", "churn", "production", "2")
    out_dir = tmp_path / "image"
    code, out, _ = cli("models", "build", "churn@production", "--out", str(out_dir))
    assert code == 0 and f"built models:/churn/2 into {out_dir}" in out
    assert "docker build -t churn:2" in out and (out_dir / "Dockerfile").is_file()
    code, _, err = cli("models", "build", "churn/1", "--out", str(out_dir))
    assert code == 1 and "--force" in err and len(err.strip().splitlines()) == 1
    code, out, _ = cli("models", "build", "churn/1", "--out", str(out_dir), "--force")
    assert code == 0 and "models:/churn/1" in out
    code, out, _ = cli("models", "show", "churn/2")
    shown = json.loads(out)
    assert code == 0 and shown["version"] == 2 and shown["aliases"] == ["production"]


def test_models_commands_answer_in_json(cli, shipyard_client) -> None:  # type: ignore[no-untyped-def]
    _register_two(shipyard_client)
    assert cli("models", "alias", "churn", "production", "1")[0] == 0
    listed = json.loads(cli("models", "ls", "--json")[1])
    assert [(m["name"], m["owner"], m["production"], m["latest_version"]) for m in listed] == [
        ("churn", "ana", 1, 2)
    ]
    assert listed[0]["aliases"] == {"production": 1} and listed[0]["stale"] is False
    versions = json.loads(cli("models", "versions", "churn", "--json")[1])
    assert [(v["version"], v["flavor"], v["aliases"]) for v in versions] == [
        (2, "sklearn", []),
        (1, "sklearn", ["production"]),
    ]
    owners = json.loads(cli("models", "owners", "--json")[1])
    assert owners == [{"owner": "ana", "models": ["churn"], "gone": False, "marked_by": None}]
    shown = json.loads(cli("models", "show", "churn@production", "--json")[1])
    assert (shown["version"], shown["aliases"]) == (1, ["production"])
    assert json.loads(cli("models", "ls", "--stale", "--json")[1]) == []
