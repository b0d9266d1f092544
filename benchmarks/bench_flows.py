"""Flows: Shipyard's flow runtime against Metaflow, on the same flow files, in one run.

Method. Each flow is generated twice from one template, into a temp folder per framework;
only the import line differs (``from metaflow import FlowSpec, step`` vs
``from shipyard.flows import FlowSpec, step``). Every figure is the wall time of
``python flow.py run --max-workers 2`` as a subprocess, end to end (interpreter start-up,
imports, scheduling, tasks, storing, exit). Every run must exit with 0, and at the end a
subprocess per flow reads every run back through the framework's own client
(``Flow(name)``, ``run.data...``) and checks the results. One untimed run of the linear
flow per framework comes first (page cache, Metaflow's datastore folder).

* linear: start -> a -> b -> end, trivial steps. Median of ``--repeat`` runs.
* foreach: start sets ``self.items = list(range(N))``, N tasks ``self.y = self.input * 2``,
  a join sums, end; N = 100 and 1,000. Median of 3 runs for Shipyard; Metaflow runs each N
  once (it takes minutes), skips N above ``--metaflow-max-tasks`` and gives up after
  ``--timeout``. Per-task overhead = (foreach wall - linear wall) / N.
* 100 MB array: start -> middle -> end, where start computes
  ``np.random.default_rng(seed).random(100 MiB / 8)``. The artifact cannot be timed inside
  the step (frameworks store it after the step returns), so the figure is a difference:
  the wall of the flow that keeps it (``self.arr = ...``) minus the wall of the same flow
  that computes it into a local variable (``arr = ...``); median of ``--repeat`` pairs,
  each pair with its own seed so that every timed run stores a new array. Then the seed-0
  flow runs again: the figure is that run's wall minus the baseline, and the content
  store (Shipyard: the ``blobs`` folder of SHIPYARD_HOME; Metaflow:
  ``.metaflow/ArrayFlow/data``) must not grow by more than a few KB.
* ``import shipyard`` / ``import metaflow``: wall of ``python -c "import X"`` minus wall of
  ``python -c pass``, same interpreter, medians of 10 each, interleaved, after a warm-up.
  The same for ``shipyard.flows`` (a flow file's first line), ``shipyard.store.sql.lite``
  (what a run on the embedded store loads before it writes anything: the sqlite3 fast
  path), ``shipyard.store.sql.tracking`` (the SQLAlchemy store: PostgreSQL, a schema to
  migrate, any other store call) and ``sqlalchemy`` alone.

Shipyard runs against a throwaway SHIPYARD_HOME (``--uri`` as in the other scripts).
Metaflow is installed with pip into a throwaway venv (kept and reused with
``--metaflow-venv DIR``), with numpy at the version this interpreter has, and runs with
USERNAME=bench, the local datastore and metadata, METAFLOW_HOME and its datastore root in
the temp folder. ``--skip-metaflow`` measures Shipyard only; ``--only linear`` (or
``imports``, ``foreach``, ``array``; repeatable) runs only those cases (foreach needs the
linear figure and runs it too). Ratio = Metaflow / Shipyard.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import _common

WORKERS = 2
FOREACH_SIZES = (100, 1_000)
FOREACH_REPEAT = 3  # Shipyard; Metaflow runs each foreach once
IMPORT_REPEAT = 10
ARRAY_LEN = 100 * 1024 * 1024 // 8  # 100 MiB of float64
GROWTH_LIMIT = 8 * 1024  # bytes a second identical run may add to the content store
CASES = ("imports", "linear", "foreach", "array")

IMPORTS = {
    "shipyard": "from shipyard.flows import FlowSpec, step",
    "metaflow": "from metaflow import FlowSpec, step",
}

LINEAR = """\
{import_line}


class LinearFlow(FlowSpec):
    @step
    def start(self):
        self.x = 1
        self.next(self.a)

    @step
    def a(self):
        self.x += 1
        self.next(self.b)

    @step
    def b(self):
        self.x += 1
        self.next(self.end)

    @step
    def end(self):
        self.total = self.x


if __name__ == "__main__":
    LinearFlow()
"""

FOREACH = """\
{import_line}


class {name}(FlowSpec):
    @step
    def start(self):
        self.items = list(range({n}))
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.y = self.input * 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(task.y for task in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    {name}()
"""

ARRAY = """\
import numpy as np

{import_line}


class {name}(FlowSpec):
    @step
    def start(self):
        {target} = np.random.default_rng({seed}).random({length})
        self.seed = {seed}
        self.next(self.middle)

    @step
    def middle(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    {name}()
"""

# Run in a subprocess of each framework: read every run of a flow back and check it.
CHECK = """\
import sys

import numpy as np

from {module} import Flow

kind, name, count, expected = sys.argv[1:5]
runs = list(Flow(name))
assert len(runs) == int(count), f"{{name}}: {{len(runs)}} runs, expected {{count}}"
for run in runs:
    assert run.successful, f"{{run}} did not succeed"
    if kind == "total":
        assert run.data.total == int(expected), f"{{run}}: total {{run.data.total}}"
    elif kind == "array":
        arr = run.data.arr
        want = np.random.default_rng(run.data.seed).random(int(expected))
        assert np.array_equal(arr, want), f"{{run}}: wrong array"
print(f"{{name}}: {{len(runs)}} runs OK")
"""


@dataclass
class Framework:
    name: str
    python: str
    env: dict[str, str]
    folder: Path  # flow files and working directory (Metaflow writes .metaflow here)
    runs: dict[str, int] = field(default_factory=dict)  # flow name -> runs started

    def write(self, filename: str, template: str, **fields: object) -> Path:
        path = self.folder / filename
        path.write_text(template.format(import_line=IMPORTS[self.name], **fields))
        return path

    def run(self, flow: Path, flow_name: str, timeout: float, *extra: str) -> float | None:
        """Wall time of ``python flow.py run``; None on timeout; exits if the run fails."""
        self.runs[flow_name] = self.runs.get(flow_name, 0) + 1
        argv = [self.python, flow.name, "run", "--max-workers", str(WORKERS), *extra]
        code, output, wall = run_timed(argv, self.folder, self.env, timeout)
        if code is None:
            print(f"  {self.name} {flow.name}: no result after {timeout:.0f} s, killed")
            return None
        if code != 0:
            tail = "\n".join(output.splitlines()[-25:])
            raise SystemExit(f"{self.name} {flow.name} failed (exit code {code}):\n{tail}")
        return wall

    def check(self, kind: str, flow_name: str, expected: object = "") -> None:
        """Read every run of the flow back with the framework's client and check it."""
        script = self.folder / "check_runs.py"
        script.write_text(CHECK.format(module="shipyard.flows" if self.is_shipyard else "metaflow"))
        argv = [self.python, script.name, kind, flow_name, str(self.runs[flow_name]), str(expected)]
        code, output, _ = run_timed(argv, self.folder, self.env, 600)
        if code != 0:
            raise SystemExit(f"{self.name}: check of {flow_name} failed:\n{output[-3000:]}")
        print(f"  {self.name}: {output.strip()}")

    @property
    def is_shipyard(self) -> bool:
        return self.name == "shipyard"


def run_timed(
    argv: list[str], cwd: Path, env: dict[str, str], timeout: float
) -> tuple[int | None, str, float]:
    """(exit code or None on timeout, stdout+stderr, wall seconds). On timeout the whole
    process group is killed: flow runtimes leave worker processes behind otherwise."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        return None, output, time.perf_counter() - start
    return proc.returncode, output, time.perf_counter() - start


def folder_bytes(path: Path) -> tuple[int, int]:
    """Total size and number of the files under ``path``."""
    files = [p for p in path.rglob("*") if p.is_file()] if path.exists() else []
    return sum(p.stat().st_size for p in files), len(files)


# -- Metaflow's venv --------------------------------------------------------------------


def metaflow_python(venv: Path) -> str:
    """The venv's python, with metaflow and this interpreter's numpy installed in it."""
    numpy = importlib.metadata.version("numpy")
    probe = f"import metaflow, numpy; assert numpy.__version__ == {numpy!r}"
    return _common.peer_python(venv, probe, ["metaflow", f"numpy=={numpy}"])


# -- measurements -----------------------------------------------------------------------


def import_ms(fw: Framework, module: str) -> float:
    """Median wall of ``python -c 'import X'`` minus median wall of ``python -c pass``."""
    base, full = [], []
    for code in ("pass", f"import {module}"):  # warm-up: .pyc files, page cache
        run_timed([fw.python, "-c", code], fw.folder, fw.env, 120)
    for _ in range(IMPORT_REPEAT):
        for code, into in (("pass", base), (f"import {module}", full)):
            status, output, wall = run_timed([fw.python, "-c", code], fw.folder, fw.env, 120)
            if status != 0:
                raise SystemExit(f"{fw.name}: python -c {code!r} failed:\n{output}")
            into.append(wall)
    return (_common.median(full) - _common.median(base)) * 1000


def median_or_none(values: list[float | None]) -> float | None:
    done = [v for v in values if v is not None]
    return _common.median(done) if done and len(done) == len(values) else None


@dataclass
class Row:
    metric: str
    unit: str  # "s", "ms", "B"
    shipyard: float | None
    metaflow: float | None = None
    target: float | None = None  # Shipyard must stay at or under it
    target_text: str = ""
    note: str = ""  # shown instead of a missing Metaflow figure

    def text(self, width: int) -> str:
        ok = self.shipyard is not None and self.shipyard <= (self.target or 0)
        verdict = _common.verdict(ok) if self.target is not None else "-"
        ratio = "-"
        if self.shipyard and self.metaflow is not None and self.unit != "B":
            ratio = f"{self.metaflow / self.shipyard:.1f}x"
        metaflow = self.fmt(self.metaflow) if self.metaflow is not None else self.note or "-"
        return (
            f"{verdict:<5} {self.metric:<{width}} {self.fmt(self.shipyard):>10} "
            f"{metaflow:>10} {ratio:>7}   {self.target_text}"
        )

    def fmt(self, value: float | None) -> str:
        if value is None:
            return "n/a"
        if self.unit == "s":
            return f"{value:.2f} s"
        if self.unit == "ms":
            return f"{value:.1f} ms"
        return f"{value:,.0f} B"


def table(rows: list[Row]) -> str:
    width = max(len(r.metric) for r in rows)
    head = f"{'':<5} {'metric':<{width}} {'shipyard':>10} {'metaflow':>10} {'MF/SY':>7}   target"
    return "\n".join([head, *(r.text(width).rstrip() for r in rows)])


def fmt_walls(values: list[float | None]) -> str:
    return " ".join("timeout" if v is None else f"{v:.2f}" for v in values)


def measure_imports(frameworks: list[Framework]) -> list[Row]:
    ms = {fw.name: import_ms(fw, "shipyard" if fw.is_shipyard else "metaflow") for fw in frameworks}
    flows = import_ms(frameworks[0], "shipyard.flows")
    # what a run on the embedded store loads before its first write (the sqlite3 fast
    # path), and the SQLAlchemy store it loads instead on PostgreSQL or to migrate
    lite = import_ms(frameworks[0], "shipyard.store.sql.lite")
    store = import_ms(frameworks[0], "shipyard.store.sql.tracking")
    sqlalchemy = import_ms(frameworks[0], "sqlalchemy")
    print(
        f"  import: {', '.join(f'{k} {v:.0f} ms' for k, v in ms.items())}; "
        f"shipyard.flows {flows:.0f} ms; shipyard.store.sql.lite {lite:.0f} ms; "
        f"shipyard.store.sql.tracking {store:.0f} ms (sqlalchemy alone {sqlalchemy:.0f} ms)"
    )
    return [
        Row(
            "import shipyard (vs metaflow)",
            "ms",
            ms["shipyard"],
            ms.get("metaflow"),
            150,
            "< 150 ms",
        ),
        Row("  import shipyard.flows (vs metaflow)", "ms", flows, ms.get("metaflow")),
        Row("  import shipyard.store.sql.lite (vs metaflow)", "ms", lite, ms.get("metaflow")),
        Row("  import shipyard.store.sql.tracking (vs metaflow)", "ms", store, ms.get("metaflow")),
        Row("    of which sqlalchemy (vs metaflow)", "ms", sqlalchemy, ms.get("metaflow")),
    ]


def measure_linear(frameworks: list[Framework], repeat: int, timeout: float) -> dict:
    for fw in frameworks:
        fw.run(fw.write("linear.py", LINEAR), "LinearFlow", timeout)  # warm-up, untimed
    walls: dict[str, list[float | None]] = {fw.name: [] for fw in frameworks}
    for _ in range(repeat):
        for fw in frameworks:
            walls[fw.name].append(fw.run(fw.folder / "linear.py", "LinearFlow", timeout))
    for fw in frameworks:
        print(f"  {fw.name} linear: {fmt_walls(walls[fw.name])} s")
    return {name: median_or_none(values) for name, values in walls.items()}


def measure_foreach(
    frameworks: list[Framework], linear: dict, timeout: float, cap: int
) -> list[Row]:
    rows = []
    for n in FOREACH_SIZES:
        name, wall, note = f"Foreach{n}Flow", {}, ""
        for fw in frameworks:
            flow = fw.write(f"foreach_{n}.py", FOREACH, name=name, n=n)
            if not fw.is_shipyard and n > cap:
                note = f"skip >{cap}"
                continue
            # Metaflow refuses a foreach of more than 100 tasks unless told
            extra = () if fw.is_shipyard else ("--max-num-splits", str(n))
            repeat = FOREACH_REPEAT if fw.is_shipyard else 1
            trials = [fw.run(flow, name, timeout, *extra) for _ in range(repeat)]
            wall[fw.name] = median_or_none(trials)
            if wall[fw.name] is None:
                note = f">{timeout:.0f} s"
            print(f"  {fw.name} foreach {n}: {fmt_walls(trials)} s")
        overhead = {
            k: (v - linear[k]) * 1000 / n
            for k, v in wall.items()
            if v is not None and linear.get(k) is not None
        }
        big = n == max(FOREACH_SIZES)
        rows += [
            Row(
                f"foreach {n:,} tasks, wall",
                "s",
                wall.get("shipyard"),
                wall.get("metaflow"),
                10.0 if big else None,
                "< 10 s" if big else "",
                note,
            ),
            Row(
                f"  per-task overhead, {n:,} tasks",
                "ms",
                overhead.get("shipyard"),
                overhead.get("metaflow"),
                10.0 if big else None,
                "< 10 ms" if big else "",
                note,
            ),
        ]
    return rows


def measure_array(
    frameworks: list[Framework], repeat: int, timeout: float, stores: dict[str, Path]
) -> list[Row]:
    stored: dict[str, list[float | None]] = {fw.name: [] for fw in frameworks}
    baseline: dict[str, list[float | None]] = {fw.name: [] for fw in frameworks}
    for seed in range(repeat):  # a new seed per pair: every timed run stores a new array
        for fw in frameworks:
            common = {"seed": seed, "length": ARRAY_LEN}
            kept = fw.write(
                f"array_{seed}.py", ARRAY, name="ArrayFlow", target="self.arr", **common
            )
            local = fw.write(
                f"array_base_{seed}.py", ARRAY, name="ArrayBaseFlow", target="arr", **common
            )
            without = fw.run(local, "ArrayBaseFlow", timeout)
            with_array = fw.run(kept, "ArrayFlow", timeout)
            baseline[fw.name].append(without)
            stored[fw.name].append(None if None in (without, with_array) else with_array - without)
    store = {name: median_or_none(values) for name, values in stored.items()}
    for fw in frameworks:
        print(
            f"  {fw.name} 100 MB array, with minus without: {fmt_walls(stored[fw.name])} s "
            f"(without: {fmt_walls(baseline[fw.name])} s)"
        )

    again: dict[str, float | None] = {}
    growth: dict[str, float | None] = {}
    for fw in frameworks:  # the seed-0 flow once more: nothing new to store
        before, files_before = folder_bytes(stores[fw.name])
        wall = fw.run(fw.folder / "array_0.py", "ArrayFlow", timeout)
        after, files_after = folder_bytes(stores[fw.name])
        base = median_or_none(baseline[fw.name])
        again[fw.name] = None if wall is None or base is None else wall - base
        growth[fw.name] = after - before if stores[fw.name].is_dir() else None  # wrong path?
        print(
            f"  {fw.name} second identical run: content store grew {after - before:,} B, "
            f"{files_after - files_before} files (now {after / 2**20:,.0f} MiB)"
        )
    return [
        Row(
            "store a 100 MB numpy artifact",
            "s",
            store["shipyard"],
            store.get("metaflow"),
            0.5,
            "< 0.5 s",
        ),
        Row("  same flow again (identical array)", "s", again["shipyard"], again.get("metaflow")),
        Row(
            "  content store growth, 2nd run",
            "B",
            growth["shipyard"],
            growth.get("metaflow"),
            GROWTH_LIMIT,
            f"<= {GROWTH_LIMIT:,} B",
        ),
    ]


def check_all(fw: Framework) -> None:
    """Every run of every flow, read back through the framework's own client."""
    if "LinearFlow" in fw.runs:
        fw.check("total", "LinearFlow", 3)
    for n in FOREACH_SIZES:
        if f"Foreach{n}Flow" in fw.runs:
            fw.check("total", f"Foreach{n}Flow", n * (n - 1))
    if "ArrayFlow" in fw.runs:
        fw.check("ok", "ArrayBaseFlow")
        fw.check("array", "ArrayFlow", ARRAY_LEN)


def main() -> None:
    p = _common.parser(__doc__)
    p.set_defaults(repeat=5)
    p.add_argument("--skip-metaflow", action="store_true", help="measure Shipyard only")
    p.add_argument(
        "--metaflow-venv",
        type=Path,
        help="venv for Metaflow, created if needed and kept (default: a temp one)",
    )
    p.add_argument(
        "--metaflow-max-tasks",
        type=int,
        default=1_000,
        help="largest foreach Metaflow runs (default 1000)",
    )
    p.add_argument("--timeout", type=float, default=900, help="seconds allowed per flow run")
    p.add_argument(
        "--only",
        action="append",
        choices=CASES,
        help="run only this case (repeatable; default: all)",
    )
    args = p.parse_args()
    cases = set(args.only or CASES)
    if "foreach" in cases:
        cases.add("linear")  # per-task overhead is measured against the linear wall
    _common.header("bench_flows: Shipyard vs Metaflow, same flow files", args.uri)
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print(
            "  warning: PYTHONDONTWRITEBYTECODE is set: Shipyard's sources (an editable "
            "install) are compiled again in every process, Metaflow's installed .pyc are not"
        )
    print(
        f"  shipyard at {_common.source_label()}; "
        f"{_common.versions(sys.executable, 'shipyard', 'numpy')}; "
        f"Python {sys.version.split()[0]}"
    )

    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-flows-")))
        home = stack.enter_context(_common.bench_store(args.uri))
        frameworks = [Framework("shipyard", sys.executable, dict(os.environ), work / "shipyard")]
        stores = {"shipyard": home / "blobs"}
        if not args.skip_metaflow:
            venv = args.metaflow_venv or work / "metaflow-venv"
            python = metaflow_python(venv.resolve())
            print(f"  metaflow venv: {_common.versions(python, 'metaflow', 'numpy')}")
            folder = work / "metaflow"
            env = {
                **os.environ,
                "USERNAME": "bench",
                "METAFLOW_HOME": str(work / "metaflow-home"),
                "METAFLOW_DEFAULT_DATASTORE": "local",
                "METAFLOW_DEFAULT_METADATA": "local",
                "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(folder),  # data in folder/.metaflow
            }
            (work / "metaflow-home").mkdir()
            frameworks.append(Framework("metaflow", python, env, folder))
            stores["metaflow"] = folder / ".metaflow" / "ArrayFlow" / "data"
        for fw in frameworks:
            fw.folder.mkdir()

        rows: dict[str, list[Row]] = {case: [] for case in CASES}
        if "imports" in cases:
            rows["imports"] = measure_imports(frameworks)
        if "linear" in cases:
            linear = measure_linear(frameworks, args.repeat, args.timeout)
            rows["linear"] = [linear_row(linear)]
        if "foreach" in cases:
            rows["foreach"] = measure_foreach(
                frameworks, linear, args.timeout, args.metaflow_max_tasks
            )
        if "array" in cases:
            rows["array"] = measure_array(frameworks, args.repeat, args.timeout, stores)
        for fw in frameworks:
            check_all(fw)
    print(table([*rows["linear"], *rows["foreach"], *rows["array"], *rows["imports"]]))


def linear_row(linear: dict) -> Row:
    """Shipyard under 0.5 s, and at least 5x faster than Metaflow when it ran."""
    shipyard, metaflow = linear["shipyard"], linear.get("metaflow")
    target, text = 0.5, "< 0.5 s"
    if metaflow is not None:
        target, text = min(target, metaflow / 5), f"< 0.5 s and <= MF/5 ({metaflow / 5:.2f} s)"
    return Row("4-step linear run, wall", "s", shipyard, metaflow, target, text)


if __name__ == "__main__":
    main()
