"""The prediction log as servers write it and monitoring reads it.

Data (seeded): 200,000 predictions of one model over 24 hours, 20 numeric inputs each, the
output a probability pair, logged the way a server does: ``LoggedBatch`` objects of 1 row
(single-row traffic) turned into records and appended by ``PredictionLogger.flush`` in
batches of 2,000 rows (about 2 s of traffic at 1,000 req/s).

1. ``append``: predictions/s of ``logger.log`` (a request encoding its call into the
   buffer) plus the flushes (the background thread's work); all of it shares the server's
   CPU, so the cost per row is what logging takes from serving.
2. ``query 1 h``: ``store.predictions.query(model, start_ms, end_ms)`` of one hour
   (~8,300 rows) and ``query 24 h`` (all 200,000 rows, inputs and outputs decoded): what a
   drift monitor reads.
3. ``labels``: ``log_labels`` of 10,000 ids in one call, then a labelled-only query.
4. ``read_window 24 h``: ``shipyard.monitoring.read_window`` of the same day as a DataFrame
   (labels joined), first with nothing sealed (every call from SQL), then after ``seal``
   (the flusher's segment pass, timed too) wrote the hours into Parquet segments.
5. ``1,000,000`` predictions (five days of the same traffic, 20 inputs, sealed): the read a
   drift monitor does, ``read_window`` of the 20 inputs and the prediction (one trial;
   ``--no-million`` skips it).

Targets: append >= 20,000 rows/s (a server at 1,000 req/s then spends < 5% of one core on
its log); query 1 h < 0.5 s; query 24 h < 10 s; read_window 24 h < 1 s; the 1,000,000-row
read < 2.5 s (half the 5 s budget of drift over them).
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bench_store, header, line, median, parser

ROWS = 200_000
FLUSH = 2_000
HOUR_MS = 3_600_000
START_MS = 1_764_000_000_000


def batches(rng: random.Random, rows: int = ROWS):
    from shipyard.serving.predlog import LoggedBatch, new_ids

    names = [f"f{i}" for i in range(20)]
    step = 24 * HOUR_MS / ROWS
    for i in range(rows):
        ts = START_MS + int(i * step)
        p = rng.random()
        yield LoggedBatch(
            new_ids(1, ts),
            ts,
            "churn",
            1,
            "production",
            False,
            0.4,
            {n: [rng.gauss(0, 1)] for n in names},
            None,
            [[1 - p, p]],
        )


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--no-million", action="store_true", help="skip the 1,000,000-row read")
    args = p.parse_args()
    header("prediction log", args.uri)
    results = []
    for trial in range(args.repeat):
        with bench_store(args.uri):
            from shipyard.serving.predlog import PredictionLogger, attach_labels
            from shipyard.tracking import Client

            client = Client()
            store = client.store.predictions
            logger = PredictionLogger(store, interval=3600)
            rng = random.Random(trial)
            spent = 0.0
            ids = []
            for n, batch in enumerate(batches(rng), 1):
                started = time.perf_counter()
                logger.log(batch)  # what a request does: encode its call, buffer it
                if n % FLUSH == 0:
                    logger.flush()  # what the background thread does
                spent += time.perf_counter() - started
                ids.append(batch.ids[0])
            started = time.perf_counter()
            hour = store.query(
                "churn", start_ms=START_MS + 5 * HOUR_MS, end_ms=START_MS + 6 * HOUR_MS
            )
            hour_s = time.perf_counter() - started
            started = time.perf_counter()
            day = store.query("churn")
            day_s = time.perf_counter() - started
            assert len(day) == ROWS and day[0].inputs["f0"] is not None
            labelled_ids = ids[::20]
            started = time.perf_counter()
            attach_labels(store, labelled_ids, [1] * len(labelled_ids), START_MS)
            labels_s = time.perf_counter() - started
            assert len(store.query("churn", labelled=True)) == len(labelled_ids)
            sql_s, seal_s, window_s = read_day(client)
            client.close()
            results.append((ROWS / spent, len(hour), hour_s, day_s, labels_s, sql_s, seal_s))
            results[-1] += (window_s,)
            print(
                f"  trial {trial + 1}: append {ROWS / spent:,.0f} rows/s, 1 h ({len(hour):,} "
                f"rows) {hour_s:.3f} s, 24 h {day_s:.2f} s, 10k labels {labels_s:.2f} s, "
                f"read_window 24 h unsealed {sql_s:.2f} s, seal {seal_s:.2f} s, "
                f"read_window 24 h sealed {window_s:.3f} s"
            )
    rate = median([r[0] for r in results])
    hour_s, day_s, labels_s, sql_s, seal_s, window_s = (
        median([r[i] for r in results]) for i in (2, 3, 4, 5, 6, 7)
    )
    print(
        line(
            "append (batches of 2,000 rows)",
            f"{rate:,.0f} rows/s",
            ">= 20,000 rows/s",
            rate >= 20_000,
        )
    )
    print(line("query 1 hour (~8,300 rows)", f"{hour_s:.3f} s", "< 0.5 s", hour_s < 0.5))
    print(line("query 24 hours (200,000 rows)", f"{day_s:.2f} s", "< 10 s", day_s < 10))
    print(line("log_labels, 10,000 ids", f"{labels_s:.2f} s", "(no target)", True))
    print(line("read_window 24 h, nothing sealed", f"{sql_s:.2f} s", "(no target)", True))
    print(line("seal 24 h into segments", f"{seal_s:.2f} s", "(off the request path)", True))
    print(line("read_window 24 h, sealed", f"{window_s:.3f} s", "< 1 s", window_s < 1))
    if not args.no_million:
        with bench_store(args.uri):
            million_s = read_million()
        print(line("read 1,000,000 for drift", f"{million_s:.2f} s", "< 2.5 s", million_s < 2.5))


def read_day(client) -> tuple[float, float, float]:
    from shipyard.monitoring import read_window
    from shipyard.store.log_segments import seal_all

    started = time.perf_counter()
    frame = read_window("churn", client=client)
    sql_s = time.perf_counter() - started
    assert len(frame) == ROWS and frame["label"].notna().sum() == ROWS // 20
    started = time.perf_counter()
    seal_all(client.store.predictions, client.blobs, now_ms=START_MS + 30 * HOUR_MS)
    seal_s = time.perf_counter() - started
    started = time.perf_counter()
    sealed = read_window("churn", client=client)
    window_s = time.perf_counter() - started
    assert sealed["prediction_id"].equals(frame["prediction_id"])
    return sql_s, seal_s, window_s


def read_million() -> float:
    """Log 1,000,000 predictions (5 days), seal them, time the read a drift check does."""
    from shipyard.monitoring import read_window
    from shipyard.serving.predlog import PredictionLogger
    from shipyard.store.log_segments import seal_all
    from shipyard.tracking import Client

    client = Client()
    logger = PredictionLogger(client.store.predictions, interval=3600)
    for n, batch in enumerate(batches(random.Random(9), 5 * ROWS), 1):
        logger.log(batch)
        if n % 50_000 == 0:
            logger.flush()
    logger.flush()
    seal_all(client.store.predictions, client.blobs, now_ms=START_MS + 6 * 24 * HOUR_MS)
    columns = [f"f{i}" for i in range(20)] + ["prediction"]
    times = []
    for _ in range(3):
        started = time.perf_counter()
        frame = read_window("churn", columns=columns, client=client)
        times.append(time.perf_counter() - started)
    assert len(frame) == 5 * ROWS
    client.close()
    print(
        f"  1,000,000 predictions, 20 inputs + prediction: {', '.join(f'{t:.2f}' for t in times)} s"
    )
    return median(times)


if __name__ == "__main__":
    main()
