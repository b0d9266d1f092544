"""Drift over a large window: evaluated here (the whole window read into one process) and
on Ray (slices read by Ray actors, ``run_monitors(executor="ray")``).

Data (seeded): a model on 10 numeric inputs registered with a 200,000-row training
dataset (its reference rows) and its stored profile; ``--rows`` predictions (default
4,000,000) logged over the 4 days before now in calls of 2,000 rows, 3 of the 10 inputs
shifted by a quarter of a standard deviation, sealed into Parquet segments as the flusher
does.

Measured, each case in a fresh subprocess (so its peak memory is its own): two drift
monitors over a 7-day window, one against the profile (psi on 10 inputs and the
prediction), one against the training rows (wasserstein on the 10 inputs).

* local: ``run_monitors(executor="local")``: ``read_window`` of the whole window, then
  ``drift``.
* ray: the same with ``executor="ray"`` on a local Ray of 2 CPUs (2 actors), started in
  the subprocess before the clock starts (the figure with Ray's start-up is also shown).

Reported: wall time, the driver's peak RSS (``ru_maxrss``), and whether both give the
same drifted features and statistics (to 1e-9).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bench_store, header, line, median, parser

HOUR_MS = 3_600_000
NAMES = [f"f{i}" for i in range(10)]
SHIFTED = {"f0", "f4", "f7"}
CALL_ROWS = 2_000


def register(client) -> None:  # type: ignore[no-untyped-def]
    import io

    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.linear_model import LogisticRegression

    from shipyard._clock import to_millis
    from shipyard.registry import ModelRegistry

    rng = np.random.default_rng(0)
    reference = pd.DataFrame(rng.normal(0, 1, (200_000, len(NAMES))), columns=NAMES)
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(reference, preserve_index=False), sink)
    info = client.blobs.put_bytes(sink.getvalue())
    project = client.store.get_or_create_project("default").name
    record = client.store.features.create_dataset(
        project, "train", info.hash, len(reference), info.size, {}, "bench",
        to_millis(client.clock.now()),
    )  # fmt: skip
    model = LogisticRegression().fit(reference, reference["f0"] > 0)
    registry = ModelRegistry(client)
    registry.register_model(
        "churn", model, reference=reference, dataset=f"dataset:{project}/train/{record.version}"
    )
    registry.set_alias("churn", "production", 1)


def log_traffic(client, rows: int, now_ms: int) -> None:  # type: ignore[no-untyped-def]
    import secrets

    import numpy as np

    from shipyard.store.base import PredictionCall
    from shipyard.store.log_segments import seal_all

    rng = np.random.default_rng(9)
    calls = math.ceil(rows / CALL_ROWS)
    start = now_ms - 4 * 24 * HOUR_MS
    step = (4 * 24 * HOUR_MS - 2 * HOUR_MS) // calls
    batch = []
    for i in range(calls):
        ts = start + i * step
        inputs = {
            n: rng.normal(0.25 if n in SHIFTED else 0.0, 1, CALL_ROWS).tolist() for n in NAMES
        }
        outputs = rng.integers(0, 2, CALL_ROWS).tolist()
        batch.append(
            PredictionCall(f"{ts:012x}{secrets.token_hex(7)}", "churn", 1, "main", False, ts,
                           2.0, CALL_ROWS, inputs, outputs)
        )  # fmt: skip
        if len(batch) == 50:
            client.store.predictions.append(batch)
            batch = []
    if batch:
        client.store.predictions.append(batch)
    seal_all(client.store.predictions, client.blobs, now_ms=now_ms)


def monitors() -> list:  # type: ignore[type-arg]
    from shipyard.monitoring import Monitor

    return [
        Monitor(name="vs-profile", model="churn@production", check="drift", window="7d"),
        Monitor(name="vs-rows", model="churn@production", check="drift", window="7d",
                features=NAMES, test="wasserstein"),
    ]  # fmt: skip


def measure(executor: str) -> None:
    """One case, in this process: prints a JSON line."""
    from shipyard.monitoring import run_monitors
    from shipyard.tracking import Client

    client = Client()
    began = time.perf_counter()
    if executor == "ray":
        import ray

        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    started = time.perf_counter()
    results = run_monitors(monitors(), client=client, webhooks=[], executor=executor, workers=2)
    ended = time.perf_counter()
    errors = [r.details for r in results if r.status == "error"]
    assert not errors, errors
    print(json.dumps({
        "wall": ended - started,
        "with_start": ended - began,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "details": [r.details for r in results],
    }))  # fmt: skip


def _case(executor: str) -> dict:  # type: ignore[type-arg]
    done = subprocess.run(
        [sys.executable, __file__, "--measure", executor],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{executor} case failed:\n{done.stderr[-3000:]}")
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[type-arg]
    return result


def _same(a: list, b: list) -> bool:  # type: ignore[type-arg]
    for here, there in zip(a, b, strict=True):
        if here["drifted"] != there["drifted"] or here["rows"] != there["rows"]:
            return False
        for x, y in zip(here["features"], there["features"], strict=True):
            for key in ("statistic", "p_value"):
                if (x[key] is None) != (y[key] is None):
                    return False
                if x[key] is not None and not math.isclose(x[key], y[key], rel_tol=1e-9):
                    return False
    return True


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rows", type=int, default=4_000_000)
    p.add_argument("--measure", choices=["local", "ray"], help=argparse.SUPPRESS)
    p.set_defaults(repeat=3)
    args = p.parse_args()
    if args.measure:
        measure(args.measure)
        return
    header(f"bench_drift_ray: {args.rows:,} logged predictions, 10 inputs", args.uri)
    from shipyard._clock import to_millis
    from shipyard.tracking import Client

    with bench_store(args.uri):
        client = Client()
        register(client)
        started = time.perf_counter()
        log_traffic(client, args.rows, to_millis(client.clock.now()))
        client.close()
        print(f"  logged and sealed {args.rows:,} predictions in "
              f"{time.perf_counter() - started:.0f} s")  # fmt: skip
        local = [_case("local") for _ in range(args.repeat)]
        on_ray = [_case("ray") for _ in range(args.repeat)]
    same = _same(local[0]["details"], on_ray[0]["details"])
    drifted = local[0]["details"][1]["drifted"]
    for name, runs in (("here", local), ("on Ray (2 actors)", on_ray)):
        wall = median([r["wall"] for r in runs])
        peak = median([r["peak_mb"] for r in runs])
        print(line(f"2 drift monitors, {name}", f"{wall:.2f} s, driver peak {peak:,.0f} MB",
                   "", True))  # fmt: skip
    cold = median([r["with_start"] for r in on_ray])
    print(line("on Ray, with ray.init", f"{cold:.2f} s", "", True))
    print(line("same drifted features and statistics", str(same), "True", same))
    print(line("drifted (vs rows)", ", ".join(drifted), ", ".join(sorted(SHIFTED)),
               set(drifted) == SHIFTED))  # fmt: skip


if __name__ == "__main__":
    main()
