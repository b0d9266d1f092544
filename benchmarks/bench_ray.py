"""Flows on Ray: the same 200-task foreach on the local executor and on Ray.

Method. One flow file (``WIDE`` below: start makes ``list(range(N))``, N tasks with
``@resources(cpu=1)`` each square their input and time that work, a join sums, end), run
as ``python flow.py run`` in a subprocess, end to end (interpreter start-up, imports,
scheduling, tasks, storing, exit), every run checked (exit code 0, the total read back
through the client). Median of ``--repeat`` runs per case:

* local: ``--executor local --max-workers 2`` (the reused worker processes);
* ray, running cluster: ``--executor ray --ray-address ADDR``, a local Ray with 2 CPUs
  that this script starts once (``ray.init(num_cpus=2)``) before the timed runs;
* ray, new local Ray: ``--executor ray`` alone, so each run starts a local Ray and stops
  it (what a first ``run --executor ray`` on a laptop costs).

Per-task overhead = (wall - sum of the tasks' own work) / N, the work being what each
task measured around its computation (microseconds here: the figure is what running a
task costs, not the task). Marginal = (wall(N) - wall(1)) / (N - 1): the same flow with
one task, which takes out start-up and the fixed steps.

``--metaflow-python PY`` also runs the same flow shape with Metaflow's local runtime
(``from metaflow import ...``, ``--max-workers 2 --max-num-splits N``), once: a
Python with metaflow installed, e.g. a throwaway venv
(``python -m venv /tmp/mf && /tmp/mf/bin/pip install metaflow``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common

TASKS = 200

WIDE = """\
import time

{imports}


class WideBench(FlowSpec):
    width = Parameter("width", default={tasks})

    @step
    def start(self):
        self.items = list(range(self.width))
        self.next(self.work, foreach="items")

    @resources(cpu=1)
    @step
    def work(self):
        began = time.perf_counter()
        self.square = self.input ** 2
        self.work_s = time.perf_counter() - began
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.square for i in inputs)
        self.work_s = sum(i.work_s for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    WideBench()
"""
IMPORTS = {
    "shipyard": "from shipyard.flows import FlowSpec, Parameter, resources, step",
    "metaflow": "from metaflow import FlowSpec, Parameter, resources, step",
}
READ_BACK = {
    "shipyard": "from shipyard.flows import Flow",
    "metaflow": "from metaflow import Flow, namespace; namespace(None)",
}


def flow_file(folder: Path, framework: str) -> Path:
    path = folder / framework / "wide_bench.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(WIDE.format(imports=IMPORTS[framework], tasks=TASKS))
    return path


def timed_run(python: str, path: Path, args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [python, str(path), "run", *args], env=env, capture_output=True, text=True, cwd=path.parent
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{path} run {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return wall


def read_back(python: str, framework: str, env: dict[str, str], cwd: Path) -> tuple[int, float]:
    """The latest run's total (checked) and the tasks' summed work, via the client."""
    code = (
        f"{READ_BACK[framework]}\n"
        "run = Flow('WideBench').latest_run\n"
        "join = run['join'].task.data\n"
        "print(join.total, join.work_s)\n"
    )
    out = subprocess.run(
        [python, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=cwd
    ).stdout.split()
    return int(out[0]), float(out[1])


def case(
    label: str, python: str, path: Path, args: list[str], env: dict[str, str], repeat: int
) -> dict[str, float | str]:
    framework = path.parent.name
    walls, works = [], []
    for _ in range(repeat):
        walls.append(timed_run(python, path, [*args, "--width", str(TASKS)], env))
        total, work = read_back(python, framework, env, path.parent)
        if total != sum(i * i for i in range(TASKS)):
            raise SystemExit(f"{label}: wrong total {total}")
        works.append(work)
    one = _common.median(
        [timed_run(python, path, [*args, "--width", "1"], env) for _ in range(repeat)]
    )
    wall, work = _common.median(walls), _common.median(works)
    print(f"  {label}: {wall:.2f} s (runs: {', '.join(f'{w:.2f}' for w in walls)})", flush=True)
    return {
        "case": label,
        "wall": wall,
        "work": work,
        "overhead_ms": 1000 * (wall - work) / TASKS,
        "one": one,
        "marginal_ms": 1000 * (wall - one) / (TASKS - 1),
    }


def table(rows: list[dict[str, float | str]]) -> str:
    lines = [
        f"| case | wall, {TASKS} tasks | tasks' own work | per-task overhead "
        "| wall, 1 task | marginal per task |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['wall']:.2f} s | {1000 * float(r['work']):.1f} ms "
            f"| {r['overhead_ms']:.1f} ms | {r['one']:.2f} s | {r['marginal_ms']:.1f} ms |"
        )
    return "\n".join(lines)


def main() -> None:
    p = _common.parser(__doc__)
    p.add_argument("--metaflow-python", help="a Python with metaflow installed")
    p.add_argument("--skip-new-ray", action="store_true", help="skip the new-local-Ray case")
    args = p.parse_args()
    import ray

    with _common.bench_store(args.uri) as home, tempfile.TemporaryDirectory() as tmp:
        _common.header("bench_ray", args.uri)
        print(f"  ray {ray.__version__}; load average {os.getloadavg()}")
        folder = Path(tmp)
        shipyard_flow = flow_file(folder, "shipyard")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path[1:])}
        rows = [
            case("local executor, 2 workers", sys.executable, shipyard_flow,
                 ["--executor", "local", "--max-workers", "2"], env, args.repeat),
        ]  # fmt: skip
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
        address = ray.get_runtime_context().gcs_address
        # ray.init turned on token authentication (RAY_AUTH_MODE=token in os.environ): a
        # runner connecting to this cluster needs it too
        env = {**os.environ, "PYTHONPATH": env["PYTHONPATH"]}
        rows.append(
            case("ray, running local cluster (2 CPUs)", sys.executable, shipyard_flow,
                 ["--executor", "ray", "--ray-address", address], env, args.repeat)
        )  # fmt: skip
        ray.shutdown()
        env = {k: v for k, v in env.items() if k != "RAY_AUTH_MODE"}  # a fresh Ray's default
        if not args.skip_new_ray:
            rows.append(
                case("ray, a new local Ray per run", sys.executable, shipyard_flow,
                     ["--executor", "ray"], env, args.repeat)
            )  # fmt: skip
        if args.metaflow_python:
            mf_env = {
                **os.environ,
                "USERNAME": "bench",
                "METAFLOW_DEFAULT_DATASTORE": "local",
                "METAFLOW_DEFAULT_METADATA": "local",
                "METAFLOW_HOME": str(home / "metaflow"),
            }
            mf_flow = flow_file(folder, "metaflow")
            rows.append(
                case("Metaflow local runtime, 2 workers", args.metaflow_python, mf_flow,
                     ["--max-workers", "2", "--max-num-splits", str(TASKS)], mf_env, 1)
            )  # fmt: skip
        print()
        print(table(rows))


if __name__ == "__main__":
    main()
