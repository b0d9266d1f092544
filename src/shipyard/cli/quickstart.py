"""`shipyard quickstart`: the end-to-end demo on the embedded store.

For now: a small scikit-learn sweep on a bundled dataset, tracked as runs, then compared.
"""

from __future__ import annotations

import time
from typing import Any

import click

from shipyard.cli import _output as out
from shipyard.tracking import Client, start_run

PROJECT = "quickstart"


def _candidates() -> list[tuple[str, Any, dict[str, Any]]]:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    grid: list[tuple[str, Any, dict[str, Any]]] = []
    for c in (0.01, 0.1, 1.0, 10.0):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
        grid.append(("logreg", model, {"C": c}))
    for depth in (3, None):
        model = RandomForestClassifier(n_estimators=150, max_depth=depth, random_state=0, n_jobs=1)
        grid.append(("random_forest", model, {"n_estimators": 150, "max_depth": depth}))
    for rate in (0.05, 0.2):
        model = GradientBoostingClassifier(learning_rate=rate, n_estimators=100, random_state=0)
        grid.append(("gradient_boosting", model, {"learning_rate": rate, "n_estimators": 100}))
    return grid


def run_sweep(client: Client) -> list[str]:
    """Train every candidate as its own run; returns the run ids."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=42, stratify=y
    )
    run_ids = []
    console = out.console()
    candidates = _candidates()
    with console.status("training") as status:
        for i, (family, model, params) in enumerate(candidates, 1):
            name = f"{family}-{i}"
            status.update(f"training {name} ({i}/{len(candidates)})")
            with start_run(
                PROJECT,
                name,
                params={"model": family, **params},
                tags={"dataset": "breast_cancer"},
                client=client,
            ) as run:
                started = time.perf_counter()
                model.fit(X_train, y_train)
                fit_seconds = time.perf_counter() - started
                if hasattr(model, "staged_predict_proba"):  # a learning curve, step by step
                    for step, proba in enumerate(model.staged_predict_proba(X_test)):
                        run.log_metric(
                            "test_auc_by_stage", roc_auc_score(y_test, proba[:, 1]), step
                        )
                proba = model.predict_proba(X_test)[:, 1]
                predicted = (proba >= 0.5).astype(int)
                run.log_metrics(
                    {
                        "accuracy": accuracy_score(y_test, predicted),
                        "f1": f1_score(y_test, predicted),
                        "roc_auc": roc_auc_score(y_test, proba),
                        "fit_seconds": fit_seconds,
                    }
                )
                client.log_object(run.id, model, "model")
                run_ids.append(run.id)
            console.print(f"  [green]✓[/] {name:<22} run {run.id[:8]}")
    return run_ids


def print_comparison(client: Client, run_ids: list[str]) -> None:
    ranked = client.search_runs(
        PROJECT, order_by=["metrics.roc_auc desc", "metrics.accuracy desc"], limit=len(run_ids) + 50
    )
    ranked = [r for r in ranked if r.id in set(run_ids)]
    grid = out.table(
        "quickstart sweep, best first (held-out test set)",
        ["rank", "run", "model", "params", "roc_auc", "accuracy", "f1", "fit s"],
    )
    for rank, run in enumerate(ranked, 1):
        params = ", ".join(f"{k}={v}" for k, v in sorted(run.params.items()) if k != "model")
        style = "bold green" if rank == 1 else ""
        grid.add_row(
            str(rank),
            run.id[:8],
            run.params["model"],
            params,
            *[out.number(run.metrics[k]) for k in ("roc_auc", "accuracy", "f1")],
            f"{run.metrics['fit_seconds']:.2f}",
            style=style,
        )
    out.console().print(grid)
    best = ranked[0]
    click.echo(f"best: {best.name} (run {best.id}) with roc_auc {best.metrics['roc_auc']:.4f}")


@click.command()
def quickstart() -> None:
    """Run the end-to-end demo on the embedded store (no servers needed)."""
    client = Client()
    click.echo(f"shipyard quickstart — store: {client.settings.home}")
    run_ids = run_sweep(client)
    print_comparison(client, run_ids)
    click.echo(
        "next: `shipyard runs ls -p quickstart`, `shipyard runs show RUN_ID`, "
        "`shipyard runs compare ID1 ID2`"
    )
