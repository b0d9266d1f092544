"""Run creation: 1,000 runs with 10 params each, each one created and ended.

Method, per trial (the median of ``--repeat`` trials is reported):

* Client API: ``client.create_run(project, name, params={10 params})`` then
  ``client.end_run(run_id)``, 1,000 times in a loop, timed as a whole.
* Fluent API: ``with shipyard.start_run(project, name, params={10 params}): pass``,
  1,000 times.

Each trial goes to its own project of the same store, so later trials see a store that
already holds the earlier runs (as a real one would). The runs record what a real run does
(git commit and uncommitted diff of this checkout, environment, command line); the cached
per-process capture (git, packages) is warmed by one untimed run first. The script prints
whether this checkout had an uncommitted diff, since that adds an artifact to every run.
Target: >= 300 runs/s.
"""

from __future__ import annotations

import time

import _common

import shipyard
from shipyard.tracking import environment

N = 1_000
TARGET = 300
PARAMS = {f"param_{i}": f"value-{i}" for i in range(5)} | {f"num_{i}": i * 0.5 for i in range(5)}


def client_trial(client: shipyard.Client, project: str) -> float:
    start = time.perf_counter()
    for i in range(N):
        run = client.create_run(project, f"run-{i}", params=PARAMS)
        client.end_run(run.id)
    return time.perf_counter() - start


def fluent_trial(_client: shipyard.Client, project: str) -> float:
    start = time.perf_counter()
    for i in range(N):
        with shipyard.start_run(project, f"run-{i}", params=PARAMS):
            pass
    return time.perf_counter() - start


def main() -> None:
    args = _common.parser(__doc__).parse_args()
    _common.header(f"bench_create_runs: {N:,} runs x 10 params", args.uri)
    with _common.bench_store(args.uri):
        client = shipyard.Client()
        client.end_run(client.create_run("warmup", "warmup").id)  # git/env capture, schema
        code = environment.code_version()
        print(f"  code version {code.label or '(no git)'}, diff captured: {len(code.diff):,} B")
        results = []
        for label, trial in (("Client", client_trial), ("fluent", fluent_trial)):
            rates = []
            for t in range(args.repeat):
                project = f"{label.lower()}-{t}"
                rate = N / trial(client, project)
                rates.append(rate)
                stored = len(client.search_runs(project, "status = 'FINISHED'", limit=N))
                print(f"  {label} trial {t}: {rate:>6,.0f} runs/s ({stored:,} FINISHED runs)")
            rate = _common.median(rates)
            results.append(
                _common.line(
                    f"{label}: create+end runs, 10 params",
                    f"{rate:,.0f} runs/s",
                    f">= {TARGET} runs/s",
                    rate >= TARGET,
                )
            )
        client.close()
    print("\n".join(results))


if __name__ == "__main__":
    main()
