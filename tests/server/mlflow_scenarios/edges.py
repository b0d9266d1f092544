"""Less travelled MLflow client paths, written for MLflow (nothing here imports Shipyard).

    MLFLOW_TRACKING_URI=http://127.0.0.1:PORT python edges.py OUT.json

Like ``mlflow_client_scenario.py``: answers normalized (ids as placeholders, no times),
compared between ``mlflow server`` and ``shipyard server`` by the compatibility test.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, ViewType
from mlflow.exceptions import MlflowException


def error_code(fn: Any) -> str:
    try:
        fn()
    except MlflowException as exc:
        return str(exc.error_code)
    return "no error"


def _pages(search: Any) -> list[Any]:
    pages, token = [], None
    while True:
        page = search(token)
        pages.append(page)
        token = page.token
        if not token:
            return pages


def main(out: Path) -> None:
    client = MlflowClient()
    answers: dict[str, Any] = {}

    # no experiment set: the default experiment
    with mlflow.start_run(run_name="in-default") as run:
        mlflow.log_metric("x", 1.0)
    default = client.get_run(run.info.run_id)
    answers["default experiment run"] = [default.info.run_name, default.data.metrics]
    answers["default experiment search"] = [
        r.info.run_name
        for r in client.search_runs(
            [default.info.experiment_id], "attributes.run_name = 'in-default'"
        )
    ]

    experiment_id = client.create_experiment("edges")
    run_id = client.create_run(experiment_id, run_name="first").info.run_id
    client.update_run(run_id, name="renamed")
    client.set_tag(run_id, "temp", "1")
    client.delete_tag(run_id, "temp")
    client.log_metric(run_id, "nan", float("nan"))
    client.log_metric(run_id, "big", 1e300, step=3)
    client.set_terminated(run_id, "FAILED")
    again = client.get_run(run_id)
    answers["renamed, failed run"] = {
        "name": again.info.run_name,
        "status": again.info.status,
        "tags": sorted(k for k in again.data.tags if not k.startswith("mlflow.")),
        "big": again.data.metrics.get("big"),
        "nan is nan": str(again.data.metrics.get("nan")),
    }
    answers["too big a batch"] = error_code(
        lambda: client.log_batch(run_id, metrics=[Metric("m", 1.0, 0, i) for i in range(1001)])
    )
    answers["missing tag delete"] = error_code(lambda: client.delete_tag(run_id, "nope"))
    answers["log to missing run"] = error_code(lambda: client.log_param("f" * 32, "a", 1))
    answers["missing experiment by name"] = str(client.get_experiment_by_name("no-such-thing"))

    # folders of artifacts, downloaded whole
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, "data")
        (folder / "inner").mkdir(parents=True)
        (folder / "a.txt").write_text("a")
        (folder / "inner" / "b.txt").write_text("b")
        client.log_artifacts(run_id, str(folder), artifact_path="data")
        target = Path(tmp, "down")
        target.mkdir()
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="data", dst_path=str(target)
        )
        answers["downloaded folder"] = sorted(
            str(p.relative_to(local)) for p in Path(local).rglob("*") if p.is_file()
        )
    answers["list a file"] = [f.path for f in client.list_artifacts(run_id, "data/a.txt")]

    # deleted runs and view types
    client.delete_run(run_id)
    answers["deleted only"] = [
        r.info.run_name
        for r in client.search_runs([experiment_id], run_view_type=ViewType.DELETED_ONLY)
    ]
    answers["active only"] = len(client.search_runs([experiment_id]))
    answers["all"] = len(client.search_runs([experiment_id], run_view_type=ViewType.ALL))
    for name in ("edges-b", "edges-a"):
        client.create_experiment(name, tags={"group": "edges"})
    named_like = [e.name for e in client.search_experiments(filter_string="name LIKE 'edg%'")]
    # newest first; edges-a and edges-b may share a millisecond, so only the oldest is sure
    answers["experiments named like"] = [sorted(named_like), named_like[-1]]
    answers["experiments by tag, by name"] = [
        e.name
        for e in client.search_experiments(
            filter_string="tags.group = 'edges'", order_by=["name ASC"]
        )
    ]
    answers["experiments, pages of 2"] = [
        [e.name for e in page]
        for page in _pages(
            lambda token: client.search_experiments(
                max_results=2,
                filter_string="name LIKE 'edges%'",
                order_by=["name DESC"],
                page_token=token,
            )
        )
    ]
    out.write_text(json.dumps(answers, indent=2, sort_keys=True, default=str))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
