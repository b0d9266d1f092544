"""The MLflow side of bench_ui.py (not a benchmark itself): ``mlflow server`` on SQLite
loaded with runs of the same shape through its REST API, then the calls its web UI makes
for the same three pages, timed the same way (see bench_ui.py's docstring)."""

from __future__ import annotations

import random
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

API = "/api/2.0/mlflow"
AJAX = "/ajax-api/2.0/mlflow"
BATCH = 1_000  # MLflow's limit of items per log-batch


def mlflow_python() -> str:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.server.mlflow_venv import venv_python

    return str(venv_python())


def load(http: httpx.Client, count: int, shape: Any) -> tuple[str, list[str]]:
    """``count`` runs like bench_ui's (same seeds), logged with runs/create + log-batch."""
    experiment = http.post(f"{API}/experiments/create", json={"name": "bench"})
    experiment.raise_for_status()
    experiment_id = experiment.json()["experiment_id"]
    ids = shape.run_ids(count)
    params, metrics, _ = shape.data_rows(ids, 0)
    per_run = len(shape.METRICS) * shape.POINTS

    def one(index: int) -> str:
        with httpx.Client(base_url=str(http.base_url), timeout=120) as own:
            created = own.post(
                f"{API}/runs/create",
                json={
                    "experiment_id": experiment_id,
                    "run_name": f"run-{index}",
                    "start_time": shape.START_MS + index * 1000,
                },
            )
            created.raise_for_status()
            run_id = created.json()["run"]["info"]["run_id"]
            mine = params[index * len(shape.PARAMS) : (index + 1) * len(shape.PARAMS)]
            items: list[tuple[str, Any]] = [("param", p) for p in mine]
            items += [("metric", m) for m in metrics[index * per_run : (index + 1) * per_run]]
            for start in range(0, len(items), BATCH):
                chunk = items[start : start + BATCH]
                body = {
                    "run_id": run_id,
                    "params": [
                        {"key": p[1], "value": p[2]} for kind, p in chunk if kind == "param"
                    ],
                    "metrics": [
                        {"key": m[1], "value": m[2], "step": m[3], "timestamp": m[4]}
                        for kind, m in chunk
                        if kind == "metric"
                    ],
                }
                own.post(f"{API}/runs/log-batch", json=body).raise_for_status()
            end = {"run_id": run_id, "status": "FINISHED", "end_time": shape.START_MS + 1}
            own.post(f"{API}/runs/update", json=end).raise_for_status()
            return str(run_id)

    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        run_ids = list(pool.map(one, range(count)))
    took = time.perf_counter() - started
    print(
        f"  MLflow: {count:,} runs loaded through REST in {took:.0f} s ({count / took:.1f} runs/s)"
    )
    return experiment_id, run_ids


def pages(http: httpx.Client, experiment_id: str, ids: list[str], shape: Any, args: Any) -> Any:
    search = {
        "experiment_ids": [experiment_id],
        "filter": shape.FILTER,
        "order_by": [shape.ORDER],
        "max_results": 50,
        "run_view_type": "ACTIVE_ONLY",
    }
    found = http.post(f"{AJAX}/runs/search", json=search).json().get("runs", [])
    print(f"  MLflow runs page: {len(found)} runs on the first page")
    pick = random.Random(7)

    def ok(response: httpx.Response) -> Any:
        response.raise_for_status()
        return response.json()

    def bulk(run_ids: list[str], key: str) -> None:
        params = [("run_ids", r) for r in run_ids]
        params += [("metric_key", key), ("max_results", str(shape.MAX_POINTS))]
        ok(http.get(f"{AJAX}/metrics/get-history-bulk-interval", params=params))

    def runs_page(_: int) -> None:
        ok(http.post(f"{AJAX}/runs/search", json=search))

    def run_page(i: int) -> None:
        rid = ids[(i * 7919) % len(ids)]
        ok(http.get(f"{AJAX}/runs/get", params={"run_id": rid}))
        for key in shape.METRICS:
            bulk([rid], key)

    def compare(_: int) -> None:
        chosen = pick.sample(ids, min(10, len(ids)))
        for key in shape.METRICS[:5]:
            bulk(chosen, key)

    return {
        "runs page (search, filter, sort, 50)": shape.timed(runs_page, args.warmup, args.requests),
        "run page (get + 20 histories, batched)": shape.timed(run_page, args.warmup, args.requests),
        "comparison (10 runs x 5 metrics)": shape.timed(compare, args.warmup, args.requests),
    }


def compare(args: Any, shape: Any) -> dict[str, list[float]]:
    """MLflow's figures for ``args.mlflow_runs`` runs (its server on SQLite, 1 worker)."""
    from bench_server import mlflow_env
    from bench_serving import Server, free_port

    python = mlflow_python()
    with tempfile.TemporaryDirectory() as work:
        port = free_port()
        # ``python -m mlflow``: the venv's scripts name the folder it was built in
        argv = [python, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{work}/m.db"]
        argv += ["--artifacts-destination", f"{work}/mlartifacts", "--workers", "1"]
        argv += ["--host", "127.0.0.1", "--port", str(port)]
        env = mlflow_env(python) | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        server = Server("mlflow", argv, env, Path(work), port, "/health")
        server.start()
        try:
            server.wait_ready(120)
            with httpx.Client(base_url=server.url, timeout=300) as http:
                experiment_id, ids = load(http, args.mlflow_runs, shape)
                return pages(http, experiment_id, ids, shape, args)  # type: ignore[no-any-return]
        finally:
            server.stop()
