"""What a team's existing MLflow code does against a tracking server, written for MLflow.

Run with the real ``mlflow`` package (in its own venv), against any server:

    MLFLOW_TRACKING_URI=http://127.0.0.1:PORT python mlflow_client_scenario.py OUT.json

It prints nothing on success and writes its answers to OUT.json, normalized so that two
servers can be compared: ids become placeholders in the order first seen, times become
"<time>", and only what the client reads back is kept. The compatibility test runs it once
against ``mlflow server`` and once against ``shipyard server`` and compares the files.

Nothing here imports Shipyard: this is the user's code.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

EXPERIMENT = "compat-experiment"
MODEL = "compat-model"


class Normalizer:
    """Replaces generated ids by ``<id1>``, ``<id2>``... in the order they are first seen."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    def id(self, value: str) -> str:
        return self.ids.setdefault(value, f"<id{len(self.ids) + 1}>")


def error_code(fn: Any) -> str:
    try:
        fn()
    except MlflowException as exc:
        return str(exc.error_code)
    return "no error"


def run_view(norm: Normalizer, run: Any) -> dict[str, Any]:
    info = run.info
    return {
        "run_id": norm.id(info.run_id),
        "experiment_id": norm.id(info.experiment_id),
        "run_name": info.run_name,
        "status": info.status,
        "lifecycle_stage": info.lifecycle_stage,
        "has_start_time": info.start_time is not None,
        "has_end_time": info.end_time is not None,
        "params": dict(sorted(run.data.params.items())),
        "metrics": dict(sorted(run.data.metrics.items())),
        "tags": {k: v for k, v in sorted(run.data.tags.items()) if not k.startswith("mlflow.")},
        "parent": norm.id(run.data.tags["mlflow.parentRunId"])
        if "mlflow.parentRunId" in run.data.tags
        else None,
    }


def main(out: Path) -> None:
    norm = Normalizer()
    client = MlflowClient()
    answers: dict[str, Any] = {}

    # experiments
    experiment_id = mlflow.create_experiment(EXPERIMENT, tags={"team": "risk"})
    answers["experiment"] = norm.id(experiment_id)
    answers["duplicate experiment"] = error_code(lambda: mlflow.create_experiment(EXPERIMENT))
    experiment = client.get_experiment_by_name(EXPERIMENT)
    answers["experiment by name"] = {
        "id": norm.id(experiment.experiment_id),
        "name": experiment.name,
        "tags": {k: v for k, v in experiment.tags.items() if not k.startswith("mlflow.")},
        "lifecycle_stage": experiment.lifecycle_stage,
    }
    found = client.search_experiments(filter_string=f"name = '{EXPERIMENT}'")
    answers["search experiments"] = [e.name for e in found]
    mlflow.set_experiment(EXPERIMENT)

    # runs: params, metrics, tags, artifacts, nested runs
    with mlflow.start_run(run_name="parent") as parent:
        mlflow.log_param("alpha", 0.5)
        mlflow.log_params({"solver": "lbfgs", "max_iter": 200})
        for step, loss in enumerate([0.9, 0.6, 0.4, 0.35]):
            mlflow.log_metric("loss", loss, step=step)
        mlflow.log_metrics({"accuracy": 0.91, "f1": 0.88})
        mlflow.set_tag("stage", "baseline")
        mlflow.set_tags({"owner": "ana", "data": "iris"})
        mlflow.log_dict({"classes": [0, 1, 2]}, "meta/classes.json")
        mlflow.log_text("hello from the scenario\n", "notes/readme.txt")
        with tempfile.TemporaryDirectory() as tmp:
            table = Path(tmp, "table.csv")
            table.write_text("a,b\n1,2\n")
            mlflow.log_artifact(str(table), artifact_path="tables")
        for i, alpha in enumerate([0.1, 0.2, 0.3]):
            with mlflow.start_run(run_name=f"child-{i}", nested=True):
                mlflow.log_param("alpha", alpha)
                mlflow.log_metric("loss", 1 - alpha)
    answers["parent run"] = run_view(norm, client.get_run(parent.info.run_id))
    answers["changing a param"] = error_code(
        lambda: client.log_param(parent.info.run_id, "alpha", 0.9)
    )
    history = client.get_metric_history(parent.info.run_id, "loss")
    answers["loss history"] = [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)]
    artifacts = client.list_artifacts(parent.info.run_id)
    answers["artifact folders"] = sorted((a.path, a.is_dir) for a in artifacts)
    answers["artifacts under tables"] = [
        a.path for a in client.list_artifacts(parent.info.run_id, "tables")
    ]
    answers["logged dict"] = mlflow.artifacts.load_dict(
        f"runs:/{parent.info.run_id}/meta/classes.json"
    )
    answers["logged text"] = mlflow.artifacts.load_text(
        f"runs:/{parent.info.run_id}/notes/readme.txt"
    )

    # batches through the client
    batch_run = client.create_run(experiment_id, run_name="batch")
    from mlflow.entities import Metric, Param, RunTag

    client.log_batch(
        batch_run.info.run_id,
        metrics=[Metric("m", float(i), 1_700_000_000_000 + i, i) for i in range(50)],
        params=[Param(f"p{i}", str(i)) for i in range(5)],
        tags=[RunTag("kind", "batch")],
    )
    client.set_terminated(batch_run.info.run_id)
    answers["batch run"] = run_view(norm, client.get_run(batch_run.info.run_id))
    answers["batch history length"] = len(client.get_metric_history(batch_run.info.run_id, "m"))

    # search with MLflow's filter and order syntax, and pagination
    runs = mlflow.search_runs(
        experiment_ids=[experiment_id],
        filter_string="metrics.loss < 0.85 and params.alpha != '0.5'",
        order_by=["metrics.loss ASC"],
        output_format="list",
    )
    answers["search: filtered, ordered"] = [r.info.run_name for r in runs]
    answers["search: by tag"] = sorted(
        r.info.run_name
        for r in client.search_runs([experiment_id], filter_string="tags.stage = 'baseline'")
    )
    answers["search: by name"] = [
        r.info.run_name
        for r in client.search_runs(
            [experiment_id],
            filter_string="attributes.run_name LIKE 'child-%'",
            order_by=["attributes.run_name DESC"],
        )
    ]
    pages, token = [], None
    while True:
        page = client.search_runs(
            [experiment_id], order_by=["attributes.run_name ASC"], max_results=2, page_token=token
        )
        pages.append([r.info.run_name for r in page])
        token = page.token
        if not token:
            break
    answers["search: pages of 2"] = pages

    # delete and restore
    child = runs[0].info.run_id
    client.delete_run(child)
    answers["deleted run stage"] = client.get_run(child).info.lifecycle_stage
    answers["active runs after delete"] = len(client.search_runs([experiment_id]))
    client.restore_run(child)
    answers["restored run stage"] = client.get_run(child).info.lifecycle_stage

    # errors
    answers["missing run"] = error_code(lambda: client.get_run("0" * 32))
    answers["missing experiment"] = error_code(lambda: client.get_experiment("999999999"))
    answers["bad filter"] = error_code(
        lambda: client.search_runs([experiment_id], filter_string="metrics.loss <<< 1")
    )

    # a model: logged, registered, aliased, loaded back by alias
    x, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=500).fit(x, y)
    with mlflow.start_run(run_name="train") as train:
        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name=MODEL, input_example=x.head(3)
        )
    answers["registered version"] = info.registered_model_version
    client.set_registered_model_alias(MODEL, "champion", info.registered_model_version)
    version = client.get_model_version_by_alias(MODEL, "champion")
    answers["alias"] = {
        "version": version.version,
        "run": norm.id(version.run_id) if version.run_id else None,
        "aliases": list(version.aliases),
    }
    answers["train run is the version's run"] = version.run_id == train.info.run_id
    loaded = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    answers["loaded model predicts as trained"] = bool(
        np.array_equal(np.asarray(loaded.predict(x.head(20))), model.predict(x.head(20)))
    )
    answers["registered models"] = [m.name for m in client.search_registered_models()]
    answers["missing alias"] = error_code(lambda: client.get_model_version_by_alias(MODEL, "nope"))

    out.write_text(json.dumps(answers, indent=2, sort_keys=True, default=str))


if __name__ == "__main__":
    if "MLFLOW_TRACKING_URI" not in os.environ:
        sys.exit("set MLFLOW_TRACKING_URI to the server to test")
    main(Path(sys.argv[1]))
