"""`shipyard quickstart`: the end-to-end demo on the embedded store.

For now: a scikit-learn sweep on a bundled dataset, run as a flow (a foreach over the
candidates, each a tracked task; the join keeps the best), then compared from the store.
"""

from __future__ import annotations

import time
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


@click.command()
@click.option("--max-workers", type=int, default=None, help="Training tasks at once.")
def quickstart(max_workers: int | None) -> None:
    """Run the end-to-end demo on the embedded store (no servers needed)."""
    from shipyard.cli.quickstart_flow import QuickstartFlow

    click.echo(f"shipyard quickstart — store: {Client().settings.home}")
    started = time.perf_counter()
    with out.console().status("training the sweep as a flow (foreach over 8 candidates)"):
        run = QuickstartFlow.run(max_workers=max_workers)
    click.echo(f"{run.pathspec} finished in {time.perf_counter() - started:.1f} s")
    print_comparison(run)
    click.echo(
        f"next: `shipyard flows show {run.pathspec}`, `shipyard runs ls -p {FLOW} --tasks`, "
        f"`shipyard flows logs {run.pathspec}/end`"
    )
