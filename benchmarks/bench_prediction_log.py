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

Targets: append >= 20,000 rows/s (a server at 1,000 req/s then spends < 5% of one core on
its log); query 1 h < 0.5 s; query 24 h < 10 s.
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


def batches(rng: random.Random):
    from shipyard.serving.predlog import LoggedBatch, new_ids

    names = [f"f{i}" for i in range(20)]
    step = 24 * HOUR_MS / ROWS
    for i in range(ROWS):
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
    args = parser(__doc__).parse_args()
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
            client.close()
            results.append((ROWS / spent, len(hour), hour_s, day_s, labels_s))
            print(
                f"  trial {trial + 1}: append {ROWS / spent:,.0f} rows/s, 1 h ({len(hour):,} "
                f"rows) {hour_s:.3f} s, 24 h {day_s:.2f} s, 10k labels {labels_s:.2f} s"
            )
    rate = median([r[0] for r in results])
    hour_s, day_s, labels_s = (median([r[i] for r in results]) for i in (2, 3, 4))
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


if __name__ == "__main__":
    main()
