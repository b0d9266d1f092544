"""Model serving: ``shipyard serve`` against ``mlflow models serve``, same model, same load.

Model. Seeded synthetic classification (``make_classification``, 10,000 rows, 20 float
columns ``f00..f19``), a ``Pipeline(StandardScaler, LogisticRegression)`` fitted once.
Shipyard: ``shipyard.register_model("bench_lr", model, input_example=X.head())`` and the
alias ``production`` in a throwaway SHIPYARD_HOME, served as ``bench_lr@production``.
MLflow: the same fitted object, pickled, loaded in MLflow's venv and written with
``mlflow.sklearn.save_model(model, path, input_example=X.head())``, served with
``mlflow models serve -m PATH --env-manager local``. MLflow is ``pip install``ed into a
throwaway venv (``--mlflow-venv``, kept and reused; ``mlflow~=3.17.0`` and the
scikit-learn version of this interpreter, so both servers unpickle the same model).

Servers. Each server runs in its own session on 127.0.0.1 and a free port, with
``--workers N`` for each N of ``--workers`` (default ``1,2``: both servers at one worker,
then both at two; MLflow's default is one uvicorn worker); the script waits for
``/ready`` (Shipyard) or ``/health`` (MLflow), checks that both return the predictions of
the local model for the single row and for the batch, and kills every process group it
started when a worker count is done (also on errors and Ctrl-C). Shipyard runs twice: with
its default prediction log, and with ``--no-log``.

Load. ``wrk`` (``apt-get install wrk``) on loopback, ``--connections 8`` (8 concurrent
clients, keep-alive, each sends its next request when the previous answer arrives) on
``--threads 2``, a POST body read by a Lua script, ``--latency`` for the percentiles,
``--timeout 10s`` (a slower answer would be dropped from wrk's latency statistics). Each
measure is ``--warmup`` s of load (discarded), then ``--duration`` s measured. Bodies:

* single row, ``/invocations`` (MLflow-compatible): ``{"dataframe_split": {"columns": [...],
  "data": [[one row]]}}``; Shipyard with the log on, Shipyard ``--no-log``, MLflow.
* single row, Shipyard's native ``/predict``: ``{"records": [{one row}]}`` (log on).

The four measures run in rounds, ``--repeat`` rounds, the order rotated every round;
figures are the median over the rounds (req/s, p50, p99 each). The server's CPU time
(its process tree) per request is reported too: it does not depend on how much CPU wrk
takes on a 2-core machine. Then a 1,000-row batch: one httpx client sends
``--batch-requests`` sequential requests (after 20 warm-up requests) with the
pre-serialized body (``dataframe_split`` on ``/invocations``; ``{"columns": {...}}`` on
``/predict``) and times each until the whole answer is read: p50, p99.

The request path in process: before any server starts, the script builds the server's app
in this process (log on) and times, in CPU time of this thread, requests through its ASGI
interface without HTTP (1 row and 1,000 rows on ``/invocations`` and ``/predict``), and the
model's predict inside each request (the server's call of the model, wrapped and timed)
and the model's own ``predict`` alone in a tight loop on the same rows,
``--inprocess-rounds`` interleaved rounds, medians: what the request costs outside the
model is the request minus the predict inside it.

Targets (issue 13): single-row p99 < 10 ms at 8 clients with ``--workers 2``; req/s >= 20x
MLflow's for the same model at the same worker count; 1,000-row batch p99 < 15 ms; the
request path outside the model's predict < 150 us (1 row, in process); prediction log on
costs < 10 % of req/s (1 - on / off, medians). ``--py-spy OUT.svg`` (``.json``:
speedscope, ``.txt``: collapsed stacks) profiles the Shipyard server (log on) during one more
single-row run per worker count (not counted; ``OUT-w2.svg``...). At the end the exceptions
and ERROR lines of each server's log are counted. ``--skip-mlflow`` measures Shipyard only,
``--skip-shipyard`` MLflow only.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import pickle
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SEED = 20251123
N_ROWS = 10_000
N_FEATURES = 20
COLUMNS = [f"f{i:02d}" for i in range(N_FEATURES)]
MODEL = "bench_lr"
ALIAS = "production"
MLFLOW_SPEC = "mlflow~=3.17.0"
MLFLOW_FALLBACK = "mlflow>=3,<4"
BATCH_WARMUP = 20
RATIO_TARGET = 20  # req/s, times MLflow's at the same --workers
P99_TARGET_MS = 10  # single row, 8 clients, --workers 2
BATCH_P99_TARGET_MS = 15
OVERHEAD_TARGET_US = 150  # CPU of the request path outside the model's predict, 1 row
WRK_INSTALL = "apt-get update && apt-get install -y wrk  (Debian/Ubuntu; or build wg/wrk)"

WRK_LUA = """\
-- POST the file named by BENCH_BODY on every request
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
"""

MLFLOW_SAVE = """\
import json, pickle, sys
import pandas as pd
import mlflow.sklearn

a = json.loads(sys.argv[1])
with open(a["pickle"], "rb") as f:
    model = pickle.load(f)
example = pd.DataFrame(a["example"]["data"], columns=a["example"]["columns"])
mlflow.sklearn.save_model(model, a["path"], input_example=example)
print("saved", a["path"])
"""


# -- servers ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """One server process group on 127.0.0.1; ``ready_path`` answers 200 once it serves."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    port: int
    ready_path: str
    proc: subprocess.Popen | None = None
    log: Path | None = None
    started: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log = self.cwd / f"{self.name}.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.started = time.perf_counter()

    def log_tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log and self.log.exists() else ""

    def wait_ready(self, timeout: float) -> float:
        """Seconds from start until ``ready_path`` returns 200."""
        import httpx

        assert self.proc is not None
        deadline = self.started + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.perf_counter() < deadline:
                if self.proc.poll() is not None:
                    raise SystemExit(
                        f"{self.name} exited with code {self.proc.returncode} before it was "
                        f"ready:\n$ {' '.join(self.argv)}\n{self.log_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.url + self.ready_path).status_code == 200:
                        return time.perf_counter() - self.started
                time.sleep(0.2)
        raise SystemExit(
            f"{self.name} not ready after {timeout:.0f} s:\n$ {' '.join(self.argv)}\n"
            f"{self.log_tail()}"
        )

    def stop(self) -> None:
        if self.proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(wait)
                # the group may outlive its leader (uvicorn's worker): make sure it is gone
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                break
            except subprocess.TimeoutExpired:
                continue
        self.proc = None

    def cpu_seconds(self) -> float:
        """User + system CPU of the server's process tree so far (live processes)."""
        import psutil

        if self.proc is None:
            return 0.0
        try:
            root = psutil.Process(self.proc.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0.0
        total = 0.0
        for p in procs:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total


# -- load -------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not m:
        raise ValueError(f"unparsable wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


@dataclass
class WrkResult:
    rps: float
    p50: float  # ms
    p99: float
    requests: int
    errors: int  # non-2xx answers + socket errors
    cpu_ms: float | None = None  # server CPU per request
    wrk_cores: float | None = None  # CPU wrk itself used, in cores

    @classmethod
    def parse(cls, out: str) -> WrkResult:
        def grab(pattern: str) -> str:
            m = re.search(pattern, out, re.MULTILINE)
            if not m:
                raise ValueError(f"wrk output without {pattern!r}:\n{out}")
            return m.group(1)

        errors = 0
        m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if m:
            errors += int(m.group(1))
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        if m:
            errors += sum(int(x) for x in m.groups())
        return cls(
            rps=float(grab(r"^Requests/sec:\s+([\d.]+)")),
            p50=_ms(grab(r"^\s+50%\s+(\S+)")),
            p99=_ms(grab(r"^\s+99%\s+(\S+)")),
            requests=int(grab(r"^\s+(\d+) requests in")),
            errors=errors,
        )


@dataclass
class Load:
    """wrk with a fixed body file; see the module docstring."""

    lua: Path
    connections: int
    threads: int
    duration: float
    warmup: float

    def wrk(self, url: str, body: Path, seconds: float) -> str:
        argv = [
            "wrk",
            f"--connections={self.connections}",
            f"--threads={self.threads}",
            f"--duration={max(1, round(seconds))}s",
            "--timeout=10s",
            "--latency",
            f"--script={self.lua}",
            url,
        ]
        env = {**os.environ, "BENCH_BODY": str(body)}
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 60)
        if done.returncode != 0:
            raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return done.stdout

    def run(self, server: Server, path: str, body: Path) -> WrkResult:
        url = server.url + path
        if self.warmup > 0:
            self.wrk(url, body, self.warmup)
        cpu, own = server.cpu_seconds(), children_cpu()
        result = WrkResult.parse(self.wrk(url, body, self.duration))
        result.wrk_cores = (children_cpu() - own) / self.duration
        if result.requests:
            result.cpu_ms = (server.cpu_seconds() - cpu) * 1e3 / result.requests
        return result


def children_cpu() -> float:
    """User + system CPU of this process's finished children (here: the wrk runs)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def log_problems(text: str) -> collections.Counter[str]:
    """Exception lines (the last line of each traceback) and ERROR lines of a server log."""
    found: collections.Counter[str] = collections.Counter()
    in_traceback = False
    for line in text.splitlines():
        if line.startswith("Traceback"):
            in_traceback = True
        elif in_traceback and line and not line[0].isspace():
            if not line.startswith(("During handling", "The above exception")):
                found[line.strip()] += 1
                in_traceback = False
        elif re.match(r"(ERROR|CRITICAL)\b", line) and "Exception in ASGI application" not in line:
            found[line.strip()] += 1
    return found


def post_json(url: str, body: bytes) -> Any:
    import httpx

    r = httpx.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=60.0)
    if r.status_code != 200:
        raise SystemExit(f"POST {url}: HTTP {r.status_code}\n{r.text[:2000]}")
    return r.json()


def check_predictions(url: str, body: bytes, expected: Any) -> None:
    import numpy as np

    answer = post_json(url, body)
    got = np.asarray(answer.get("predictions") if isinstance(answer, dict) else None)
    if got.shape != expected.shape or not np.array_equal(got, expected):
        raise SystemExit(
            f"{url} answered other predictions than the local model: "
            f"{json.dumps(answer)[:500]} (expected {expected[:10].tolist()}...)"
        )


def batch_latency(url: str, body: bytes, n: int) -> dict[str, float]:
    """``n`` sequential POSTs on one keep-alive client, after BATCH_WARMUP ones: ms."""
    import httpx
    import numpy as np

    headers = {"Content-Type": "application/json"}
    times = []
    with httpx.Client(timeout=60.0) as client:
        for i in range(BATCH_WARMUP + n):
            t = time.perf_counter_ns()
            r = client.post(url, content=body, headers=headers)
            elapsed = time.perf_counter_ns() - t
            if r.status_code != 200:
                raise SystemExit(f"POST {url}: HTTP {r.status_code}\n{r.text[:2000]}")
            if i >= BATCH_WARMUP:
                times.append(elapsed)
    ms = np.asarray(times, dtype=np.float64) / 1e6
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99))}


# -- the model and the two servers ------------------------------------------------------


def make_model() -> tuple[Any, Any]:
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = make_classification(
        n_samples=N_ROWS, n_features=N_FEATURES, n_informative=10, random_state=SEED
    )
    df = pd.DataFrame(x, columns=COLUMNS)
    model = Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression(max_iter=1000))])
    model.fit(df, y)
    return model, df


def bodies(df: Any, batch_rows: int) -> dict[str, bytes]:
    one, batch = df.iloc[:1], df.iloc[1 : 1 + batch_rows]

    def split(part: Any) -> bytes:
        data = {"columns": list(part.columns), "data": part.to_numpy().tolist()}
        return json.dumps({"dataframe_split": data}).encode()

    return {
        "split_1": split(one),
        "records_1": json.dumps({"records": one.to_dict("records")}).encode(),
        "split_batch": split(batch),
        "columns_batch": json.dumps({"columns": batch.to_dict("list")}).encode(),
    }


def shipyard_argv() -> list[str]:
    script = Path(sys.executable).with_name("shipyard")
    return [str(script)] if script.exists() else [sys.executable, "-m", "shipyard.cli"]


def shipyard_server(name: str, ref: str, workers: int, work: Path, *extra: str) -> Server:
    port = free_port()
    argv = [*shipyard_argv(), "serve", ref, "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--workers", str(workers), *extra]
    return Server(name, argv, dict(os.environ), work, port, "/ready")


def mlflow_server(python: str, model_path: Path, workers: int, work: Path) -> Server:
    port = free_port()
    argv = [str(Path(python).with_name("mlflow")), "models", "serve", "-m", str(model_path)]
    argv += ["--env-manager", "local", "--host", "127.0.0.1", "-p", str(port)]
    argv += ["--workers", str(workers)]
    return Server("mlflow", argv, mlflow_env(python, work), work, port, "/health")


def register_shipyard(model: Any, df: Any) -> int:
    import shipyard

    v = shipyard.register_model(MODEL, model, input_example=df.head())
    shipyard.set_model_alias(MODEL, ALIAS, v.version)
    return v.version


def mlflow_python(venv: Path, sklearn_version: str) -> str:
    """MLflow 3.17.x (else the newest 3.x) with this interpreter's scikit-learn."""
    import _common  # on sys.path once main() runs

    sk = f"scikit-learn=={sklearn_version}"
    probe = (
        "import mlflow, sklearn; "
        f"assert sklearn.__version__ == {sklearn_version!r}; "
        "assert mlflow.__version__.startswith({v!r})"
    )
    try:
        return _common.peer_python(venv, probe.format(v="3.17."), [MLFLOW_SPEC, sk])
    except SystemExit as exc:
        print(f"  {MLFLOW_SPEC} not installable ({str(exc)[-300:]}); trying {MLFLOW_FALLBACK}")
        return _common.peer_python(venv, probe.format(v="3."), [MLFLOW_FALLBACK, sk])


def save_mlflow_model(python: str, model: Any, df: Any, work: Path) -> Path:
    pkl, script, path = work / "model.pkl", work / "mlflow_save.py", work / "mlflow_model"
    pkl.write_bytes(pickle.dumps(model, protocol=5))
    script.write_text(MLFLOW_SAVE)
    example = df.head()
    arg = {
        "pickle": str(pkl),
        "path": str(path),
        "example": {"columns": list(example.columns), "data": example.to_numpy().tolist()},
    }
    done = subprocess.run(
        [python, str(script), json.dumps(arg)],
        cwd=work,
        env=mlflow_env(python, work),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise SystemExit(f"mlflow save_model failed:\n{done.stdout}{done.stderr[-3000:]}")
    return path


def mlflow_env(python: str, work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    # `mlflow models serve` runs `bash -c "exec uvicorn ..."`: its venv's uvicorn first
    env["PATH"] = f"{Path(python).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = (work / "mlruns").as_uri()
    env.pop("VIRTUAL_ENV", None)
    return env


# -- results ----------------------------------------------------------------------------


@dataclass
class Row:
    metric: str
    unit: str  # req/s, ms, %, n
    shipyard: float | None
    mlflow: float | None = None
    target: float | None = None  # absolute; for req/s: a multiple of MLflow's figure
    higher_is_better: bool = False
    skipped: bool = False  # no verdict (the peer was not measured)

    def target_text(self) -> str:
        if self.target is None:
            return ""
        if self.unit == "req/s":
            return f">= {self.target:g}x MLflow"
        if self.unit == "n":
            return f"= {self.target:g}"
        return ("> " if self.higher_is_better else "< ") + f"{self.target:g} {self.unit}"

    def ok(self) -> bool | None:
        if self.target is None or self.skipped:
            return None
        if self.shipyard is None:
            return False
        if self.unit == "req/s":
            if self.mlflow is None:
                return None
            return self.shipyard >= self.target * self.mlflow
        if self.unit == "n":
            return self.shipyard <= self.target
        return self.shipyard > self.target if self.higher_is_better else self.shipyard < self.target

    def ratio(self) -> str:
        if self.mlflow is None or not self.shipyard or self.unit in ("n", "%"):
            return ""
        r = self.shipyard / self.mlflow if self.higher_is_better else self.mlflow / self.shipyard
        return f"{r:.1f}x" if r < 100 else f"{r:,.0f}x"

    def fmt(self, v: float | None) -> str:
        if v is None:
            return "-"
        if self.unit == "ms":
            return f"{v:.2f} ms" if v < 100 else f"{v:,.0f} ms"
        if self.unit == "req/s":
            return f"{v:,.0f}/s"
        if self.unit == "%":
            return f"{v:.1f} %"
        return f"{v:,.0f}"

    def cells(self) -> list[str]:
        ok = self.ok()
        return [
            "-" if ok is None else ("PASS" if ok else "MISS"),
            self.metric,
            self.fmt(self.shipyard),
            self.fmt(self.mlflow),
            self.ratio(),
            self.target_text(),
        ]


HEAD = ["", "metric", "shipyard", "mlflow", "SY vs MF", "target"]


def table(rows: list[Row]) -> str:
    cells = [HEAD, *(r.cells() for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEAD))]
    right = {2, 3, 4}
    lines = []
    for c in cells:
        parts = [c[i].rjust(widths[i]) if i in right else c[i].ljust(widths[i]) for i in range(6)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def markdown(rows: list[Row]) -> str:
    head = ["metric", "Shipyard", "MLflow", "SY vs MF", "target", "status"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    parent = ""
    for r in rows:
        status, metric, sy, mf, ratio, target = r.cells()
        if metric.startswith("  "):  # a sub-row: name it after its parent
            metric = f"{parent}, {metric.strip()}"
        else:
            parent = metric.split(":")[0]
        cells = [metric, sy, mf, ratio, target, "" if status == "-" else status]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass
class Measures:
    """Every wrk result per (server, path), in the order measured."""

    runs: dict[str, list[WrkResult]] = field(default_factory=dict)

    def add(self, key: str, r: WrkResult) -> None:
        self.runs.setdefault(key, []).append(r)

    def median(self, key: str, attr: str) -> float | None:
        import statistics

        values = [getattr(r, attr) for r in self.runs.get(key, []) if getattr(r, attr) is not None]
        return statistics.median(values) if values else None

    def errors(self, prefix: str) -> int:
        return sum(r.errors for k, rs in self.runs.items() if k.startswith(prefix) for r in rs)


# -- main -------------------------------------------------------------------------------


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _common

    p = _common.parser(__doc__)
    p.set_defaults(repeat=3)
    p.add_argument("--duration", type=float, default=10.0, help="seconds of each measured run")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each run")
    p.add_argument("--connections", type=int, default=8, help="concurrent clients (wrk -c)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument(
        "--workers",
        type=worker_counts,
        default=[1, 2],
        help="--workers of both servers, one measure per count: 1,2 (default) or 2",
    )
    p.add_argument("--batch-rows", type=int, default=1000)
    p.add_argument("--batch-requests", type=int, default=200)
    p.add_argument(
        "--inprocess-rounds",
        type=int,
        default=10,
        help="rounds of the in-process measure of the request path (0: skip it)",
    )
    p.add_argument(
        "--mlflow-venv",
        type=Path,
        default=Path("/tmp/mlflow-bench-venv"),
        help="venv for MLflow, created and installed if needed, kept (default %(default)s)",
    )
    p.add_argument("--skip-mlflow", action="store_true", help="measure Shipyard only")
    p.add_argument("--skip-shipyard", action="store_true", help="measure MLflow only")
    p.add_argument("--startup-timeout", type=float, default=180.0, help="seconds per server")
    p.add_argument(
        "--py-spy",
        type=Path,
        help="profile the Shipyard server into this file: .svg (flame graph), .json "
        "(speedscope) or .txt (collapsed stacks)",
    )
    p.add_argument("--dir", help="parent folder of the temp folder (default: the system's)")
    args = p.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit(f"wrk not found on PATH; install it: {WRK_INSTALL}")
    if args.py_spy and shutil.which("py-spy") is None:
        raise SystemExit("--py-spy: py-spy not found on PATH (pip install py-spy)")
    # a SIGTERM must run the finally blocks that stop the servers
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    import sklearn

    _common.header("bench_serving: shipyard serve vs mlflow models serve", args.uri)
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()
    print(
        f"  shipyard at {_common.source_label()}; "
        f"{_common.versions(sys.executable, 'shipyard', 'scikit-learn', 'fastapi', 'uvicorn')}"
        f"; Python {sys.version.split()[0]}; wrk {wrk_version[1] if len(wrk_version) > 1 else '?'}"
    )
    print(
        f"  load: wrk {args.connections} connections, {args.threads} threads, "
        f"{args.warmup:g} s warm-up + {args.duration:g} s, {args.repeat} rounds (median); "
        f"servers: --workers {', '.join(map(str, args.workers))} (one after the other), "
        "127.0.0.1"
    )

    results: list[tuple[int, Measures, dict[str, dict[str, float]]]] = []
    inprocess: dict[str, float] = {}
    mlflow_version = ""
    with contextlib.ExitStack() as stack:
        work = Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-serving-", dir=args.dir))
        )
        stack.enter_context(_common.bench_store(args.uri, args.dir))

        model, df = make_model()
        body = bodies(df, args.batch_rows)
        files = {}
        for key, data in body.items():
            files[key] = work / f"{key}.json"
            files[key].write_bytes(data)
        lua = work / "post.lua"
        lua.write_text(WRK_LUA)
        expected = {
            "1": model.predict(df.iloc[:1]),
            "batch": model.predict(df.iloc[1 : 1 + args.batch_rows]),
        }
        load = Load(lua, args.connections, args.threads, args.duration, args.warmup)

        ref = mlflow_path = python = None
        if not args.skip_shipyard:
            version = register_shipyard(model, df)
            ref = f"{MODEL}@{ALIAS}"
            print(f"  shipyard: registered {MODEL} version {version}, alias {ALIAS}")
            if args.inprocess_rounds > 0:
                inprocess = request_path_cpu(ref, body, args.inprocess_rounds)
        if not args.skip_mlflow:
            python = mlflow_python(args.mlflow_venv.resolve(), sklearn.__version__)
            mlflow_version = _common.versions(
                python, "mlflow", "scikit-learn", "pandas", "fastapi", "uvicorn"
            )
            print(f"  mlflow venv: {mlflow_version}")
            t = time.perf_counter()
            mlflow_path = save_mlflow_model(python, model, df, work)
            print(f"  mlflow: save_model in {time.perf_counter() - t:.1f} s")

        for workers in args.workers:
            servers: list[Server] = []
            with contextlib.ExitStack() as running:
                running.callback(stop_all, servers)
                if ref is not None:
                    servers.append(shipyard_server("shipyard", ref, workers, work))
                    servers.append(
                        shipyard_server("shipyard-nolog", ref, workers, work, "--no-log")
                    )
                if python is not None and mlflow_path is not None:
                    servers.append(mlflow_server(python, mlflow_path, workers, work))
                measures, batch = measure(args, workers, servers, body, files, expected, load)
                results.append((workers, measures, batch))

    for workers, measures, batch in results:
        report(args, workers, measures, batch, mlflow_version, args.skip_mlflow, args.skip_shipyard)
    if inprocess:
        report_inprocess(inprocess)


def stop_all(servers: list[Server]) -> None:
    for server in servers:
        server.stop()


def worker_counts(text: str) -> list[int]:
    counts = [int(x) for x in text.split(",") if x.strip()]
    if not counts or min(counts) < 1:
        raise ValueError(f"--workers takes counts >= 1 like 1,2; got {text!r}")
    return counts


def measure(
    args: Any,
    workers: int,
    servers: list[Server],
    body: dict[str, bytes],
    files: dict[str, Path],
    expected: dict[str, Any],
    load: Load,
) -> tuple[Measures, dict[str, dict[str, float]]]:
    """Start ``servers`` with ``workers`` each, run the single-row rounds and the batch."""
    measures = Measures()
    batch: dict[str, dict[str, float]] = {}
    print(f"--workers {workers}:")
    for server in servers:
        server.start()
    for server in servers:
        ready = server.wait_ready(args.startup_timeout)
        print(f"  {server.name}: ready {ready:.1f} s after start, {server.url}")
        check_predictions(server.url + "/invocations", body["split_1"], expected["1"])
        check_predictions(server.url + "/invocations", body["split_batch"], expected["batch"])
        if server.name.startswith("shipyard"):
            check_predictions(server.url + "/predict", body["records_1"], expected["1"])
            check_predictions(server.url + "/predict", body["columns_batch"], expected["batch"])
    print("  every server returns the local model's predictions (1 row and the batch)")
    named = {s.name: s for s in servers}
    sy, sy_nolog, mf = (named.get(n) for n in ("shipyard", "shipyard-nolog", "mlflow"))

    plan: list[tuple[str, Server, str, str]] = []
    if sy and sy_nolog:
        plan += [
            ("sy_inv", sy, "/invocations", "split_1"),
            ("sy_nolog_inv", sy_nolog, "/invocations", "split_1"),
            ("sy_predict", sy, "/predict", "records_1"),
        ]
    if mf:
        plan.insert(1, ("mf_inv", mf, "/invocations", "split_1"))
    print("  Single row, wrk:")
    for rnd in range(args.repeat):
        k = rnd % len(plan)
        for key, server, path, b in plan[k:] + plan[:k]:
            r = load.run(server, path, files[b])
            measures.add(key, r)
            print(
                f"  round {rnd + 1} {server.name:<15} {path:<12} {r.rps:>9,.0f} req/s  "
                f"p50 {r.p50:7.2f} ms  p99 {r.p99:7.2f} ms  "
                f"server CPU {r.cpu_ms or 0:.2f} ms/req  wrk {r.wrk_cores or 0:.2f} cores  "
                f"errors {r.errors}  load {os.getloadavg()[0]:.1f}",
                flush=True,
            )

    print(f"  Batch of {args.batch_rows:,} rows, {args.batch_requests} sequential requests:")
    cases: list[tuple[str, Server | None, str, str]] = [
        ("sy_inv", sy, "/invocations", "split_batch"),
        ("sy_predict", sy, "/predict", "columns_batch"),
        ("mf_inv", mf, "/invocations", "split_batch"),
    ]
    for key, target, path, b in cases:
        if target is None:
            continue
        batch[key] = batch_latency(target.url + path, body[b], args.batch_requests)
        print(
            f"  {target.name:<15} {path:<12} p50 {batch[key]['p50']:7.2f} ms  "
            f"p99 {batch[key]['p99']:7.2f} ms",
            flush=True,
        )

    if args.py_spy and sy:
        out = args.py_spy.with_name(f"{args.py_spy.stem}-w{workers}{args.py_spy.suffix}")
        profile(sy, load, files["split_1"], out)

    for server in servers:
        problems = log_problems(server.log_tail(1_000_000))
        if problems:
            print(f"  {server.name} log: {sum(problems.values())} errors or exceptions:")
            for message, count in problems.most_common(5):
                why = " (wrk closes its connections mid-request when a run ends)"
                print(f"    {count} x {message[:300]}" + (why if "Disconnect" in message else ""))
    return measures, batch


def profile(server: Server, load: Load, body: Path, out: Path, path: str = "/invocations") -> None:
    """py-spy record of ``server`` (and its children) during one more run of ``load``."""
    assert server.proc is not None
    seconds = max(1, round(load.duration))
    spy = subprocess.Popen(
        [
            "py-spy",
            "record",
            "--subprocesses",
            "--nonblocking",
            "--pid",
            str(server.proc.pid),
            "--duration",
            str(seconds),
            "--rate",
            "200",
            "--format",
            {".json": "speedscope", ".txt": "raw"}.get(out.suffix, "flamegraph"),
            "--output",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(0.5)
        r = WrkResult.parse(load.wrk(server.url + path, body, seconds))
        spy_out, _ = spy.communicate(timeout=60)
    finally:
        if spy.poll() is None:
            spy.kill()
            spy.wait()
    print(f"  py-spy ({r.rps:,.0f} req/s under the profiler): {out}\n{spy_out.strip()[-500:]}")


def report(
    args: Any,
    workers: int,
    m: Measures,
    batch: dict[str, dict[str, float]],
    mlflow_version: str,
    skipped_mlflow: bool,
    skipped_shipyard: bool,
) -> None:
    def b(key: str, p: str) -> float | None:
        return batch.get(key, {}).get(p)

    on, off = m.median("sy_inv", "rps"), m.median("sy_nolog_inv", "rps")
    cost = (1 - on / off) * 100 if on and off else None
    cpu_on, cpu_off = m.median("sy_inv", "cpu_ms"), m.median("sy_nolog_inv", "cpu_ms")
    cpu_cost = (cpu_on / cpu_off - 1) * 100 if cpu_on and cpu_off else None
    sy_errors = m.errors("sy")
    p99 = P99_TARGET_MS if workers >= 2 else None  # the target is at --workers 2
    rows = [
        Row(
            f"1 row, /invocations, {args.connections} clients: req/s",
            "req/s",
            m.median("sy_inv", "rps"),
            m.median("mf_inv", "rps"),
            target=RATIO_TARGET,
            higher_is_better=True,
            skipped=skipped_mlflow,
        ),
        Row("  p50", "ms", m.median("sy_inv", "p50"), m.median("mf_inv", "p50")),
        Row("  p99", "ms", m.median("sy_inv", "p99"), m.median("mf_inv", "p99"), target=p99),
        Row(
            "  server CPU per request",
            "ms",
            m.median("sy_inv", "cpu_ms"),
            m.median("mf_inv", "cpu_ms"),
        ),
        Row(
            f"1 row, /predict (records), {args.connections} clients: req/s",
            "req/s",
            m.median("sy_predict", "rps"),
            higher_is_better=True,
        ),
        Row("  p50", "ms", m.median("sy_predict", "p50")),
        Row("  p99", "ms", m.median("sy_predict", "p99"), target=p99),
        Row(
            f"{args.batch_rows:,} rows, /invocations (dataframe_split): p50",
            "ms",
            b("sy_inv", "p50"),
            b("mf_inv", "p50"),
        ),
        Row("  p99", "ms", b("sy_inv", "p99"), b("mf_inv", "p99"), target=BATCH_P99_TARGET_MS),
        Row(f"{args.batch_rows:,} rows, /predict (columns): p50", "ms", b("sy_predict", "p50")),
        Row("  p99", "ms", b("sy_predict", "p99"), target=BATCH_P99_TARGET_MS),
        Row("1 row, /invocations, --no-log: req/s", "req/s", off, higher_is_better=True),
        Row("  p50", "ms", m.median("sy_nolog_inv", "p50")),
        Row("  p99", "ms", m.median("sy_nolog_inv", "p99")),
        Row("prediction log cost (1 - req/s on / off)", "%", cost, target=10),
        Row("prediction log cost in server CPU per request (on / off - 1)", "%", cpu_cost),
        Row(
            "failed requests (non-2xx, socket errors)",
            "n",
            float(sy_errors),
            float(m.errors("mf")) if not skipped_mlflow else None,
            target=0,
        ),
    ]
    for r in rows:
        r.skipped = r.skipped or skipped_shipyard
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n--workers {workers} (both servers)")
    print(f"  load average at the end (1, 5, 15 min): {load} on {os.cpu_count()} CPUs")
    if mlflow_version:
        print(f"  MLflow: {mlflow_version}, `mlflow models serve --env-manager local`")
    print(table(rows))
    print("\nMarkdown:\n")
    print(markdown(rows))


# -- the request path in process --------------------------------------------------------


def request_path_cpu(ref: str, body: dict[str, bytes], rounds: int) -> dict[str, float]:
    """CPU time (this thread's) of requests through the server's ASGI app, in this process
    and without HTTP, and of the model's predict: medians in us. Predict is timed twice:
    inside each request (the server's call of the model, ``service._run``, wrapped: what the
    request spent outside it is the request minus that) and the model's own ``predict``
    alone in a tight loop on the same rows (warm caches; a Pipeline's own method, which the
    server may call step by step: ``fastpath.direct_methods``). Rounds interleave the cases; the
    prediction log is on (its flusher runs meanwhile)."""
    import asyncio
    import statistics

    from shipyard.serving import Deployment, ServeOptions
    from shipyard.serving import service as service_module
    from shipyard.serving.server import build_app

    app = build_app(Deployment.from_flags(ref), ServeOptions())
    model = app.state.service.slots[0].current
    clock = time.thread_time_ns
    inside: list[int] = []  # model calls made during the current request
    served_predict = model.model.predict  # the model's own predict (a Pipeline's, here)
    run_model = service_module._run  # the server's call of the model (fastpath and all)

    def timed_run(*a: Any) -> Any:
        t = clock()
        try:
            return run_model(*a)
        finally:
            inside.append(clock() - t)

    service_module._run = timed_run  # type: ignore[attr-defined]  # looked up at each call

    async def call(path: str, data: bytes) -> None:
        sent: list[dict[str, Any]] = []
        messages = [{"type": "http.request", "body": data, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
                 "query_string": b"", "root_path": "", "headers": headers,
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}  # fmt: skip
        await app(scope, receive, send)
        if sent[0]["status"] != 200:
            raise SystemExit(f"in process {path}: HTTP {sent[0]['status']}: {sent[-1]['body']!r}")

    async def eight(path: str, data: bytes) -> None:
        await asyncio.gather(*[call(path, data) for _ in range(8)])

    def matrix(key: str) -> Any:
        import orjson

        from shipyard.serving import payloads

        columns, _ = payloads.mlflow(orjson.loads(body[key]), model.schema.names)
        return model.schema.matrix(columns, model.matrix_order)

    one, many = matrix("split_1"), matrix("split_batch")
    cases: dict[str, tuple[Any, int]] = {
        "1 row, /invocations": (lambda: call("/invocations", body["split_1"]), 200),
        "1 row, /predict": (lambda: call("/predict", body["records_1"]), 200),
        "1,000 rows, /invocations": (lambda: call("/invocations", body["split_batch"]), 20),
        "1,000 rows, /predict": (lambda: call("/predict", body["columns_batch"]), 20),
        # 8 clients' requests ready at once: they share the model's call (serving.coalesce)
        "1 row, /invocations, 8 at once": (lambda: eight("/invocations", body["split_1"]), 25),
    }
    predicts: dict[str, tuple[Any, int]] = {
        "predict, 1 row": (lambda: served_predict(one), 200),
        "predict, 1,000 rows": (lambda: served_predict(many), 20),
    }

    async def run() -> dict[str, float]:
        times: dict[str, list[int]] = {k: [] for k in [*cases, *predicts]}
        outside: dict[str, list[int]] = {k: [] for k in cases}
        within: dict[str, list[int]] = {k: [] for k in cases}
        async with app.router.lifespan_context(app):
            for fn, n in cases.values():
                for _ in range(n):
                    await fn()
            for _ in range(rounds):
                for name, (fn, n) in cases.items():
                    for _ in range(n):
                        inside.clear()
                        t = clock()
                        await fn()
                        elapsed = clock() - t
                        times[name].append(elapsed)
                        within[name].append(sum(inside))
                        outside[name].append(elapsed - sum(inside))
                for name, (fn, n) in predicts.items():
                    for _ in range(n):
                        t = clock()
                        fn()
                        times[name].append(clock() - t)
        us = {k: statistics.median(v) / 1e3 for k, v in times.items()}
        for name in cases:
            us[f"{name}: outside"] = statistics.median(outside[name]) / 1e3
            us[f"{name}: predict inside"] = statistics.median(within[name]) / 1e3
        for key in ("1 row, /invocations, 8 at once", "1 row, /invocations, 8 at once: outside"):
            us[key] /= 8  # per request
        return us

    print(f"  in process: {rounds} rounds of the request path and of predict alone ...")
    return asyncio.run(run())


INPROCESS_CASES = (
    "1 row, /invocations",
    "1 row, /predict",
    "1 row, /invocations, 8 at once",
    "1,000 rows, /invocations",
    "1,000 rows, /predict",
)


def report_inprocess(us: dict[str, float]) -> None:
    print("\nThe request path in process (no HTTP; CPU time, medians; log on):")
    head = ["request", "CPU per request", "predict in it", "outside predict", "target",
            "predict alone"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in INPROCESS_CASES:
        alone = us["predict, 1 row"] if name.startswith("1 row") else us["predict, 1,000 rows"]
        outside = us[f"{name}: outside"]
        if name.endswith("at once"):  # one shared predict call for the eight
            cells = [f"{us[name]:,.0f} us", "1/8 of one call", f"{outside:,.0f} us", "", ""]
        else:
            target = f"< {OVERHEAD_TARGET_US} us" if name.startswith("1 row") else ""
            ok = outside < OVERHEAD_TARGET_US if target else None
            status = "" if ok is None else (" PASS" if ok else " MISS")
            cells = [f"{us[name]:,.0f} us", f"{us[f'{name}: predict inside']:,.0f} us",
                     f"{outside:,.0f} us", target + status, f"{alone:,.0f} us"]  # fmt: skip
        print(f"  {name:<32} " + "  ".join(f"{c:>16}" for c in cells))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    print("\nMarkdown:\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
