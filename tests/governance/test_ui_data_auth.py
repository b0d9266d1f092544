"""The comparison endpoint (``POST /api/v1/runs/metric-histories``) reads runs of several
projects at once: the caller must be allowed to read every one of them."""

from __future__ import annotations

import httpx
import pytest

import shipyard
from shipyard.errors import PermissionDenied
from shipyard.tracking import Client
from tests.governance.test_server_auth import Secured, as_user, secured  # noqa: F401


def test_a_comparison_needs_read_on_every_run_s_project(secured: Secured, monkeypatch):  # noqa: F811
    as_user(monkeypatch, secured.editor)
    ids = {}
    for project in ("churn", "fraud"):
        with shipyard.start_run(project=project) as run:
            shipyard.log_metric("auc", 0.5)
        ids[project] = run.info.id
    url = f"{secured.url}/api/v1/runs/metric-histories"
    headers = {"Authorization": f"Bearer {secured.viewer}"}  # vic: viewer on churn only
    one = httpx.post(url, json={"run_ids": [ids["churn"]], "keys": ["auc"]}, headers=headers)
    assert one.status_code == 200 and one.json()["series"][0]["values"] == [0.5]
    both = {"run_ids": [ids["churn"], ids["fraud"]], "keys": ["auc"]}
    denied = httpx.post(url, json=both, headers=headers)
    assert denied.status_code == 403 and "fraud" in denied.json()["error"]["message"]
    as_user(monkeypatch, secured.viewer)
    store = Client().store
    assert store.get_metric_histories([ids["churn"]], ["auc"])[ids["churn"]]["auc"][0].value == 0.5
    with pytest.raises(PermissionDenied, match="fraud"):
        store.get_metric_histories([ids["churn"], ids["fraud"]], ["auc"])
