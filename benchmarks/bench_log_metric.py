"""Metric logging: 100,000 ``log_metric`` calls in one run, then ``end_run``.

Method, per trial (a fresh run each time; medians of ``--repeat`` trials are reported, and
for end_run also the worst trial, which decides PASS/MISS):

1. ``client.create_run(...)``; then time a loop of 100,000
   ``client.log_metric(run_id, "loss", value, step=i)`` calls (values precomputed), i.e. the
   time until control returns to the caller. The background writer is running meanwhile,
   exactly as in real use, so its inserts compete for the GIL and are part of the figure.
2. Time ``client.end_run(run_id)`` from its start until it returns: it flushes whatever the
   writer had not written yet and marks the run FINISHED.
3. Check with a *second* client (its own connection, nothing buffered) that
   ``get_metric_history`` returns all 100,000 points with the right steps.

The same again with the fluent API: ``shipyard.start_run`` + ``shipyard.log_metric`` +
``shipyard.end_run``. Targets: >= 100,000 calls/s, all points durable within 2 s of end_run.

Last, the cost of isolating a bad point: 100,000 points are handed to the writer directly
(past the argument checks), one of them with a step no backend can hold (2**63); ``flush``
splits the refused batch until only that point is left out. Reported: flush time against a
clean flush of the same 100,000 points, and that exactly 99,999 were stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import _common

import shipyard

N = 100_000
TARGET_RATE = 100_000
TARGET_END_S = 2.0
VALUES = [1.0 / (i + 1) for i in range(N)]


def trial_client(client: shipyard.Client, name: str) -> tuple[str, float, float, int]:
    run_id = client.create_run("bench", name).id
    log = client.log_metric
    start = time.perf_counter()
    for i, value in enumerate(VALUES):
        log(run_id, "loss", value, step=i)
    logged = time.perf_counter()
    pending = client.writer.pending()
    client.end_run(run_id)
    ended = time.perf_counter()
    return run_id, logged - start, ended - logged, pending


def trial_fluent(_client: shipyard.Client, name: str) -> tuple[str, float, float, int]:
    run = shipyard.start_run("bench", name)
    log = shipyard.log_metric
    start = time.perf_counter()
    for i, value in enumerate(VALUES):
        log("loss", value, step=i)
    logged = time.perf_counter()
    pending = run.client.writer.pending()
    shipyard.end_run()
    ended = time.perf_counter()
    return run.id, logged - start, ended - logged, pending


def check(run_id: str) -> bool:
    """All N points, read back through a fresh client with its own connection."""
    checker = shipyard.Client()
    try:
        history = checker.get_metric_history(run_id, "loss")
        return [m.step for m in history] == list(range(N))
    finally:
        checker.close()


def measure(label: str, trial: Callable[..., tuple[str, float, float, int]], repeat: int) -> list:
    client = shipyard.Client()
    rates, ends, complete = [], [], True
    for t in range(repeat):
        run_id, log_s, end_s, pending = trial(client, f"{label}-{t}")
        ok = check(run_id)
        complete &= ok
        rates.append(N / log_s)
        ends.append(end_s)
        print(
            f"  {label} trial {t}: {N / log_s:>9,.0f} calls/s, {pending:>6,} points still "
            f"buffered at end_run, end_run {end_s:.3f} s, all {N:,} stored: {ok}"
        )
    client.close()
    rate, end, worst = _common.median(rates), _common.median(ends), max(ends)
    return [
        _common.line(
            f"{label}: log_metric calls/s",
            f"{rate:,.0f}/s",
            f">= {TARGET_RATE:,}/s",
            rate >= TARGET_RATE,
        ),
        _common.line(
            f"{label}: end_run -> all {N:,} stored",
            f"{end:.2f} s, worst {worst:.2f} s" + ("" if complete else " MISSING POINTS"),
            f"<= {TARGET_END_S} s (worst trial)",
            complete and worst <= TARGET_END_S,
        ),
    ]


def isolating(repeat: int) -> list[str]:
    from shipyard.store import Metric

    client = shipyard.Client()
    clean_s, bad_s, complete = [], [], True
    for t in range(repeat):
        for bad, times in ((False, clean_s), (True, bad_s)):
            run_id = client.create_run("bench", f"isolate-{t}-{bad}").id
            client.writer.unwatch(run_id)
            for i, value in enumerate(VALUES):
                step = 2**63 if bad and i == N // 3 else i
                client.writer.add(run_id, Metric("loss", value, step, 1))
            start = time.perf_counter()
            client.flush()
            times.append(time.perf_counter() - start)
            stored = len(client.get_metric_history(run_id, "loss"))
            complete &= stored == (N - 1 if bad else N)
    client.close()
    clean, bad = _common.median(clean_s), _common.median(bad_s)
    print(f"  flush of {N:,} points: clean {clean:.3f} s, with one bad point {bad:.3f} s")
    return [
        _common.line(
            f"flush of {N:,} points with one the store refuses",
            f"{bad:.2f} s ({bad / clean:.1f}x a clean flush)"
            + ("" if complete else " WRONG COUNT"),
            "all other points stored",
            complete,
        )
    ]


def main() -> None:
    p = _common.parser(__doc__)
    p.set_defaults(repeat=5)
    args = p.parse_args()
    _common.header(f"bench_log_metric: {N:,} points x {args.repeat} trials", args.uri)
    with _common.bench_store(args.uri):
        results = measure("Client", trial_client, args.repeat)
        results += measure("fluent", trial_fluent, args.repeat)
        results += isolating(args.repeat)
    print("\n".join(results))


if __name__ == "__main__":
    main()
