"""Online store backends: write rows/s for 1,000,000 rows, read latency for 1 and 100 keys.

Data (seeded): 1,000,000 distinct entity keys, the decimal text of ids drawn from
0..10^9 (what the feature layer makes of an integer join key), in random order (as
DuckDB's GROUP BY hands them over); event times in µs over the last day; payloads are the
JSON of 4 numeric features and a short string, ~136 bytes (~155 stored with the event time).

Writes, each into a new, empty table, timed from the first ``write`` call until the last
returns:

1. ``random, 1 call``: all rows in one ``write()`` in random key order.
2. ``sorted, 50k calls``: 20 calls of 50,000 rows, globally in key order (a
   materialization query with ``ORDER BY key``).
3. ``random, 50k calls``: 20 calls of 50,000 rows in random order (the same query
   without the ORDER BY).
4. ``overwrite``: case 1 again into case 1's table with newer event times, so every row
   replaces a stored one.
5. ``sorted, 50k Arrow calls``: case 2's chunks as Arrow arrays, what a materialization
   hands over (Redis packs them in bulk; SQLite converts them to lists). The arrays are
   built before the clock starts, as DuckDB delivers them.

Reads, from case 4's table (1M rows): ``read(table, [key])`` with a random key
``--reads`` times, and ``read(table, 100 random keys)`` ``--reads // 10`` times, after
1,000 untimed warm-up calls each; p50 and p99 of the wall time of each call. Some results
are checked against the data. Nothing runs concurrently.

SQLite: a file in a temp folder (``--dir`` picks the disk). Redis: ``--redis URI`` (default
redis://127.0.0.1:6379/0), under a namespace unique to the run whose keys are deleted at
the end; ``--skip-redis`` to leave it out.

Targets: Redis writes >= 200,000 rows/s (case 1) and >= 300,000 rows/s (case 5: the store's
part of a materialization must beat issue 13's 300,000 rows/s); Redis 1-key read p99 < 1 ms;
SQLite 1-key read p99 <= 50 µs (a quarter of the 0.2 ms budget of a whole 1-entity
``get_online_features``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import psutil
import pyarrow as pa

from shipyard.features.online import OnlineStore, open_online_store

CHUNK = 50_000
NOW_US = 1_764_000_000_000_000  # a fixed "now"; event times fall in the day before


@dataclass
class Data:
    keys: list[str]  # random order
    ts: list[int]
    payloads: list[str]


def make_data(n: int, seed: int = 7) -> Data:
    rng = random.Random(seed)
    ids = rng.sample(range(10**9), n)
    keys = [str(i) for i in ids]
    ts = [NOW_US - rng.randrange(86_400_000_000) for _ in range(n)]
    payloads = [
        json.dumps(
            {
                "conv_rate": rng.random(),
                "acc_rate": rng.random(),
                "avg_daily_trips": rng.randrange(1000),
                "lifetime_value": round(rng.random() * 1e4, 2),
                "segment": rng.choice(["gold", "silver", "bronze", "new"]),
            }
        )
        for _ in range(n)
    ]
    return Data(keys, ts, payloads)


def timed_write(store: OnlineStore, table: str, parts: list[tuple[list, list, list]]) -> float:
    total = sum(len(k) for k, _, _ in parts)
    start = time.perf_counter()
    for keys, ts, payloads in parts:
        store.write(table, keys, ts, payloads)
    return total / (time.perf_counter() - start)


def chunks(keys: list[str], ts: list[int], payloads: list[str]) -> list[tuple[list, list, list]]:
    return [
        (keys[i : i + CHUNK], ts[i : i + CHUNK], payloads[i : i + CHUNK])
        for i in range(0, len(keys), CHUNK)
    ]


def write_cases(store: OnlineStore, data: Data) -> dict[str, float]:
    order = sorted(range(len(data.keys)), key=data.keys.__getitem__)
    sk = [data.keys[i] for i in order]
    st = [data.ts[i] for i in order]
    sp = [data.payloads[i] for i in order]
    newer = [t + 1 for t in data.ts]
    arrow = [tuple(pa.array(column) for column in chunk) for chunk in chunks(sk, st, sp)]
    return {
        "random, 1 call": timed_write(store, "case1", [(data.keys, data.ts, data.payloads)]),
        "sorted, 50k calls": timed_write(store, "case2", chunks(sk, st, sp)),
        "random, 50k calls": timed_write(store, "case3", chunks(data.keys, data.ts, data.payloads)),
        "overwrite (random, 1 call)": timed_write(
            store, "case1", [(data.keys, newer, data.payloads)]
        ),
        "sorted, 50k Arrow calls": timed_write(store, "case5", arrow),
    }


def latencies(call: Callable[[], object], n: int) -> tuple[float, float]:
    for _ in range(1_000):
        call()
    walls = []
    clock = time.perf_counter
    for _ in range(n):
        start = clock()
        call()
        walls.append(clock() - start)
    walls.sort()
    return statistics.median(walls), walls[int(len(walls) * 0.99)]


def read_cases(store: OnlineStore, data: Data, n: int) -> dict[str, tuple[float, float]]:
    rng = random.Random(11)
    index = {k: i for i, k in enumerate(data.keys)}
    one = iter([[rng.choice(data.keys)] for _ in range(n + 1_000)])
    many = iter([rng.sample(data.keys, 100) for _ in range(n // 10 + 1_000)])
    for keys in ([data.keys[0]], data.keys[1000:1100]):  # spot checks
        rows = store.read("case1", keys)
        assert [(r.event_ts, r.payload) for r in rows if r] == [
            (data.ts[index[k]] + 1, data.payloads[index[k]]) for k in keys
        ], "read back the wrong rows"
    return {
        "1 key": latencies(lambda: store.read("case1", next(one)), n),
        "100 keys": latencies(lambda: store.read("case1", next(many)), n // 10),
    }


def run_backend(uri: str, data: Data, reads: int) -> tuple[dict, dict]:
    store = open_online_store(uri, f"bench-{uuid.uuid4().hex[:8]}")
    try:
        writes = write_cases(store, data)
        lat = read_cases(store, data, reads)
    finally:
        for table in ("case1", "case2", "case3", "case5"):
            store.drop(table)
        store.close()
    return writes, lat


def report(name: str, writes: dict, lat: dict, targets: dict) -> list[str]:
    lines = []
    for case, rate in writes.items():
        target = targets.get(case)
        status = "" if target is None else ("PASS" if rate >= target else "MISS")
        goal = f">= {target:,} rows/s" if target else ""
        lines.append(f"| {name} | write {case} | {rate:,.0f} rows/s | {goal} | {status} |")
    for case, (p50, p99) in lat.items():
        target = targets.get(case)
        status = "" if target is None else ("PASS" if p99 <= target else "MISS")
        goal = f"p99 <= {target * 1e6:,.0f} µs" if target else ""
        lines.append(
            f"| {name} | read {case} | p50 {p50 * 1e6:,.1f} µs, p99 {p99 * 1e6:,.1f} µs "
            f"| {goal} | {status} |"
        )
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--reads", type=int, default=20_000, help="1-key reads (100-key: / 10)")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    p.add_argument("--skip-redis", action="store_true")
    p.add_argument("--dir", help="folder for the SQLite file (default: the temp folder)")
    args = p.parse_args()

    busy = psutil.cpu_percent(interval=1.0)
    print(f"online stores; {os.cpu_count()} CPUs, {busy:.0f}% busy before the start")
    if busy > 25:
        print("  warning: other work competes for the CPUs; figures will be low and noisy")
    data = make_data(args.rows)
    size = statistics.mean(len(p) for p in data.payloads[:10_000])
    print(f"{args.rows:,} rows, payloads ~{size:.0f} bytes")

    lines = ["| backend | case | measured | target | status |", "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp, Contention("SQLite"):
        writes, lat = run_backend(f"sqlite:///{tmp}/online.db", data, args.reads)
    lines += report("SQLite", writes, lat, {"1 key": 50e-6})
    if not args.skip_redis:
        with Contention("Redis", redis_uri=args.redis):
            writes, lat = run_backend(args.redis, data, args.reads)
        targets = {"random, 1 call": 200_000, "sorted, 50k Arrow calls": 300_000, "1 key": 1e-3}
        lines += report("Redis", writes, lat, targets)
    print("\n".join(lines))


class Contention:
    """Prints how much CPU other programs took while a backend was measured: the CPU time
    of the whole machine minus this process's (and the Redis server's, for Redis)."""

    def __init__(self, name: str, redis_uri: str | None = None) -> None:
        self.name, self.redis_uri = name, redis_uri

    def __enter__(self) -> None:
        self.start = (time.monotonic(), _busy_seconds(), self._ours())

    def __exit__(self, *exc: object) -> None:
        wall, busy, ours = (
            b - a
            for a, b in zip(
                self.start, (time.monotonic(), _busy_seconds(), self._ours()), strict=True
            )
        )
        others = max(0.0, busy - ours) / wall
        print(
            f"{self.name}: {wall:.0f} s; other programs used {others:.2f} "
            f"of {os.cpu_count()} CPUs meanwhile"
        )

    def _ours(self) -> float:
        own = psutil.Process().cpu_times()
        seconds = own.user + own.system
        if self.redis_uri:
            import redis

            info = redis.Redis.from_url(self.redis_uri).info("cpu")
            seconds += info["used_cpu_user"] + info["used_cpu_sys"]
        return seconds


def _busy_seconds() -> float:
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq


if __name__ == "__main__":
    main()
