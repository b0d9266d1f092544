"""Team server: ``shipyard server`` + the remote client against ``mlflow server``, same data.

Servers. Both run in this one invocation, each in its own process group on 127.0.0.1 and a
free port, with ``--workers`` worker processes each (default 2):

* Shipyard: ``shipyard server --host 127.0.0.1 --port P --workers W`` with a throwaway
  SHIPYARD_HOME (SQLite file and blobs in a temp folder; ``--uri postgresql://.../NAME``
  puts the metadata in a database NAME that the script creates and drops). This process
  is the client: ``SHIPYARD_URI=http://127.0.0.1:P`` (and a client home of its own), so
  ``shipyard.start_run``, ``shipyard.log_metric`` and ``shipyard.search_runs`` go through
  the remote store.
* MLflow: ``mlflow server --backend-store-uri sqlite:///... --artifacts-destination DIR``
  from a throwaway venv (``--mlflow-venv``, default /tmp/mlflow-bench-venv, shared with
  bench_serving: ``mlflow~=3.17.0`` and this interpreter's scikit-learn), driven by the
  unmodified ``mlflow`` client in that venv (a child process that reports JSON), with
  ``MLFLOW_TRACKING_URI=http://127.0.0.1:Q``. Telemetry is off on both MLflow sides, and
  so is MLflow 3's job runner (``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``: huey
  consumers for GenAI jobs that poll at ~0.45 cores while idle, on the same 2 CPUs).

Server CPU. With each measure the script reports the CPU time the server's HTTP processes
used per point, per run and per query (Shipyard: the server's process tree; MLflow: its
uvicorn process and workers, from /proc): unlike wall time it hardly depends on what else
runs on the machine.

Measures, one after the other (nothing else runs meanwhile):

1. ``log_metric``. Shipyard: 100,000 ``shipyard.log_metric("loss", v, step=i)`` calls in a
   run started with ``shipyard.start_run``, then ``client.flush()``; points/s = 100,000 /
   (loop + flush), i.e. until the server has acknowledged every point. A second client then
   reads the history back through the server: all 100,000 steps. Median of ``--repeat``.
   MLflow: ``mlflow.log_metric`` one call at a time (``--mlflow-single`` calls, 300: ~18/s)
   and ``MlflowClient.log_batch`` with 1,000 metrics per call (its maximum), 20,000 points;
   both read back with ``get_metric_history``.
2. Runs created: ``with shipyard.start_run(project, name, params=10 params): pass`` against
   ``with mlflow.start_run(run_name=name): mlflow.log_params(10 params)``, 500 Shipyard runs
   (median of ``--repeat``) and 100 MLflow runs (~5/s), after one untimed run each.
3. Search: the same 200 runs on both sides (seeded: 10 params, metrics ``acc`` and
   ``loss``, each run created and ended), then ``search_runs`` with
   ``metrics.acc >= 0`` ordered by ``metrics.acc DESC`` (all 200 runs come back: the
   target) and ``metrics.acc > 0.9`` (12 runs), 5 warm-up queries then ``--search-queries``
   timed ones (default 50): median and p95 latency. Shipyard: ``shipyard.search_runs``
   (returns Run objects); MLflow: ``MlflowClient.search_runs`` (returns Run objects; the
   fluent one builds a pandas frame). Both must return the runs in the same order. Then
   the same searches on the server's store opened in this process (no server): what HTTP
   and the wire encoding add.
4. Load: a second Shipyard server (``--load-workers``, default 2) on PostgreSQL
   (``--load-uri``, a database the script creates and drops). ``--load-clients`` clients
   (default 32) in ``--load-procs`` processes (default 4, threads inside), each with its
   own ``shipyard.Client`` and run, start together and for ``--load-seconds`` (default 60)
   loop: log ``--load-batch`` points (default 100) with ``client.log_metric``, then
   ``client.flush()`` (a write: timed; the points are acknowledged when it returns), then
   one read (timed), alternating ``client.get_run(own run)`` and
   ``client.search_runs(project, "metrics.loss < 0.01", order_by="metrics.loss", limit=10)``.
   Then each client ends its run (a last flush). Reported: acknowledged points/s, writes
   and reads/s, p50/p99 of writes and reads, errors (exceptions raised to a client) and,
   counted afterwards straight from PostgreSQL (a client on the database, not the server),
   lost points (acknowledged steps missing from a run's history) and duplicates.

Targets (issue 14): remote ``log_metric`` >= 50,000 points/s; >= 100 runs created/s;
search of 200 runs by a metric: median < 20 ms (p95 printed too); load: 0 errors, 0 lost
points. Ratios Shipyard/MLflow are printed for each measure. Exits 1 when a correctness
check fails (a count read back, the two tools' search answers, errors or lost points under
load); target misses are MISS lines (run_all.sh turns them into exit 1).

``--skip-mlflow``, ``--skip-load``, ``--skip-shipyard`` leave parts out; ``--load-only``
runs the load only.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

SEED = 20261204
N_POINTS = 100_000
TARGET_POINTS = 50_000  # points/s through the remote client
TARGET_RUNS = 100  # runs/s
TARGET_SEARCH_MS = 20.0  # median, 200 runs
SEARCH_RUNS = 200
SEARCH_WARMUP = 5
MF_BATCH_SIZE = 1000  # MLflow's maximum metrics per log_batch
PARAMS = {f"param_{i}": f"value-{i}" for i in range(5)} | {f"num_{i}": i * 0.5 for i in range(5)}
QUERIES = {
    "all": ("metrics.acc >= 0", "metrics.acc DESC"),  # every one of the 200 runs
    "top": ("metrics.acc > 0.9", "metrics.acc DESC"),  # 12 of them (the seed)
}
LOAD_PROJECT = "load"
LOAD_READ_FILTER = ("metrics.loss < 0.01", "metrics.loss", 10)
MARKDOWN = ["| measure | Shipyard | MLflow | SY vs MF |", "|---|---|---|---|"]

MLFLOW_DRIVER = """\
import json, os, sys, time
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric

a = json.loads(sys.argv[1])
mlflow.set_tracking_uri(a["url"])
client = MlflowClient()
out = {"mlflow": mlflow.__version__}
now = time.perf_counter


def history(run_id):
    return len(client.get_metric_history(run_id, "loss"))


def server_cpu():
    # CPU seconds of the processes that serve HTTP: uvicorn and its workers, from /proc.
    # Not counted: `mlflow server` itself and its job runner (huey consumers), which poll
    # in the background whether requests come or not.
    procs = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        # ppid, pgrp, utime + stime, command line
        procs[int(pid)] = (int(fields[1]), int(fields[2]), int(fields[11]) + int(fields[12]), cmd)
    serving = {p for p, (_, g, _, cmd) in procs.items() if g == a["pgid"] and b"uvicorn" in cmd}
    grew = True
    while grew:
        more = {p for p, (pp, _, _, _) in procs.items() if pp in serving} - serving
        serving |= more
        grew = bool(more)
    return sum(procs[p][2] for p in serving) / os.sysconf("SC_CLK_TCK")


# 1. log_metric one call at a time, then log_batch
mlflow.set_experiment("bench-log")
with mlflow.start_run(run_name="single") as run:
    mlflow.log_metric("warmup", 0.0)
    t, cpu = now(), server_cpu()
    for i in range(a["single"]):
        mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
    out["single_s"], out["single_cpu"] = now() - t, server_cpu() - cpu
    out["single_stored"] = history(run.info.run_id)
with mlflow.start_run(run_name="batch") as run:
    rid, n, size = run.info.run_id, a["batch_points"], a["batch_size"]
    ts = int(time.time() * 1000)
    points = [Metric("loss", 1.0 / (i + 1), ts, i) for i in range(n)]
    client.log_batch(rid, metrics=[Metric("warmup", 0.0, ts, 0)])
    t, cpu = now(), server_cpu()
    for k in range(0, n, size):
        client.log_batch(rid, metrics=points[k : k + size])
    out["batch_s"], out["batch_cpu"] = now() - t, server_cpu() - cpu
    out["batch_stored"] = history(rid)

# 2. runs created (and ended) with 10 params
mlflow.set_experiment("bench-runs")
with mlflow.start_run(run_name="warmup"):
    mlflow.log_params(a["params"])
t, cpu = now(), server_cpu()
for i in range(a["runs"]):
    with mlflow.start_run(run_name=f"run-{i}"):
        mlflow.log_params(a["params"])
out["runs_s"], out["runs_cpu"] = now() - t, server_cpu() - cpu

# 3. the search data, then the searches
exp = mlflow.set_experiment("bench-search")
t = now()
for r in a["search_runs"]:
    with mlflow.start_run(run_name=r["name"]):
        mlflow.log_params(a["params"])
        mlflow.log_metrics({"acc": r["acc"], "loss": r["loss"]})
out["search_setup_s"] = now() - t
out["search"] = {}
for key, (flt, order) in a["queries"].items():
    times = []
    for i in range(a["warmup"] + a["queries_n"]):
        if i == a["warmup"]:
            cpu = server_cpu()
        t = now()
        runs = client.search_runs([exp.experiment_id], flt, order_by=[order], max_results=1000)
        if i >= a["warmup"]:
            times.append(now() - t)
    out["search"][key] = {
        "times": times,
        "names": [r.info.run_name for r in runs],
        "cpu": (server_cpu() - cpu) / a["queries_n"],
    }
print(json.dumps(out))
"""


# -- servers ----------------------------------------------------------------------------


def shipyard_server(name: str, work: Path, env: dict[str, str], workers: int) -> Any:
    from bench_serving import Server, free_port, shipyard_argv

    port = free_port()
    argv = [*shipyard_argv(), "server", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--workers", str(workers)]
    return Server(name, argv, env, work, port, "/api/v1/health")


def mlflow_env(python: str) -> dict[str, str]:
    drop = ("SHIPYARD_", "MLFLOW_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    for key in ("VIRTUAL_ENV", "PYTHONPATH"):
        env.pop(key, None)
    env["PATH"] = f"{Path(python).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"  # loopback traffic only
    env["DO_NOT_TRACK"] = "true"
    return env


def mlflow_server(python: str, work: Path, workers: int) -> Any:
    from bench_serving import Server, free_port

    port = free_port()
    argv = [str(Path(python).with_name("mlflow")), "server"]
    argv += ["--backend-store-uri", f"sqlite:///{work / 'mlflow.db'}"]
    argv += ["--artifacts-destination", str(work / "mlartifacts")]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    # MLflow 3's job runner (huey consumers for GenAI jobs, nothing to do with tracking)
    # polls at ~0.45 cores on this machine while idle, off the CPUs both sides measure on
    env = mlflow_env(python) | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    return Server("mlflow", argv, env, work, port, "/health")


def mlflow_python(venv: Path) -> str:
    import sklearn
    from bench_serving import mlflow_python as install

    return install(venv, sklearn.__version__)


def server_problems(server: Any) -> int:
    """Count exceptions and ERROR lines in a server's log; print the commonest."""
    from bench_serving import log_problems

    problems = log_problems(server.log_tail(5_000_000))
    if problems:
        print(f"  {server.name} log: {sum(problems.values())} errors or exceptions:")
        for message, count in problems.most_common(5):
            print(f"    {count} x {message[:300]}")
    return sum(problems.values())


@contextlib.contextmanager
def client_env(url: str, home: Path) -> Any:
    """This process as a remote client of ``url``."""
    keys = ("SHIPYARD_URI", "SHIPYARD_HOME", "SHIPYARD_ARTIFACT_URI")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ["SHIPYARD_URI"] = url
    os.environ["SHIPYARD_HOME"] = str(home)
    os.environ.pop("SHIPYARD_ARTIFACT_URI", None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# -- Shipyard measures (this process is the remote client) ------------------------------


def search_data() -> list[dict[str, Any]]:
    rng = random.Random(SEED)
    return [
        {"name": f"run-{i:03d}", "acc": round(rng.random(), 6), "loss": round(rng.random(), 6)}
        for i in range(SEARCH_RUNS)
    ]


def sy_log_metric(repeat: int, server: Any) -> dict[str, Any]:
    import shipyard

    values = [1.0 / (i + 1) for i in range(N_POINTS)]
    rates, calls, cpus, complete = [], [], [], True
    for t in range(repeat):
        with shipyard.start_run("bench-log", f"trial-{t}") as run:
            log = shipyard.log_metric
            cpu = server.cpu_seconds()
            start = time.perf_counter()
            for i, value in enumerate(values):
                log("loss", value, step=i)
            logged = time.perf_counter()
            run.client.flush()
            flushed = time.perf_counter()
            cpu = server.cpu_seconds() - cpu
        checker = shipyard.Client()
        try:
            steps = [m.step for m in checker.get_metric_history(run.id, "loss")]
        finally:
            checker.close()
        ok = steps == list(range(N_POINTS))
        complete &= ok
        rates.append(N_POINTS / (flushed - start))
        calls.append(N_POINTS / (logged - start))
        cpus.append(cpu)
        print(
            f"  shipyard log_metric trial {t}: {N_POINTS / (logged - start):>9,.0f} calls/s, "
            f"flush {flushed - logged:.3f} s -> {rates[-1]:>9,.0f} points/s acknowledged "
            f"(server CPU {cpu:.2f} s); all {N_POINTS:,} read back: {ok}",
            flush=True,
        )
    return {
        "rate": statistics.median(rates),
        "calls": statistics.median(calls),
        "cpu_per_point": statistics.median(cpus) / N_POINTS,
        "ok": complete,
    }


def sy_runs(n: int, repeat: int, server: Any) -> dict[str, Any]:
    import shipyard

    with shipyard.start_run("bench-runs", "warmup", params=PARAMS):
        pass
    rates, cpus = [], []
    for t in range(repeat):
        project = f"bench-runs-{t}"
        cpu = server.cpu_seconds()
        start = time.perf_counter()
        for i in range(n):
            with shipyard.start_run(project, f"run-{i}", params=PARAMS):
                pass
        rates.append(n / (time.perf_counter() - start))
        cpus.append((server.cpu_seconds() - cpu) / n)
        ms = cpus[-1] * 1e3
        print(f"  shipyard runs trial {t}: {rates[-1]:,.0f} runs/s (server CPU {ms:.2f} ms/run)")
    stored = len(shipyard.search_runs(f"bench-runs-{repeat - 1}", "status = 'FINISHED'", limit=n))
    return {
        "rate": statistics.median(rates),
        "cpu_per_run": statistics.median(cpus),
        "ok": stored == n,
        "stored": stored,
    }


def sy_search(data: list[dict[str, Any]], queries: int, server: Any) -> dict[str, Any]:
    import shipyard

    client = shipyard.Client()
    start = time.perf_counter()
    for r in data:
        run = client.create_run("bench-search", r["name"], params=PARAMS)
        client.log_metrics(run.id, {"acc": r["acc"], "loss": r["loss"]}, step=0)
        client.end_run(run.id)
    setup = time.perf_counter() - start
    client.close()
    out: dict[str, Any] = {"setup_s": setup}
    for key, (flt, order) in QUERIES.items():
        times = []
        for i in range(SEARCH_WARMUP + queries):
            if i == SEARCH_WARMUP:
                cpu = server.cpu_seconds()
            t = time.perf_counter()
            runs = shipyard.search_runs("bench-search", flt, order_by=order, limit=1000)
            if i >= SEARCH_WARMUP:
                times.append(time.perf_counter() - t)
        cpu = (server.cpu_seconds() - cpu) / queries
        print(f"  shipyard search {flt}: {len(runs)} runs, server CPU {cpu * 1e3:.2f} ms/query")
        out[key] = {"times": times, "names": [r.name for r in runs], "cpu": cpu}
    return out


def embedded_search(queries: int) -> dict[str, list[float]]:
    """The same searches on the server's store opened in this process (no server): what
    the HTTP round trip and the wire encoding add."""
    import shipyard

    client = shipyard.Client()
    out = {}
    try:
        for key, (flt, order) in QUERIES.items():
            times = []
            for i in range(SEARCH_WARMUP + queries):
                t = time.perf_counter()
                client.search_runs("bench-search", flt, order_by=order, limit=1000)
                if i >= SEARCH_WARMUP:
                    times.append(time.perf_counter() - t)
            out[key] = times
    finally:
        client.close()
    return out


def expected_names(data: list[dict[str, Any]], key: str) -> list[str]:
    ranked = sorted(data, key=lambda r: -r["acc"])
    if key == "top":
        ranked = [r for r in ranked if r["acc"] > 0.9]
    return [r["name"] for r in ranked]


def run_mlflow(server: Any, python: str, args: Any, data: list[dict[str, Any]]) -> dict[str, Any]:
    spec = {
        "url": server.url,
        "pgid": server.proc.pid,  # started in a session of its own
        "single": args.mlflow_single,
        "batch_points": args.mlflow_batch_points,
        "batch_size": MF_BATCH_SIZE,
        "runs": args.mlflow_runs,
        "params": PARAMS,
        "search_runs": data,
        "queries": QUERIES,
        "warmup": SEARCH_WARMUP,
        "queries_n": args.search_queries,
    }
    with tempfile.TemporaryDirectory(prefix="bench-mlflow-client-") as cwd:
        script = Path(cwd) / "mlflow_driver.py"
        script.write_text(MLFLOW_DRIVER)
        env = mlflow_env(python) | {"MLFLOW_TRACKING_URI": server.url}
        done = subprocess.run(
            [python, str(script), json.dumps(spec)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
        )
    if done.returncode != 0:
        raise SystemExit(f"the MLflow client failed:\n{done.stdout[-2000:]}{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- load -------------------------------------------------------------------------------


def load_worker(spec: dict[str, Any]) -> None:
    """One load process: ``spec["threads"]`` clients, each with its own Client and run."""
    import shipyard

    n, batch = spec["threads"], spec["batch"]
    ready = threading.Barrier(n + 1)
    results: list[dict[str, Any]] = [{} for _ in range(n)]

    def client_loop(k: int) -> None:
        errors: Counter[str] = Counter()
        writes: list[float] = []
        reads: dict[str, list[float]] = {"get_run": [], "search": []}
        acked = step = 0
        run_id = None
        client = None
        try:
            client = shipyard.Client()
            run_id = client.create_run(LOAD_PROJECT, f"load-{spec['proc']}-{k}").id
        except Exception as exc:  # counted and reported
            errors[f"setup: {type(exc).__name__}: {str(exc)[:200]}"] += 1
        ready.wait()
        time.sleep(max(0.0, spec["start_at"] - time.time()))
        deadline = time.perf_counter() + spec["start_at"] + spec["seconds"] - time.time()
        flt, order, limit = LOAD_READ_FILTER
        i = 0
        while client is not None and run_id is not None and time.perf_counter() < deadline:
            try:
                for _ in range(batch):
                    client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
                    step += 1
                t = time.perf_counter()
                client.flush()
                writes.append(time.perf_counter() - t)
                acked = step
                t = time.perf_counter()
                if i % 2 == 0:
                    client.get_run(run_id)
                    reads["get_run"].append(time.perf_counter() - t)
                else:
                    client.search_runs(LOAD_PROJECT, flt, order_by=order, limit=limit)
                    reads["search"].append(time.perf_counter() - t)
            except Exception as exc:  # counted and reported
                errors[f"{type(exc).__name__}: {str(exc)[:200]}"] += 1
            i += 1
        if client is not None and run_id is not None:
            try:
                client.end_run(run_id)
                acked = step  # end_run flushes everything logged
            except Exception as exc:  # counted and reported
                errors[f"end_run: {type(exc).__name__}: {str(exc)[:200]}"] += 1
            client.close()
        results[k] = {
            "batch": batch,
            "run_id": run_id,
            "acked": acked,
            "logged": step,
            "writes": writes,
            "reads": reads,
            "errors": dict(errors),
        }

    threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(n)]
    for th in threads:
        th.start()
    ready.wait()
    late = max(0.0, time.time() - spec["start_at"])  # > 0: the window started late here
    for th in threads:
        th.join()
    for r in results:
        r["late_s"] = late
    print(json.dumps(results))


def load_run(args: Any, work: Path) -> dict[str, Any]:
    import _common

    home = work / "load-home"
    home.mkdir()
    out: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        import psycopg

        try:
            stack.enter_context(_common._postgres_database(args.load_uri))
        except psycopg.OperationalError as exc:
            raise SystemExit(
                f"the load run needs PostgreSQL at {args.load_uri} (--load-uri), or --skip-load: "
                f"{exc}"
            ) from None
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
        env |= {
            "SHIPYARD_HOME": str(home),
            "SHIPYARD_URI": args.load_uri,
            "SHIPYARD_ARTIFACT_URI": str(home / "blobs"),
        }
        server = shipyard_server("shipyard-load", work, env, args.load_workers)
        stack.callback(server.stop)
        server.start()
        ready = server.wait_ready(args.startup_timeout)
        print(
            f"  load server on PostgreSQL ({args.load_uri}), --workers {args.load_workers}: "
            f"ready {ready:.1f} s after start, {server.url}",
            flush=True,
        )
        client_home = work / "load-client-home"
        client_home.mkdir()
        cenv = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
        cenv |= {"SHIPYARD_URI": server.url, "SHIPYARD_HOME": str(client_home)}
        procs = max(1, min(args.load_procs, args.load_clients))
        per = [args.load_clients // procs + (i < args.load_clients % procs) for i in range(procs)]
        start_at = time.time() + 8.0 + procs  # imports and clients ready by then
        workers, outputs = [], []
        for i, threads in enumerate(per):
            spec = {
                "proc": i,
                "threads": threads,
                "batch": args.load_batch,
                "seconds": args.load_seconds,
                "start_at": start_at,
            }
            argv = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--load-worker",
                json.dumps(spec),
            ]
            stdout, stderr = work / f"load-{i}.out", work / f"load-{i}.err"
            outputs.append((stdout, stderr))
            with open(stdout, "wb") as o, open(stderr, "wb") as e:
                workers.append(subprocess.Popen(argv, env=cenv, stdout=o, stderr=e))
        print(
            f"  {args.load_clients} clients in {procs} processes, {args.load_seconds:g} s, "
            f"{args.load_batch} points per write ...",
            flush=True,
        )
        time.sleep(max(0.0, start_at - time.time()))
        before = load_cpu(server, workers)
        time.sleep(max(0.0, start_at + args.load_seconds - time.time()))
        after = load_cpu(server, workers)
        out["cores"] = {k: (after[k] - before[k]) / args.load_seconds for k in before}
        clients: list[dict[str, Any]] = []
        for w, (stdout, stderr) in zip(workers, outputs, strict=True):
            w.wait(timeout=300)
            if w.returncode != 0:
                tail = stderr.read_text(errors="replace")[-4000:]
                raise SystemExit(f"a load process failed ({w.returncode}):\n{tail}")
            clients += json.loads(stdout.read_text().strip().splitlines()[-1])
        out["seconds"] = args.load_seconds
        out["clients"] = clients
        out["server_problems"] = server_problems(server)
        server.stop()
        out |= count_stored(args.load_uri, home, clients)
    return out


def load_cpu(server: Any, workers: list[subprocess.Popen]) -> dict[str, float]:
    """CPU seconds so far of the server's processes, the load processes and PostgreSQL."""
    import psutil

    def cpu(procs: list[psutil.Process]) -> float:
        total = 0.0
        for p in procs:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    clients = []
    for w in workers:
        with contextlib.suppress(psutil.Error):
            clients.append(psutil.Process(w.pid))
    postgres = [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]
    return {"server": server.cpu_seconds(), "clients": cpu(clients), "postgres": cpu(postgres)}


def count_stored(uri: str, home: Path, clients: list[dict[str, Any]]) -> dict[str, int]:
    """Lost (acknowledged, not stored) and duplicated points, read straight from the store."""
    import shipyard

    keys = ("SHIPYARD_URI", "SHIPYARD_HOME", "SHIPYARD_ARTIFACT_URI")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ |= {
        "SHIPYARD_URI": uri,
        "SHIPYARD_HOME": str(home),
        "SHIPYARD_ARTIFACT_URI": str(home / "blobs"),
    }
    lost = dup = stored = unacked_stored = 0
    try:
        client = shipyard.Client()
        for c in clients:
            if c["run_id"] is None:
                continue
            history = client.get_metric_history(c["run_id"], "loss")
            steps = {m.step for m in history}
            stored += len(history)
            dup += len(history) - len(steps)
            lost += sum(1 for s in range(c["acked"]) if s not in steps)
            unacked_stored += sum(1 for s in steps if s >= c["acked"])
        client.close()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return {"lost": lost, "duplicates": dup, "stored": stored, "unacked_stored": unacked_stored}


# -- results ----------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of ``values``, linear interpolation; nan if empty."""
    if not values:
        return float("nan")
    s = sorted(values)
    x = (len(s) - 1) * q / 100
    lo = int(x)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (x - lo)


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return ""
    r = a / b
    return f"{r:,.1f}x" if r < 100 else f"{r:,.0f}x"


def report_load(load: dict[str, Any]) -> tuple[list[str], bool]:
    import _common

    clients, seconds = load["clients"], load["seconds"]
    acked = sum(c["acked"] for c in clients)
    writes = [x for c in clients for x in c["writes"]]
    gets = [x for c in clients for x in c["reads"]["get_run"]]
    searches = [x for c in clients for x in c["reads"]["search"]]
    reads = gets + searches
    errors: Counter[str] = Counter()
    for c in clients:
        errors.update(c["errors"])
    n_err = sum(errors.values())

    def ms(v: list[float], q: float) -> str:
        return f"{pct(v, q) * 1e3:.1f} ms"

    print(f"\nLoad: {len(clients)} clients, {seconds:g} s, PostgreSQL")
    print(f"  points acknowledged: {acked:,} = {acked / seconds:,.0f} points/s")
    print(f"  writes (flush of a batch): {len(writes):,} = {len(writes) / seconds:,.0f}/s, "
          f"p50 {ms(writes, 50)}, p99 {ms(writes, 99)}")  # fmt: skip
    print(f"  reads: {len(reads):,} = {len(reads) / seconds:,.0f}/s, "
          f"p50 {ms(reads, 50)}, p99 {ms(reads, 99)}")  # fmt: skip
    print(f"    get_run: {len(gets):,}, p50 {ms(gets, 50)}, p99 {ms(gets, 99)}; search_runs: "
          f"{len(searches):,}, p50 {ms(searches, 50)}, p99 {ms(searches, 99)}")  # fmt: skip
    late = max(c.get("late_s", 0.0) for c in clients)
    if late > 0.1:
        print(f"  warning: some clients were ready only {late:.1f} s after the start")
    cores = load.get("cores", {})
    print(
        "  CPU during the window, in cores: " + ", ".join(f"{k} {v:.2f}" for k, v in cores.items())
    )
    print(f"  errors raised to clients: {n_err}")
    for message, count in errors.most_common(5):
        print(f"    {count} x {message}")
    print(f"  counted in the store afterwards: {load['stored']:,} points, lost {load['lost']:,}, "
          f"duplicates {load['duplicates']:,}, stored beyond the last acknowledgement "
          f"{load['unacked_stored']:,}; server log: {load['server_problems']} errors")  # fmt: skip
    ok_err, ok_lost = n_err == 0, load["lost"] == 0 and load["duplicates"] == 0
    MARKDOWN.extend(
        [
            f"| load, {len(clients)} clients, {seconds:g} s, PostgreSQL: points acknowledged "
            f"| {acked / seconds:,.0f} /s | | |",
            f"| load: writes (flush of {clients and clients[0]['batch']} points), p50 / p99 "
            f"| {len(writes) / seconds:,.0f} /s, {ms(writes, 50)} / {ms(writes, 99)} | | |",
            f"| load: reads (get_run, search_runs), p50 / p99 "
            f"| {len(reads) / seconds:,.0f} /s, {ms(reads, 50)} / {ms(reads, 99)} | | |",
            f"| load: errors, lost, duplicated points | {n_err} / {load['lost']} / "
            f"{load['duplicates']} | | |",
            "| load: CPU in cores (server, clients, PostgreSQL) | "
            + " / ".join(f"{v:.2f}" for v in cores.values())
            + " | | |",
        ]
    )
    lines = [
        _common.line("load: errors raised to clients", f"{n_err:,}", "= 0", ok_err),
        _common.line(
            "load: acknowledged points lost / duplicated",
            f"{load['lost']:,} / {load['duplicates']:,}",
            "= 0",
            ok_lost,
        ),
        f"info  load: throughput {acked / seconds:,.0f} points/s, {len(writes) / seconds:,.0f} "
        f"writes/s, {len(reads) / seconds:,.0f} reads/s; read p99 {ms(reads, 99)}, "
        f"write p99 {ms(writes, 99)}",
    ]
    return lines, ok_err and ok_lost and acked > 0


def report(sy: dict[str, Any], mf: dict[str, Any], args: Any, data: list) -> tuple[list, bool]:
    import _common

    lines, ok = [], True
    print("\n  measure                                     Shipyard        MLflow   SY/MF")

    def row(label: str, a: float | None, b: float | None, unit: str, better: str = "high") -> None:
        def f(v: float | None) -> str:
            if v is None:
                return "-"
            if unit == "ms" and v < 100:
                return f"{v:.2f} ms"
            return f"{v:,.0f} {unit}"

        r = ratio(a, b) if better == "high" else ratio(b, a)
        print(f"  {label:<40} {f(a):>12}  {f(b):>12}  {r:>6}")
        MARKDOWN.append(f"| {label.strip()} | {f(a)} | {f(b)} | {r} |")

    mf_single = mf_batch = mf_runs = None
    if mf:
        mf_single = args.mlflow_single / mf["single_s"]
        mf_batch = args.mlflow_batch_points / mf["batch_s"]
        mf_runs = args.mlflow_runs / mf["runs_s"]
        if mf["single_stored"] != args.mlflow_single or (
            mf["batch_stored"] != args.mlflow_batch_points
        ):
            print(f"  MLflow stored {mf['single_stored']} / {mf['batch_stored']} points")
            ok = False
    if sy:
        ok &= sy["log"]["ok"] and sy["runs"]["ok"]
    log = sy["log"]["rate"] if sy else None
    row("log_metric, one call at a time (points/s)", log, mf_single, "/s")
    row("log_metric (MLflow: log_batch of 1,000)", log, mf_batch, "/s")
    row(
        "runs created + ended, 10 params (runs/s)",
        sy["runs"]["rate"] if sy else None,
        mf_runs,
        "/s",
    )
    for key in QUERIES:
        for q, name in ((50, "median"), (95, "p95")):
            a = pct(sy[key]["times"], q) * 1e3 if sy else None
            b = pct(mf["search"][key]["times"], q) * 1e3 if mf else None
            flt = QUERIES[key][0]
            row(f"search {flt} ({name})", a, b, "ms", better="low")
        if sy:
            emb = pct(sy["embedded"][key], 50) * 1e3
            row(f"  {flt}, embedded store, no server (median)", emb, None, "ms", better="low")
    # server CPU (its process tree): hardly depends on what else runs on the machine
    row(
        "server CPU per 1,000 points (MLflow: 1 a call)",
        sy["log"]["cpu_per_point"] * 1e6 if sy else None,
        mf["single_cpu"] / args.mlflow_single * 1e6 if mf else None,
        "ms",
        better="low",
    )
    row(
        "server CPU per 1,000 points (MLflow: log_batch)",
        sy["log"]["cpu_per_point"] * 1e6 if sy else None,
        mf["batch_cpu"] / args.mlflow_batch_points * 1e6 if mf else None,
        "ms",
        better="low",
    )
    row(
        "server CPU per run created",
        sy["runs"]["cpu_per_run"] * 1e3 if sy else None,
        mf["runs_cpu"] / args.mlflow_runs * 1e3 if mf else None,
        "ms",
        better="low",
    )
    for key in QUERIES:
        row(
            f"server CPU per search {QUERIES[key][0]}",
            sy[key]["cpu"] * 1e3 if sy else None,
            mf["search"][key]["cpu"] * 1e3 if mf else None,
            "ms",
            better="low",
        )
    expect = {k: expected_names(data, k) for k in QUERIES}
    for tool, res in (("shipyard", sy), ("mlflow", mf.get("search") if mf else None)):
        if not res:
            continue
        for key in QUERIES:
            if res[key]["names"] != expect[key]:
                print(f"  {tool} search {QUERIES[key][0]}: other runs or order than expected")
                ok = False
    if sy:
        log, runs = sy["log"]["rate"], sy["runs"]["rate"]
        med = pct(sy["all"]["times"], 50) * 1e3
        p95 = pct(sy["all"]["times"], 95) * 1e3
        extra = f"; {ratio(log, mf_single)} MLflow one call at a time" if mf else ""
        lines.append(
            _common.line(
                "remote log_metric, fluent, until flushed",
                f"{log:,.0f} points/s",
                f">= {TARGET_POINTS:,}/s{extra}",
                log >= TARGET_POINTS and sy["log"]["ok"],
            )
        )
        extra = f"; {ratio(runs, mf_runs)} MLflow" if mf else ""
        lines.append(
            _common.line(
                "runs created + ended (fluent, 10 params)",
                f"{runs:,.0f} runs/s",
                f">= {TARGET_RUNS}/s{extra}",
                runs >= TARGET_RUNS and sy["runs"]["ok"],
            )
        )
        lines.append(
            _common.line(
                f"search {SEARCH_RUNS} runs by a metric: median",
                f"{med:.2f} ms (p95 {p95:.2f})",
                f"< {TARGET_SEARCH_MS:g} ms",
                med < TARGET_SEARCH_MS,
            )
        )
    return lines, ok


# -- main -------------------------------------------------------------------------------


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _common

    p = _common.parser(__doc__)
    p.set_defaults(repeat=3)
    p.add_argument("--workers", type=int, default=2, help="worker processes of both servers")
    p.add_argument("--sy-runs", type=int, default=500, help="Shipyard runs per trial")
    p.add_argument("--mlflow-runs", type=int, default=100)
    p.add_argument("--mlflow-single", type=int, default=300, help="MLflow log_metric calls")
    p.add_argument("--mlflow-batch-points", type=int, default=20_000)
    p.add_argument("--search-queries", type=int, default=50, help="timed queries per search")
    p.add_argument("--load-seconds", type=float, default=60.0)
    p.add_argument("--load-clients", type=int, default=32)
    p.add_argument("--load-procs", type=int, default=4, help="processes the clients run in")
    p.add_argument("--load-batch", type=int, default=100, help="points per write")
    p.add_argument("--load-workers", type=int, default=2, help="workers of the load server")
    p.add_argument(
        "--load-uri",
        default="postgresql://postgres@127.0.0.1:5432/shipyard_bench_server_load",
        help="PostgreSQL database for the load run, created and dropped (default %(default)s)",
    )
    p.add_argument(
        "--mlflow-venv",
        type=Path,
        default=Path("/tmp/mlflow-bench-venv"),
        help="venv for MLflow, created and installed if needed, kept (default %(default)s)",
    )
    p.add_argument("--skip-mlflow", action="store_true")
    p.add_argument("--skip-shipyard", action="store_true", help="no Shipyard side-by-side part")
    p.add_argument("--skip-load", action="store_true")
    p.add_argument("--load-only", action="store_true")
    p.add_argument("--startup-timeout", type=float, default=180.0, help="seconds per server")
    p.add_argument("--dir", help="parent folder of the temp folders (default: the system's)")
    p.add_argument("--load-worker", help=argparse_hidden())
    args = p.parse_args()
    if args.load_worker:
        load_worker(json.loads(args.load_worker))
        return
    if args.load_only:
        args.skip_mlflow = args.skip_shipyard = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    _common.header("bench_server: shipyard server vs mlflow server", args.uri)
    print(
        f"  shipyard at {_common.source_label()}; "
        f"{_common.versions(sys.executable, 'shipyard', 'fastapi', 'uvicorn', 'httpx')}; "
        f"Python {sys.version.split()[0]}; servers --workers {args.workers}, 127.0.0.1"
    )
    data = search_data()
    sy: dict[str, Any] = {}
    mf: dict[str, Any] = {}
    load: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        work = Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-server-", dir=args.dir))
        )
        servers: list[Any] = []
        stack.callback(lambda: [s.stop() for s in servers])
        python = None
        if not args.skip_mlflow:
            python = mlflow_python(args.mlflow_venv.resolve())
            print(f"  mlflow venv: {_common.versions(python, 'mlflow', 'sqlalchemy', 'uvicorn')}")
            mwork = work / "mlflow"
            mwork.mkdir()
            servers.append(mlflow_server(python, mwork, args.workers))
        if not args.skip_shipyard:
            stack.enter_context(_common.bench_store(args.uri, args.dir))
            servers.append(shipyard_server("shipyard", work, dict(os.environ), args.workers))
        for s in servers:
            s.start()
        for s in servers:
            print(f"  {s.name}: ready {s.wait_ready(args.startup_timeout):.1f} s after start, "
                  f"{s.url}", flush=True)  # fmt: skip
        named = {s.name: s for s in servers}
        if "shipyard" in named:
            client_home = work / "client-home"
            client_home.mkdir()
            with client_env(named["shipyard"].url, client_home):
                print(f"  shipyard: SHIPYARD_URI={named['shipyard'].url} (this process)")
                server = named["shipyard"]
                sy["log"] = sy_log_metric(args.repeat, server)
                sy["runs"] = sy_runs(args.sy_runs, args.repeat, server)
                sy |= sy_search(data, args.search_queries, server)
                print(f"  shipyard: {SEARCH_RUNS} search runs created in {sy['setup_s']:.1f} s")
            sy["embedded"] = embedded_search(args.search_queries)  # on the server's store
            sy["server_problems"] = server_problems(named["shipyard"])
        if python is not None:
            print("  mlflow client: log_metric, log_batch, runs, search ...", flush=True)
            mf = run_mlflow(named["mlflow"], python, args, data)
            print(
                f"  mlflow {mf['mlflow']}: {SEARCH_RUNS} search runs created in "
                f"{mf['search_setup_s']:.1f} s"
            )
            server_problems(named["mlflow"])
        for s in servers:
            s.stop()
        if not args.skip_load:
            load = load_run(args, work)

    lines, ok = report(sy, mf, args, data) if (sy or mf) else ([], True)
    if load:
        more, load_ok = report_load(load)
        lines += more
        ok &= load_ok
    load_avg = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n  load average at the end (1, 5, 15 min): {load_avg} on {os.cpu_count()} CPUs")
    print("\n".join(lines))
    if len(MARKDOWN) > 2:
        print("\nMarkdown:\n")
        print("\n".join(MARKDOWN))
    if not ok:
        print("FAILED: a correctness check failed (see above)")
        sys.exit(1)


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
