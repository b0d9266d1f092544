"""The audit log's cost: 1,000 runs created and ended with the audit log on vs off.

Method: the loop of ``bench_create_runs`` (``client.create_run(project, name, params={10
params})`` then ``client.end_run(run_id)``, 1,000 times; and ``with shipyard.start_run(...):
pass`` 1,000 times), each run leaving two audit entries (``run.create``, ``run.status``)
written in the same transactions as the run. "Off" is the same process with the functions
that append an entry replaced by no-ops (there is no setting that turns auditing off);
"on" is the code as shipped. Each trial prints how many entries it wrote (2,001 on: the
project's creation too; none off). On and off trials alternate (on, off, on, off...), each
in a project of its own on the same store, so drift in the machine's state (page cache, a
growing database) falls on both alike; the median of ``--repeat`` trials per mode is
reported, and the overhead is median(on) / median(off) - 1. Target: < 10 % slower.

On SQLite the client of a database at the schema head is the sqlite3 fast path (as it is
for any process after the first one), so both writers of entries are patched for "off".
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bench_store, header, line, median, parser

import shipyard
from shipyard.session import close_current

N = 1_000
TARGET = 0.10  # at most 10 % slower with the audit log
PARAMS = {f"param_{i}": f"value-{i}" for i in range(5)} | {f"num_{i}": i * 0.5 for i in range(5)}


@contextlib.contextmanager
def audit_off() -> Iterator[None]:
    """Every writer of audit entries the run calls, replaced by a no-op for the block."""
    from shipyard.store.sql import tracking
    from shipyard.store.sql.lite import tracking as lite

    def nothing(*_args: Any, **_kwargs: Any) -> None:
        return None

    patched = [(tracking, "record_audit"), (tracking, "record_audits")]
    patched.append((lite, "record_audit_sqlite"))
    saved = [(module, name, getattr(module, name)) for module, name in patched]
    for module, name in patched:
        setattr(module, name, nothing)
    try:
        yield
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


def client_trial(client: shipyard.Client, project: str) -> None:
    for i in range(N):
        run = client.create_run(project, f"run-{i}", params=PARAMS)
        client.end_run(run.id)


def fluent_trial(_client: shipyard.Client, project: str) -> None:
    for i in range(N):
        with shipyard.start_run(project, f"run-{i}", params=PARAMS):
            pass


def timed(trial: Callable[[shipyard.Client, str], None], *args: Any) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of this process (all its threads): on SQLite all the
    work is in this process, so CPU time shows the cost with less of the noise other
    processes on the machine add to the wall time."""
    wall, cpu = time.perf_counter(), time.process_time()
    trial(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(
    client: shipyard.Client, label: str, trial: Callable[[shipyard.Client, str], None], repeat: int
) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds per mode, "on" and "off"; checks what each trial wrote."""
    times: dict[str, list[tuple[float, float]]] = {"on": [], "off": []}
    for t in range(repeat):
        for mode in ("on", "off"):
            project = f"{label.lower()}-{mode}-{t}"
            before = newest_entry(client)
            with contextlib.nullcontext() if mode == "on" else audit_off():
                wall, cpu = timed(trial, client, project)
            written = newest_entry(client) - before
            times[mode].append((wall, cpu))
            print(
                f"  {label} trial {t} audit {mode:>3}: {N / wall:>6,.0f} runs/s, "
                f"CPU {cpu * 1e6 / N:,.0f} us/run ({written:,} entries)"
            )
    return {
        mode: (median([w for w, _ in found]), median([c for _, c in found]))
        for mode, found in times.items()
    }


def newest_entry(client: shipyard.Client) -> int:
    newest = client.store.audit.list_audit(limit=1)
    return newest[0].id if newest else 0


def main() -> None:
    args = parser(__doc__).parse_args()
    header(f"bench_audit: {N:,} runs x 10 params, audit log on vs off", args.uri)
    with bench_store(args.uri):
        first = shipyard.Client()
        first.end_run(first.create_run("warmup", "warmup").id)  # schema, git/env capture
        first.close()
        close_current()  # the next client is a later process's: the fast path on SQLite
        client = shipyard.Client()
        print(f"  store: {type(client.store).__name__}")
        results = []
        for label, trial in (("Client", client_trial), ("fluent", fluent_trial)):
            found = measure(client, label, trial, args.repeat)
            (on, on_cpu), (off, off_cpu) = found["on"], found["off"]
            overhead = on / off - 1
            print(
                f"  {label}: on {N / on:,.0f} runs/s, off {N / off:,.0f} runs/s, "
                f"overhead {overhead:+.1%} (CPU time of this process: {on_cpu / off_cpu - 1:+.1%})"
            )
            results.append(
                line(
                    f"{label}: create+end 1,000 runs, audit on/off",
                    f"{overhead:+.1%} ({N / on:,.0f} vs {N / off:,.0f}/s)",
                    f"< +{TARGET:.0%}",
                    overhead < TARGET,
                )
            )
        client.close()
    print("\n".join(results))


if __name__ == "__main__":
    main()
