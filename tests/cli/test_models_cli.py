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
