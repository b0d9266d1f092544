"""Web UI data: the runs page, a run page and a 10-run comparison, answered by the server.

Data (not timed). ``--runs`` runs (default 10,000) in one project, each with 20 params
(``p0``..``p19``, values ``v0``..``v9``, seeded) and 20 metrics (``m0``..``m19``) of 100
points each (steps 0..99, values uniform in [0, 1), seeded): 20 million metric points by
default. The schema comes from the store itself (``Client()`` migrates a new database);
the rows are then bulk-loaded straight into its tables, bypassing the store's API (the
API's write path has its own benchmarks): ``executemany`` on one sqlite3 connection for
SQLite (foreign keys unchecked, sqlite3's default), ``COPY`` for PostgreSQL (with
``session_replication_role = replica``: no per-row foreign-key triggers), then ``ANALYZE``.
The rows are exactly what ``log_batch`` writes: ``runs``, ``params``, ``metrics`` and
``latest_metrics`` (the last point of each metric).

Method. One app (``create_app``) over a ``Client`` of that store, served by uvicorn in a
thread of this process on loopback (``ServerThread``), auth off; one ``httpx.Client`` sends
the requests a page of the UI sends, one page at a time, and the time until the answer is
read in full is recorded. After ``--warmup`` untimed page loads (default 3), ``--requests``
timed ones (default 20, each on other runs), the median is reported (p95 too):

a. runs page: ``POST /api/v1/runs/search`` with ``filter`` ``params.p1 = 'v3' and
   metrics.m2 > 0.5`` (about 5 % of the runs match), ``order_by ["metrics.m0 DESC"]``,
   first page of 50 (a request per page: the page loads in that time);
b. run page: ``GET /api/v1/runs/{id}`` then ``POST /api/v1/runs/metric-histories`` for that
   run's 20 metrics, ``max_points`` 500 (the sum of both). Printed for information: the
   same with 20 ``GET /api/v1/runs/{id}/metric-history?key=…&max_points=500``;
c. comparison: ``POST /api/v1/runs/metric-histories`` for 10 runs x 5 metrics,
   ``max_points`` 500.

d. the same three pages as the web UI serves them (HTML rendered by the server, charts'
   data inside): ``GET /ui/projects/bench/runs?filter=…&order_by=metrics.m0 DESC`` (first
   page of 50, the page's own columns), ``GET /ui/runs/{id}`` (20 charts of 100 points),
   ``GET /ui/compare?run=…`` x 10 (8 charts of 10 runs, the diff table).

Target (issue 16): each < 300 ms, on SQLite and on PostgreSQL.

MLflow side by side (``--mlflow-runs N``, default 0: skipped): ``mlflow server`` (SQLite,
one worker; the venv tests/server/mlflow_venv.py builds, mlflow 3.17.2) loaded with N runs
of the same shape and seeds through its REST ``runs/create`` + ``runs/log-batch`` (1,000
items a call, 4 clients: slow, hence a smaller N), then the calls its web UI makes for the
same pages, timed the same way: ``POST /ajax-api/2.0/mlflow/runs/search`` (same filter,
``order_by metrics.m0 DESC``, ``max_results`` 50); ``GET …/runs/get`` + 20 ``GET
…/metrics/get-history-bulk-interval`` (one run, one key each, ``max_results`` 500); 5 ``GET
…/metrics/get-history-bulk-interval`` (10 runs each). Shipyard is measured again on N runs
(SQLite) for the ratio.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import _common
import httpx

TARGET_MS = 300.0
PARAMS = [f"p{i}" for i in range(20)]
METRICS = [f"m{i}" for i in range(20)]
POINTS = 100
FILTER = "params.p1 = 'v3' and metrics.m2 > 0.5"
ORDER = "metrics.m0 DESC"
MAX_POINTS = 500
START_MS = 1_780_000_000_000
CHUNK = 200  # runs per bulk insert


def run_ids(count: int) -> list[str]:
    rng = random.Random(16)
    return sorted(f"{rng.getrandbits(128):032x}" for _ in range(count))


def run_rows(ids: list[str], project_id: int) -> list[tuple[Any, ...]]:
    rows = []
    for i, rid in enumerate(ids):
        start = START_MS + i * 1000
        end = start + 900
        rows.append((rid, project_id, f"run-{i}", "run", "FINISHED", start, end, end))
    return [(*row, "bench", "bench", 0, "", "") for row in rows]


def data_rows(ids: list[str], seed: int) -> tuple[list[Any], list[Any], list[Any]]:
    """params, metrics and latest_metrics rows of ``ids`` (a chunk), seeded."""
    import numpy as np

    rng = np.random.default_rng(seed)
    choices = rng.integers(0, 10, size=(len(ids), len(PARAMS)))
    values = rng.random((len(ids), len(METRICS), POINTS))
    params, metrics, latest = [], [], []
    steps = list(range(POINTS))
    for r, rid in enumerate(ids):
        start = START_MS + r * 1000
        params += [(rid, key, f"v{choices[r, k]}") for k, key in enumerate(PARAMS)]
        stamps = [start + s for s in steps]
        for k, key in enumerate(METRICS):
            series = values[r, k].tolist()
            metrics += zip([rid] * POINTS, [key] * POINTS, series, steps, stamps, strict=True)
            latest.append((rid, key, series[-1], POINTS - 1, stamps[-1]))
    return params, metrics, latest


_RUN_COLUMNS = (
    "id, project_id, name, kind, status, start_ms, end_ms, heartbeat_ms, "
    '"user", host, pid, command, code_version'
)
_TABLES = {
    "params": "run_id, key, value",
    "metrics": "run_id, key, value, step, timestamp_ms",
    "latest_metrics": "run_id, key, value, step, timestamp_ms",
}


def load_sqlite(
    path: str, ids: list[str], project_id: int, progress: Callable[[int], None]
) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")
    with conn:
        conn.executemany(
            f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES ({', '.join('?' * 13)})",
            run_rows(ids, project_id),
        )
    for start in range(0, len(ids), CHUNK):
        rows = data_rows(ids[start : start + CHUNK], start)
        with conn:
            for (table, columns), chunk in zip(_TABLES.items(), rows, strict=True):
                marks = ", ".join("?" * len(columns.split(", ")))
                conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", chunk)
        progress(start + CHUNK)
    conn.execute("ANALYZE")
    conn.close()


def load_postgres(
    uri: str, ids: list[str], project_id: int, progress: Callable[[int], None]
) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    conninfo = make_url(uri).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn:
        # the rows are consistent by construction: skip the per-row foreign-key triggers
        conn.execute("SET session_replication_role = replica")
        with conn.cursor().copy(f"COPY runs ({_RUN_COLUMNS}) FROM STDIN") as copy:
            for row in run_rows(ids, project_id):
                copy.write_row(row)
        conn.commit()
        for start in range(0, len(ids), CHUNK):
            rows = data_rows(ids[start : start + CHUNK], start)
            for (table, columns), chunk in zip(_TABLES.items(), rows, strict=True):
                with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in chunk:
                        copy.write_row(row)
            conn.commit()
            progress(start + CHUNK)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("ANALYZE")


def generate(uri: str, count: int) -> list[str]:
    from shipyard.tracking import Client

    client = Client()  # creates the schema
    project_id = client.create_project("bench").id
    client.close()
    ids = run_ids(count)
    started = time.perf_counter()

    def progress(done: int) -> None:
        if done % 2000 == 0 or done >= count:
            rate = min(done, count) / (time.perf_counter() - started)
            print(f"\r  loaded {min(done, count):,} runs ({rate:,.0f} runs/s)", end="", flush=True)

    if uri.startswith("sqlite"):
        load_sqlite(uri.removeprefix("sqlite:///"), ids, project_id, progress)
    else:
        load_postgres(uri, ids, project_id, progress)
    points = count * len(METRICS) * POINTS
    print(f"\n  {count:,} runs, {points:,} points in {time.perf_counter() - started:.0f} s")
    return ids


def timed(fn: Callable[[int], None], warmup: int, requests: int) -> list[float]:
    for i in range(warmup):
        fn(i)
    times = []
    for i in range(requests):
        start = time.perf_counter()
        fn(warmup + i)
        times.append((time.perf_counter() - start) * 1000)
    return times


def ok(response: httpx.Response) -> Any:
    response.raise_for_status()
    return response.json()


def shipyard_pages(http: httpx.Client, ids: list[str], args: Any) -> dict[str, list[float]]:
    search = {"projects": ["bench"], "filter": FILTER, "order_by": [ORDER], "limit": 50}
    found = ok(http.post("/api/v1/runs/search", json=search))["runs"]
    first = found[0]["metrics"]["m0"] if found else None
    print(f"  runs page: {len(found)} runs on the first page; m0 of the first: {first}")
    pick = random.Random(7)

    def runs_page(_: int) -> None:
        ok(http.post("/api/v1/runs/search", json=search))

    def run_page(i: int) -> None:
        rid = ids[(i * 7919) % len(ids)]
        ok(http.get(f"/api/v1/runs/{rid}"))
        body = {"run_ids": [rid], "keys": METRICS, "max_points": MAX_POINTS}
        series = ok(http.post("/api/v1/runs/metric-histories", json=body))["series"]
        assert len(series) == len(METRICS) and len(series[0]["values"]) == POINTS

    def run_page_per_key(i: int) -> None:
        rid = ids[(i * 104729) % len(ids)]
        ok(http.get(f"/api/v1/runs/{rid}"))
        for key in METRICS:
            params = {"key": key, "max_points": MAX_POINTS}
            ok(http.get(f"/api/v1/runs/{rid}/metric-history", params=params))

    def compare(_: int) -> None:
        chosen = pick.sample(ids, min(10, len(ids)))
        body = {"run_ids": chosen, "keys": METRICS[:5], "max_points": MAX_POINTS}
        ok(http.post("/api/v1/runs/metric-histories", json=body))

    def html(path: str, params: Any = None) -> None:
        answer = http.get(path, params=params)
        answer.raise_for_status()
        assert answer.headers["content-type"].startswith("text/html")

    table = {"filter": FILTER, "order_by": ORDER}

    def runs_html(_: int) -> None:
        html("/ui/projects/bench/runs", table)

    def run_html(i: int) -> None:
        html(f"/ui/runs/{ids[(i * 7919) % len(ids)]}")

    def compare_html(_: int) -> None:
        html("/ui/compare", [("run", rid) for rid in pick.sample(ids, min(10, len(ids)))])

    return {
        "runs page, HTML (/ui/projects/P/runs)": timed(runs_html, args.warmup, args.requests),
        "run page, HTML (/ui/runs/ID)": timed(run_html, args.warmup, args.requests),
        "comparison, HTML (/ui/compare, 10 runs)": timed(compare_html, args.warmup, args.requests),
        "runs page (search, filter, sort, 50)": timed(runs_page, args.warmup, args.requests),
        "run page (get + 20 histories, batched)": timed(run_page, args.warmup, args.requests),
        "run page, 20 metric-history requests": timed(run_page_per_key, args.warmup, args.requests),
        "comparison (10 runs x 5 metrics)": timed(compare, args.warmup, args.requests),
    }


def report(figures: dict[str, list[float]], targets: bool) -> None:
    for label, times in figures.items():
        median = statistics.median(times)
        p95 = sorted(times)[max(0, round(0.95 * len(times)) - 1)]
        measured = f"{median:.1f} ms (p95 {p95:.1f})"
        if targets and "requests" not in label:
            print(_common.line(label, measured, f"< {TARGET_MS:.0f} ms", median < TARGET_MS))
        else:
            print(f"      {label:<44} {measured:>22}")


def main() -> None:
    p = _common.parser(__doc__)
    p.add_argument("--runs", type=int, default=10_000, help="runs in the store (default 10,000)")
    p.add_argument("--requests", type=int, default=20, help="timed page loads per page")
    p.add_argument("--warmup", type=int, default=3, help="untimed page loads first")
    p.add_argument("--mlflow-runs", type=int, default=0, help="runs for the MLflow side (0: skip)")
    args = p.parse_args()
    _common.header(f"Web UI pages over {args.runs:,} runs", args.uri)
    print(f"  source: {_common.source_label()}")
    warnings.simplefilter("ignore")
    figures = shipyard_figures(args.uri, args.runs, args)
    report(figures, targets=True)
    if args.mlflow_runs:
        import _ui_mlflow

        print(f"\nSide by side with MLflow on {args.mlflow_runs:,} runs (SQLite on both sides)")
        mine = shipyard_figures(None, args.mlflow_runs, args)
        theirs = _ui_mlflow.compare(args, sys.modules[__name__])
        for label, times in theirs.items():
            ours, their = statistics.median(mine[label]), statistics.median(times)
            measured = f"Shipyard {ours:.1f} ms, MLflow {their:.1f} ms"
            print(f"      {label:<44} {measured}: MLflow / Shipyard {their / ours:.1f}x")


def shipyard_figures(uri: str | None, count: int, args: Any) -> dict[str, list[float]]:
    with _common.bench_store(uri):
        from shipyard.server import create_app
        from shipyard.server.run import ServerThread
        from shipyard.tracking import Client

        ids = generate(os.environ["SHIPYARD_URI"], count)
        client = Client()
        server = ServerThread(create_app(client)).start()
        try:
            with httpx.Client(base_url=server.url, timeout=120) as http:
                return shipyard_pages(http, ids, args)
        finally:
            server.stop()
            client.close()


if __name__ == "__main__":
    main()
