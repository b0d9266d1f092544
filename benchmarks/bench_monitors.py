"""Monitoring on the stored log: drift straight from 1,000,000 logged predictions, and the
cost of evaluating 50 monitors.

Data (seeded): a model on 20 numeric inputs registered with a 200,000-row reference (its
profile is stored with the version), then 1,000,000 predictions logged the way a server logs
them over the 5 days before now, 3 of the 20 inputs shifted by half a standard deviation,
sealed into Parquet segments as the flusher does.

1. ``drift from the log``: ``read_window`` of the 20 inputs and the prediction (all 1,000,000
   rows) plus ``drift`` against the stored profile (bin tests) and against the reference rows
   (KS / Wasserstein); wall time of both steps together. Target < 5 s.
2. ``50 monitors``: ``run_monitors`` of 40 drift monitors (2 features each, a 1-day window,
   200,000 rows) and 10 volume / latency monitors; total wall time and per monitor.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bench_store, header, line, median, parser

ROWS = 1_000_000
HOUR_MS = 3_600_000
NAMES = [f"f{i}" for i in range(20)]
SHIFTED = {"f0", "f7", "f13"}


def register(client):  # type: ignore[no-untyped-def]
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from shipyard.registry import ModelRegistry

    rng = np.random.default_rng(0)
    reference = pd.DataFrame(rng.normal(0, 1, (200_000, 20)), columns=NAMES)
    labels = (reference["f0"] + rng.normal(0, 1, len(reference)) > 0).astype(int)
    model = LogisticRegression().fit(reference, labels)
    registry = ModelRegistry(client)
    registry.register_model("churn", model, input_example=reference.head(2), reference=reference)
    registry.set_alias("churn", "production", 1)
    return reference


def log_traffic(client, now_ms: int) -> None:  # type: ignore[no-untyped-def]
    from shipyard.serving.predlog import LoggedBatch, PredictionLogger, new_ids
    from shipyard.store.log_segments import seal_all

    rng = random.Random(9)
    start = now_ms - 5 * 24 * HOUR_MS
    step = (5 * 24 * HOUR_MS - 2 * HOUR_MS) / ROWS
    logger = PredictionLogger(client.store.predictions, interval=3600)
    for i in range(ROWS):
        ts = start + int(i * step)
        inputs = {n: [rng.gauss(0.5 if n in SHIFTED else 0.0, 1)] for n in NAMES}
        p = rng.random()
        logger.log(
            LoggedBatch(new_ids(1, ts), ts, "churn", 1, "main", False, 0.4, inputs, None, [p])
        )
        if (i + 1) % 50_000 == 0:
            logger.flush()
    logger.flush()
    seal_all(client.store.predictions, client.blobs, now_ms=now_ms)


def drift_from_log(client, reference) -> tuple[float, float, set[str], set[str]]:  # type: ignore[no-untyped-def]
    from shipyard.monitoring import drift, read_window
    from shipyard.registry import ModelRegistry

    profile = ModelRegistry(client).reference_profile("churn/1")
    started = time.perf_counter()
    frame = read_window("churn", columns=[*NAMES, "prediction"], client=client)
    by_profile = drift(profile, frame, features=NAMES)
    profile_s = time.perf_counter() - started
    assert len(frame) == ROWS
    started = time.perf_counter()
    frame = read_window("churn", columns=NAMES, client=client)
    by_rows = drift(reference, frame, features=NAMES)
    rows_s = time.perf_counter() - started
    return profile_s, rows_s, set(by_profile.drifted_features), set(by_rows.drifted_features)


def fifty_monitors(client) -> float:  # type: ignore[no-untyped-def]
    from shipyard.monitoring import Monitor, run_monitors

    monitors = [
        Monitor(
            name=f"drift-{i}", model="churn@production", check="drift",
            features=[NAMES[i % 20], NAMES[(i + 7) % 20]], window="1d",
            test=("psi", "js")[i % 2],
        )
        for i in range(40)
    ]  # fmt: skip
    monitors += [
        Monitor(name=f"volume-{i}", model="churn@production", check="volume", window="1d",
                threshold=1000)
        for i in range(5)
    ]  # fmt: skip
    monitors += [
        Monitor(name=f"latency-{i}", model="churn@production", check="latency", metric="p99",
                window="1d", threshold=50)
        for i in range(5)
    ]  # fmt: skip
    started = time.perf_counter()
    results = run_monitors(monitors, client=client, webhooks=[])
    elapsed = time.perf_counter() - started
    errors = [r for r in results if r.status == "error"]
    assert len(results) == 50 and not errors, errors[:1]
    return elapsed


def main() -> None:
    p = parser(__doc__)
    p.set_defaults(repeat=3)
    args = p.parse_args()
    header(f"bench_monitors: {ROWS:,} logged predictions, 20 inputs", args.uri)
    from shipyard._clock import to_millis
    from shipyard.tracking import Client

    with bench_store(args.uri):
        client = Client()
        reference = register(client)
        now_ms = to_millis(client.clock.now())
        started = time.perf_counter()
        log_traffic(client, now_ms)
        print(f"  logged and sealed {ROWS:,} predictions in {time.perf_counter() - started:.0f} s")
        trials = [drift_from_log(client, reference) for _ in range(args.repeat)]
        by_profile, by_rows = median([t[0] for t in trials]), median([t[1] for t in trials])
        flagged_p, flagged_r = trials[0][2], trials[0][3]
        print(f"  flagged, against the profile: {sorted(flagged_p)}; rows: {sorted(flagged_r)}")
        monitors = median([fifty_monitors(client) for _ in range(args.repeat)])
        client.close()
    print(line("drift from the log vs profile", f"{by_profile:.2f} s", "< 5 s", by_profile < 5))
    print(line("drift from the log vs rows", f"{by_rows:.2f} s", "< 5 s", by_rows < 5))
    shown = ", ".join(sorted(flagged_r))
    print(line("flagged (vs rows)", shown, ", ".join(sorted(SHIFTED)), flagged_r == SHIFTED))
    print(line("50 monitors, 1-day windows", f"{monitors:.2f} s ({monitors / 50 * 1000:.0f} ms"
               " each)", "", True))  # fmt: skip


if __name__ == "__main__":
    main()
