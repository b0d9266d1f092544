"""Serving with online feature lookup: the quickstart's churn model, requests that carry only
a customer id.

State. ``shipyard quickstart`` runs once in a throwaway SHIPYARD_HOME (``_common.bench_store``):
it builds the features, trains and registers ``churn``, promotes it to ``churn@production``,
materializes the online store and serves the model itself, printing its own latency for
300 requests with one client (``served churn vN ...: p50 X ms, p99 Y ms``): that p50 is
the quickstart's figure (target < 3 ms).

Load. ``shipyard serve churn@production --workers N`` (each N of ``--workers``, default 2)
on 127.0.0.1, then ``wrk`` with ``--connections 8`` on ``--threads 2``: each request is
``POST /predict {"record": {"customer_id": ID}, "method": "predict_proba"}``, the id
varied per request by a Lua script over the quickstart's customers (one id in every 7,919
steps, the quickstart's own order); the server fetches the customer's features from the
online store, runs the on-demand view and predicts. ``--warmup`` s of load are discarded,
then ``--duration`` s measured, ``--repeat`` rounds, medians; the server's CPU time (its
process tree) per request too. Target (issue 13): p99 < 5 ms at 8 connections with
``--workers 2``. Before the load, the script checks that the server answers each of a few
customers exactly as the quickstart model does on the features the store returns.

``--py-spy OUT.svg`` (``.json``, ``.txt``) profiles the server during one more run per
worker count (not counted). Servers, wrk and the profiler come from ``bench_serving``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

P99_TARGET_MS = 5.0  # 8 connections, --workers 2
QUICKSTART_P50_TARGET_MS = 3.0  # one client, the quickstart's own figure
MODEL_REF = "churn@production"

WRK_LUA = """\
-- POST /predict with one customer id per request, varied over the quickstart's customers
local customers = tonumber(os.getenv("BENCH_CUSTOMERS"))
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  local id = 1 + (counter * 7919) % customers
  return wrk.format(nil, nil, nil,
    '{"record": {"customer_id": ' .. id .. '}, "method": "predict_proba"}')
end
"""

QUICKSTART_LINE = re.compile(
    r"served churn v\d+ .*?p50 ([\d.]+) ms, p99 ([\d.]+) ms, ([\d,]+) req/s"
)


def run_quickstart(work: Path) -> dict[str, float]:
    """``shipyard quickstart`` in this process's SHIPYARD_HOME; its printed latency."""
    import bench_serving as bs

    t = time.perf_counter()
    done = subprocess.run(
        [*bs.shipyard_argv(), "quickstart"],
        cwd=work,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    (work / "quickstart.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"shipyard quickstart failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    m = QUICKSTART_LINE.search(done.stdout)
    if not m:
        raise SystemExit(f"no latency line in the quickstart's output:\n{done.stdout[-3000:]}")
    print(f"  quickstart: done in {time.perf_counter() - t:.0f} s; it printed: {m.group(0)}")
    return {"p50": float(m.group(1)), "p99": float(m.group(2))}


def check_answers(url: str, customers: list[int]) -> None:
    """The server's probabilities equal the registered model's on the online features."""
    import httpx
    import numpy as np
    import pandas as pd

    from shipyard.registry import ModelRegistry

    model = ModelRegistry().load_model(f"models:/{MODEL_REF}")
    names = [c["name"] for c in model.signature["inputs"]]
    with httpx.Client(timeout=30) as http:
        for customer in customers:
            body = {"record": {"customer_id": customer}, "method": "predict_proba"}
            r = http.post(url + "/predict", json=body)
            if r.status_code != 200:
                raise SystemExit(f"customer {customer}: HTTP {r.status_code} {r.text[:500]}")
            got = np.asarray(r.json()["predictions"])
            row = _features(customer, names)
            with warnings.catch_warnings():  # the pipeline's own feature-name warnings
                warnings.simplefilter("ignore")
                frame = pd.DataFrame([row], columns=names)
                expected = np.asarray(model.model.predict_proba(frame))
            if got.shape != expected.shape or not np.allclose(got, expected, rtol=0, atol=1e-12):
                raise SystemExit(
                    f"customer {customer}: the server answered {got.tolist()}, the model on the "
                    f"online features {expected.tolist()} ({row})"
                )


def _features(customer: int, names: list[str]) -> list[Any]:
    from shipyard.cli.quickstart_features import PROJECT, SERVICE
    from shipyard.features import FeatureStore

    response = FeatureStore(PROJECT).online_lookup(SERVICE)({"customer_id": [customer]})
    return [float("nan") if response.values[n][0] is None else response.values[n][0] for n in names]


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _common
    import bench_serving as bs

    p = _common.parser(__doc__)
    p.set_defaults(repeat=3)
    p.add_argument("--duration", type=float, default=10.0, help="seconds of each measured run")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each run")
    p.add_argument("--connections", type=int, default=8, help="concurrent clients (wrk -c)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--workers", type=bs.worker_counts, default=[2], help="e.g. 2 or 1,2")
    p.add_argument("--startup-timeout", type=float, default=180.0, help="seconds per server")
    p.add_argument("--py-spy", type=Path, help="profile the server into this file")
    p.add_argument("--dir", help="parent folder of the temp folder (default: the system's)")
    args = p.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit(f"wrk not found on PATH; install it: {bs.WRK_INSTALL}")
    if args.py_spy and shutil.which("py-spy") is None:
        raise SystemExit("--py-spy: py-spy not found on PATH (pip install py-spy)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    from shipyard.cli.quickstart_features import CUSTOMERS

    _common.header("bench_serving_lookup: the quickstart's model served with lookup", args.uri)
    print(f"  shipyard at {_common.source_label()}; Python {sys.version.split()[0]}")
    print(
        f"  load: wrk {args.connections} connections, {args.threads} threads, "
        f"{args.warmup:g} s warm-up + {args.duration:g} s, {args.repeat} rounds (median); "
        f"ids over {CUSTOMERS:,} customers; servers: --workers "
        f"{', '.join(map(str, args.workers))}"
    )
    results: list[tuple[int, bs.Measures]] = []
    with contextlib.ExitStack() as stack:
        work = Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-lookup-", dir=args.dir))
        )
        stack.enter_context(_common.bench_store(args.uri, args.dir))
        quick = run_quickstart(work)
        lua = work / "lookup.lua"
        lua.write_text(WRK_LUA)
        os.environ["BENCH_CUSTOMERS"] = str(CUSTOMERS)  # read by the Lua script
        body = work / "unused.json"  # the Lua script builds each body
        body.write_text(json.dumps({"record": {"customer_id": 1}}))
        load = bs.Load(lua, args.connections, args.threads, args.duration, args.warmup)
        for workers in args.workers:
            server = bs.shipyard_server("shipyard", MODEL_REF, workers, work)
            with contextlib.ExitStack() as running:
                running.callback(server.stop)
                server.start()
                ready = server.wait_ready(args.startup_timeout)
                print(f"--workers {workers}: ready {ready:.1f} s after start, {server.url}")
                check_answers(server.url, [1, 2, 777, CUSTOMERS])
                print("  the server answers as the model does on the online features")
                measures = bs.Measures()
                for rnd in range(args.repeat):
                    r = load.run(server, "/predict", body)
                    measures.add("lookup", r)
                    print(
                        f"  round {rnd + 1} /predict (customer id only) {r.rps:>8,.0f} req/s  "
                        f"p50 {r.p50:6.2f} ms  p99 {r.p99:6.2f} ms  server CPU "
                        f"{r.cpu_ms or 0:.2f} ms/req  errors {r.errors}  "
                        f"load {os.getloadavg()[0]:.1f}",
                        flush=True,
                    )
                if args.py_spy:
                    out = args.py_spy.with_name(
                        f"{args.py_spy.stem}-w{workers}{args.py_spy.suffix}"
                    )
                    bs.profile(server, load, body, out, "/predict")
                problems = bs.log_problems(server.log_tail(1_000_000))
                for message, count in problems.most_common(5):
                    print(f"  server log: {count} x {message[:300]}")
                results.append((workers, measures))
    report(args, quick, results)


def report(args: Any, quick: dict[str, float], results: list[tuple[int, Any]]) -> None:
    import bench_serving as bs

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n  load average at the end (1, 5, 15 min): {load} on {os.cpu_count()} CPUs")
    rows = [
        bs.Row(
            "quickstart's own p50 (one client, 300 requests)",
            "ms",
            quick["p50"],
            target=QUICKSTART_P50_TARGET_MS,
        ),
        bs.Row("quickstart's own p99", "ms", quick["p99"]),
    ]
    for workers, m in results:
        head = f"customer id only, /predict, {args.connections} clients, --workers {workers}"
        rows += [
            bs.Row(f"{head}: req/s", "req/s", m.median("lookup", "rps"), higher_is_better=True),
            bs.Row("  p50", "ms", m.median("lookup", "p50")),
            bs.Row(
                "  p99",
                "ms",
                m.median("lookup", "p99"),
                target=P99_TARGET_MS if workers >= 2 else None,
            ),
            bs.Row("  server CPU per request", "ms", m.median("lookup", "cpu_ms")),
            bs.Row("  failed requests", "n", float(m.errors("lookup")), target=0),
        ]
    print(bs.table(rows))
    print("\nMarkdown:\n")
    print(bs.markdown(rows))


if __name__ == "__main__":
    main()
