"""`shipyard features plan` names what depends on a view next to its breaking change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shipyard.store.base import NewModelVersion
from shipyard.tracking import Client
from tests.cli import test_features_cli as features_cli

repo = features_cli.repo
NOW = 1_800_000_000_000


def test_plan_names_the_dependents_of_a_breaking_change(cli: Any, repo: Path) -> None:
    code, _, err = cli("features", "apply", "--repo", str(repo))
    assert (code, err) == (0, "")
    client = Client()
    try:
        project = client.settings.project
        lineage = {"feature_views": {"customer_stats": {"version": 1, "source": "stats_source"}}}
        client.store.features.create_dataset(project, "train", "d" * 64, 4, 1, lineage, "ana", NOW)
        new = NewModelVersion("sklearn", "m" * 64, dataset=f"dataset:{project}/train/1")
        client.store.models.create_model_version("spend_model", new, "ana", NOW)
        client.store.models.move_alias("spend_model", "production", 1, "ana", NOW)
    finally:
        client.close()
    defs = repo / "definitions.py"
    defs.write_text(features_cli.DEFINITIONS.replace('Field("orders", Int64),', ""))

    code, out, _ = cli("features", "plan", "--repo", str(repo))
    assert code == 0 and "~ feature view customer_stats (breaking)" in out
    assert (
        f"! depended on by: dataset {project}/train/1; model spend_model/1; "
        "alias spend_model@production"
    ) in " ".join(out.split())
    code, out, _ = cli("features", "plan", "--repo", str(repo), "--json")
    (change,) = [c for c in json.loads(out)["changes"] if c["breaking"]]
    assert change["dependents"] == [
        f"dataset {project}/train/1",
        "model spend_model/1",
        "alias spend_model@production",
    ]
