"""`shipyard quickstart`: the end-to-end demo on the embedded store.

1. Features: a seeded synthetic shop (customers, 90 days of transactions up to now),
   feature views over it applied to the registry.
2. A flow builds a point-in-time training set from them (saved as a dataset) and trains a
   sweep of scikit-learn models as a foreach, each a tracked task; the join keeps the best.
3. The sweep is compared from the store and the best model is registered (with its run,
   dataset and feature service), then promoted to production through gates.
4. The views are materialized online and the model is served over HTTP: requests carry
   only a customer id, the server fetches the features, and every prediction is logged;
   then requests from older customers than in training (the client sends their age).
5. A drift monitor and a performance monitor run once on the last hour of the log; the drift
   alert is delivered to a webhook receiver started on 127.0.0.1, and the HTML report is
   written to SHIPYARD_HOME/reports/.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from shipyard.cli import _output as out
from shipyard.tracking import Client

FLOW = "QuickstartFlow"


def print_comparison(run: Any) -> None:
    """Every candidate's task, best first, from the tracking store."""
    client = Client()
    tasks = client.search_runs(
        FLOW,
        "kind = 'task' and params.model is not null and name like 'train/%'",
        order_by=["metrics.roc_auc desc", "metrics.accuracy desc"],
        limit=1000,
    )
    mine = {t.id for t in run["train"]}
    ranked = [t for t in tasks if t.id in mine]
    grid = out.table(
        f"{run.pathspec}: the sweep, best first (held-out test set)",
        ["rank", "task", "model", "params", "roc_auc", "accuracy", "f1", "fit s"],
    )
    for rank, task in enumerate(ranked, 1):
        params = ", ".join(f"{k}={v}" for k, v in sorted(task.params.items()) if k != "model")
        grid.add_row(
            str(rank),
            task.id[:8],
            task.params["model"],
            params,
            *[out.number(task.metrics[k]) for k in ("roc_auc", "accuracy", "f1")],
            f"{task.metrics['fit_seconds']:.2f}",
            style="bold green" if rank == 1 else "",
        )
    out.console().print(grid)
    best = run.data
    click.echo(
        f"best: {best.best_spec} (task {best.best_task}) "
        f"with roc_auc {best.best_scores['roc_auc']:.4f}"
    )


def prepare_features() -> tuple[Any, Path]:
    """Write the synthetic data, apply the definitions; returns the store and the
    labelled entity rows' path."""
    from shipyard.cli import quickstart_features as qf
    from shipyard.features import FeatureStore

    client = Client()
    folder = Path(client.settings.home) / "quickstart" / "data"
    entity_df = qf.make_data(folder, qf.now())
    entities = folder / "labels.parquet"
    entity_df.to_parquet(entities)
    fs = FeatureStore(qf.PROJECT, client=client)
    plan = fs.apply(qf.definitions(folder))
    click.echo(
        f"features: {len(plan.pending)} definition(s) applied to project {qf.PROJECT!r}, "
        f"{len(entity_df):,} labelled customer snapshots"
    )
    return fs, entities


@click.command()
@click.option("--max-workers", type=int, default=None, help="Training tasks at once.")
def quickstart(max_workers: int | None) -> None:
    """Run the end-to-end demo on the embedded store (no servers needed)."""
    from shipyard.cli import quickstart_features as qf
    from shipyard.cli import quickstart_monitoring as qm
    from shipyard.cli import quickstart_serving as qs
    from shipyard.cli.quickstart_flow import QuickstartFlow

    click.echo(f"shipyard quickstart — store: {Client().settings.home}")
    fs, entities = prepare_features()
    started = time.perf_counter()
    with out.console().status("training the sweep as a flow (foreach over 8 candidates)"):
        run = QuickstartFlow.run(max_workers=max_workers, entities=str(entities))
    click.echo(f"{run.pathspec} finished in {time.perf_counter() - started:.1f} s")
    click.echo(f"training set: {run.data.dataset}")
    print_comparison(run)
    loaded = fs.materialize_incremental()
    click.echo("online store: " + ", ".join(f"{v} {n:,} rows" for v, n in loaded.items()))
    click.echo(f"registered models:/churn/{run.data.model_version} from {run.pathspec}/end")
    live = qs.promote(run.data.model_version)
    qs.serve_and_query(qf.CUSTOMERS, entities)
    qm.watch()
    click.echo(
        f"next: `shipyard serve churn@production`, `shipyard models ls`, "
        f"`shipyard models card churn/{live}`, `shipyard flows show {run.pathspec}`, "
        f"`shipyard monitor ls`, `shipyard alerts ls`, "
        f"`shipyard features status --project quickstart`, "
        f"`shipyard lineage prediction ID` (an id from the table above), "
        f"`shipyard lineage impact feature-view customer_spend --project quickstart`"
    )
