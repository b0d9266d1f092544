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
``--workers 1`` (MLflow's default: one uvicorn worker); the script waits for
``/ready`` (Shipyard) or ``/health`` (MLflow), checks that both return the predictions of
the local model for the single row and for the batch, and kills every process group it
started on exit (also on errors and Ctrl-C). Shipyard runs twice: with its default
prediction log, and with ``--no-log``.

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

Targets (issue): single-row p99 < 10 ms at 8 clients; req/s >= 10x MLflow's for the
same model; 1,000-row batch p99 < 30 ms; prediction log on costs < 10 % of req/s
(1 - on / off, medians). ``--py-spy OUT.svg`` (``.json``: speedscope, ``.txt``: collapsed
stacks) profiles the Shipyard server (log on) during one more single-row run (not
counted). At the end the exceptions and ERROR lines of each server's log are counted.
``--skip-mlflow`` measures Shipyard only, ``--skip-shipyard`` MLflow only.
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
    p.add_argument("--workers", type=int, default=1, help="--workers of both servers")
    p.add_argument("--batch-rows", type=int, default=1000)
    p.add_argument("--batch-requests", type=int, default=200)
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
        f"servers: --workers {args.workers}, 127.0.0.1"
    )

    servers: list[Server] = []
    measures = Measures()
    batch: dict[str, dict[str, float]] = {}
    mlflow_version = ""
    with contextlib.ExitStack() as stack:
        work = Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-serving-", dir=args.dir))
        )
        stack.enter_context(_common.bench_store(args.uri, args.dir))
        stack.callback(lambda: [s.stop() for s in servers])

        model, df = make_model()
        body = bodies(df, args.batch_rows)
        files = {}
        for key, data in body.items():
            files[key] = work / f"{key}.json"
            files[key].write_bytes(data)
        lua = work / "post.lua"
        lua.write_text(WRK_LUA)
        expected_one = model.predict(df.iloc[:1])
        expected_batch = model.predict(df.iloc[1 : 1 + args.batch_rows])
        load = Load(lua, args.connections, args.threads, args.duration, args.warmup)

        def start(server: Server) -> Server:
            servers.append(server)
            server.start()
            return server

        sy = sy_nolog = mf = None
        if not args.skip_shipyard:
            version = register_shipyard(model, df)
            ref = f"{MODEL}@{ALIAS}"
            print(f"  shipyard: registered {MODEL} version {version}, alias {ALIAS}")
            sy = start(shipyard_server("shipyard", ref, args.workers, work))
            sy_nolog = start(shipyard_server("shipyard-nolog", ref, args.workers, work, "--no-log"))
        if not args.skip_mlflow:
            python = mlflow_python(args.mlflow_venv.resolve(), sklearn.__version__)
            mlflow_version = _common.versions(
                python, "mlflow", "scikit-learn", "pandas", "fastapi", "uvicorn"
            )
            print(f"  mlflow venv: {mlflow_version}")
            t = time.perf_counter()
            path = save_mlflow_model(python, model, df, work)
            print(f"  mlflow: save_model in {time.perf_counter() - t:.1f} s")
            mf = start(mlflow_server(python, path, args.workers, work))

        for server in servers:
            ready = server.wait_ready(args.startup_timeout)
            print(f"  {server.name}: ready {ready:.1f} s after start, {server.url}")
            check_predictions(server.url + "/invocations", body["split_1"], expected_one)
            check_predictions(server.url + "/invocations", body["split_batch"], expected_batch)
            if server.name.startswith("shipyard"):
                check_predictions(server.url + "/predict", body["records_1"], expected_one)
                check_predictions(server.url + "/predict", body["columns_batch"], expected_batch)
        print("  every server returns the local model's predictions (1 row and the batch)")

        plan: list[tuple[str, Server, str, str]] = []
        if sy and sy_nolog:
            plan += [
                ("sy_inv", sy, "/invocations", "split_1"),
                ("sy_nolog_inv", sy_nolog, "/invocations", "split_1"),
                ("sy_predict", sy, "/predict", "records_1"),
            ]
        if mf:
            plan.insert(1, ("mf_inv", mf, "/invocations", "split_1"))
        print("Single row, wrk:")
        for rnd in range(args.repeat):
            k = rnd % len(plan)
            for key, server, path, b in plan[k:] + plan[:k]:
                r = load.run(server, path, files[b])
                measures.add(key, r)
                print(
                    f"  round {rnd + 1} {server.name:<15} {path:<12} {r.rps:>9,.0f} req/s  "
                    f"p50 {r.p50:7.2f} ms  p99 {r.p99:7.2f} ms  "
                    f"server CPU {r.cpu_ms or 0:.2f} ms/req  wrk {r.wrk_cores or 0:.2f} cores  "
                    f"errors {r.errors}",
                    flush=True,
                )

        print(f"Batch of {args.batch_rows:,} rows, {args.batch_requests} sequential requests:")
        cases: list[tuple[str, Server | None, str, str]] = [
            ("sy_inv", sy, "/invocations", "split_batch"),
            ("sy_predict", sy, "/predict", "columns_batch"),
            ("mf_inv", mf, "/invocations", "split_batch"),
        ]
        for key, server, path, b in cases:
            if server is None:
                continue
            batch[key] = batch_latency(server.url + path, body[b], args.batch_requests)
            print(
                f"  {server.name:<15} {path:<12} p50 {batch[key]['p50']:7.2f} ms  "
                f"p99 {batch[key]['p99']:7.2f} ms",
                flush=True,
            )

        if args.py_spy and sy:
            profile(sy, load, files["split_1"], args.py_spy)

        for server in servers:
            problems = log_problems(server.log_tail(1_000_000))
            if problems:
                print(f"  {server.name} log: {sum(problems.values())} errors or exceptions:")
                for message, count in problems.most_common(5):
                    why = " (wrk closes its connections mid-request when a run ends)"
                    print(
                        f"    {count} x {message[:300]}" + (why if "Disconnect" in message else "")
                    )

    report(args, measures, batch, mlflow_version, mf is None, sy is None)


def profile(server: Server, load: Load, body: Path, out: Path) -> None:
    """py-spy record of ``server`` (and its children) during one more single-row run."""
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
        r = WrkResult.parse(load.wrk(server.url + "/invocations", body, seconds))
        spy_out, _ = spy.communicate(timeout=60)
    finally:
        if spy.poll() is None:
            spy.kill()
            spy.wait()
    print(f"  py-spy ({r.rps:,.0f} req/s under the profiler): {out}\n{spy_out.strip()[-500:]}")


def report(
    args: Any,
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
    rows = [
        Row(
            f"1 row, /invocations, {args.connections} clients: req/s",
            "req/s",
            m.median("sy_inv", "rps"),
            m.median("mf_inv", "rps"),
            target=10,
            higher_is_better=True,
            skipped=skipped_mlflow,
        ),
        Row("  p50", "ms", m.median("sy_inv", "p50"), m.median("mf_inv", "p50")),
        Row("  p99", "ms", m.median("sy_inv", "p99"), m.median("mf_inv", "p99"), target=10),
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
        Row("  p99", "ms", m.median("sy_predict", "p99"), target=10),
        Row(
            f"{args.batch_rows:,} rows, /invocations (dataframe_split): p50",
            "ms",
            b("sy_inv", "p50"),
            b("mf_inv", "p50"),
        ),
        Row("  p99", "ms", b("sy_inv", "p99"), b("mf_inv", "p99"), target=30),
        Row(f"{args.batch_rows:,} rows, /predict (columns): p50", "ms", b("sy_predict", "p50")),
        Row("  p99", "ms", b("sy_predict", "p99"), target=30),
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
    print(f"\n  load average at the end (1, 5, 15 min): {load} on {os.cpu_count()} CPUs")
    if mlflow_version:
        print(f"  MLflow: {mlflow_version}, `mlflow models serve --env-manager local`")
    print(table(rows))
    print("\nMarkdown:\n")
    print(markdown(rows))


if __name__ == "__main__":
    main()
