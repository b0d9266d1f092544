"""Drift: Shipyard's ``drift`` against Evidently's ``DataDriftPreset`` on the same data.

Data (seeded, written once to Parquet in a temp folder): a 1,000,000-row reference and a
1,000,000-row current window (``--rows``), 20 features: 14 numeric ``n0``..``n13`` and 6
categorical ``c0``..``c5`` (strings). Seven are shifted in the current window:

    n0  normal, mean +0.25 std           n3  uniform(0, 1) -> uniform(0.1, 1.1)
    n1  normal, std x 1.3                n4  normal, 15 % of rows moved to a mode at +3 std
    n2  lognormal, sigma 0.5 -> 0.65     c0  4 categories, shares .4/.3/.2/.1 -> .3/.3/.2/.2
                                         c1  5 categories, a 6th appears in 8 % of rows

The other 13 (normal, exponential, Poisson counts, a bimodal mixture, a column with 5 %
nulls, categoricals of 2 to 50 categories, one with nulls) have the same distribution on
both sides, each side drawn independently.

Each measurement runs in a fresh child process that reads both Parquet files with pandas
(not timed), collects garbage, notes its RSS ("inputs"), resets the kernel's peak-RSS mark
(``/proc/self/clear_refs``, falling back to ``ru_maxrss`` where that is refused), then
times the call and reports the peak RSS above the inputs.

* Shipyard: ``drift(reference, current)`` with the default tests (at 1M rows: normalised
  Wasserstein for numeric, Jensen-Shannon for categorical); also ``profile(reference)`` and
  ``drift(profile, current)`` (the path of a stored reference profile), after the main call.
  ``--repeat`` child processes (default 3), median time, largest peak.
* Evidently (``pip install evidently pandas<3 pyarrow`` into a throwaway venv,
  ``--evidently-venv``; Evidently 0.7 does not import under pandas 3):
  ``Report([DataDriftPreset()], include_tests=True).run(current, reference)`` on
  ``Dataset.from_pandas`` with the 14 numeric and 6 categorical columns declared; the time
  includes building the two Datasets. Flagged features: its "Value Drift for column X"
  tests that fail. Once (``--evidently-repeat``, default 1: it takes minutes).

Targets: Shipyard < 3 s and >= 50x faster than Evidently, < 1 GB above the inputs, all 7
shifted features flagged and none of the 13 others.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common

NUMERIC = [f"n{i}" for i in range(14)]
CATEGORICAL = [f"c{i}" for i in range(6)]
SHIFTED = ["n0", "n1", "n2", "n3", "n4", "c0", "c1"]
TARGET_SECONDS, TARGET_RATIO, TARGET_RSS_MB = 3.0, 50.0, 1024.0
EVIDENTLY = ["evidently==0.7.23", "pandas<3", "pyarrow"]


def make_side(n: int, seed: int, shifted: bool):  # -> pd.DataFrame
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    s = 1.0 if shifted else 0.0
    cols: dict[str, object] = {
        "n0": rng.normal(0.25 * s, 1.0, n),
        "n1": rng.normal(0.0, 1.0 + 0.3 * s, n),
        "n2": rng.lognormal(0.0, 0.5 + 0.15 * s, n),
        "n3": rng.uniform(0.1 * s, 1.0 + 0.1 * s, n),
    }
    n4 = rng.normal(0.0, 1.0, n)
    if shifted:
        moved = rng.random(n) < 0.15
        n4[moved] = rng.normal(3.0, 0.3, int(moved.sum()))
    cols["n4"] = n4
    cols["n5"] = rng.normal(100.0, 15.0, n)
    cols["n6"] = rng.exponential(2.0, n)
    cols["n7"] = rng.poisson(3.0, n).astype(np.int64)
    cols["n8"] = np.where(rng.random(n) < 0.3, rng.normal(-2, 0.5, n), rng.normal(2, 1.0, n))
    n9 = rng.normal(0.0, 1.0, n)
    n9[rng.random(n) < 0.05] = np.nan
    cols["n9"] = n9
    cols["n10"] = rng.gamma(2.0, 2.0, n)
    cols["n11"] = rng.integers(0, 1_000, n).astype(np.int64)
    cols["n12"] = rng.standard_t(5, n)
    cols["n13"] = rng.beta(2.0, 5.0, n)
    shares0 = [0.3, 0.3, 0.2, 0.2] if shifted else [0.4, 0.3, 0.2, 0.1]
    cols["c0"] = rng.choice(["a", "b", "c", "d"], n, p=shares0)
    labels1 = ["k1", "k2", "k3", "k4", "k5", "k6"]
    shares1 = [0.184, 0.184, 0.184, 0.184, 0.184, 0.08] if shifted else [0.2] * 5 + [0.0]
    cols["c1"] = rng.choice(labels1, n, p=shares1)
    cols["c2"] = rng.choice(["yes", "no"], n, p=[0.7, 0.3])
    cols["c3"] = rng.choice([f"r{i}" for i in range(10)], n)
    zipf = 1.0 / np.arange(1, 51)
    cols["c4"] = rng.choice([f"s{i}" for i in range(50)], n, p=zipf / zipf.sum())
    c5 = rng.choice(["p", "q", "r"], n, p=[0.5, 0.25, 0.25]).astype(object)
    c5[rng.random(n) < 0.02] = None
    cols["c5"] = c5
    return pd.DataFrame(cols)


# -- child processes ------------------------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_mb(reset: bool) -> float:
    if reset:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def _measure(call):  # -> (result, seconds, inputs_mb, peak_mb, reset)
    gc.collect()
    inputs = _rss_mb()
    reset = _reset_peak()
    start = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - start
    return result, seconds, inputs, _peak_mb(reset), reset


def _run_shipyard(ref, cur) -> dict:
    from shipyard.monitoring import drift, profile

    report, seconds, inputs, peak, reset = _measure(lambda: drift(ref, cur))
    prof, prof_seconds, *_ = _measure(lambda: profile(ref))
    from_profile, profile_drift_seconds, *_ = _measure(lambda: drift(prof, cur))
    tests = sorted(set(report.to_df().test))
    return {
        "seconds": seconds,
        "inputs_mb": inputs,
        "peak_mb": peak,
        "peak_reset": reset,
        "flagged": report.drifted_features,
        "tests": tests,
        "profile_seconds": prof_seconds,
        "profile_json_bytes": len(json.dumps(prof.to_json())),
        "profile_drift_seconds": profile_drift_seconds,
        "profile_flagged": from_profile.drifted_features,
    }


def _run_evidently(ref, cur) -> dict:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)

    def call():
        current = Dataset.from_pandas(cur, data_definition=definition)
        reference = Dataset.from_pandas(ref, data_definition=definition)
        return Report([DataDriftPreset()], include_tests=True).run(current, reference)

    snapshot, seconds, inputs, peak, reset = _measure(call)
    prefix = "Value Drift for column "
    flagged, methods = [], set()
    for test in snapshot.dict()["tests"]:
        if test["name"].startswith(prefix):
            if str(getattr(test["status"], "value", test["status"])) == "FAIL":
                flagged.append(test["name"][len(prefix) :])
            methods.add(test["description"].split("method is ")[1].split(".")[0])
    order = NUMERIC + CATEGORICAL
    return {
        "seconds": seconds,
        "inputs_mb": inputs,
        "peak_mb": peak,
        "peak_reset": reset,
        "flagged": sorted(flagged, key=order.index),
        "tests": sorted(methods),
    }


def worker(tool: str, folder: str) -> None:
    import pandas as pd

    ref = pd.read_parquet(Path(folder) / "reference.parquet")
    cur = pd.read_parquet(Path(folder) / "current.parquet")
    result = _run_shipyard(ref, cur) if tool == "shipyard" else _run_evidently(ref, cur)
    print(json.dumps(result))


def child(python: str, tool: str, folder: Path, timeout: float) -> dict:
    done = subprocess.run(
        [python, __file__, "--worker", tool, str(folder)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise SystemExit(f"{tool} child failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- parent ---------------------------------------------------------------------------------


def verdict_flags(flagged: list[str]) -> tuple[list[str], list[str]]:
    missed = [f for f in SHIFTED if f not in flagged]
    false = [f for f in flagged if f not in SHIFTED]
    return missed, false


def describe(label: str, r: dict) -> None:
    missed, false = verdict_flags(r["flagged"])
    print(
        f"  {label}: {r['seconds']:.2f} s, peak {r['peak_mb'] - r['inputs_mb']:,.0f} MB above "
        f"the inputs ({r['inputs_mb']:,.0f} MB), tests {', '.join(r['tests'])}; flagged "
        f"{', '.join(r['flagged']) or 'none'} (missed: {', '.join(missed) or 'none'}; "
        f"not shifted: {', '.join(false) or 'none'})"
    )


def report_lines(sy: list[dict], ev: dict | None) -> list[str]:
    seconds = statistics.median(r["seconds"] for r in sy)
    above = max(r["peak_mb"] - r["inputs_mb"] for r in sy)
    missed, false = verdict_flags(sy[0]["flagged"])
    lines = [
        _common.line(
            "Shipyard drift, 20 features x 1M vs 1M",
            f"{seconds:.2f} s",
            "< 3 s",
            seconds < TARGET_SECONDS,
        ),
        _common.line(
            "Shipyard peak RSS above the inputs",
            f"{above:,.0f} MB",
            "< 1 GB",
            above < TARGET_RSS_MB,
        ),
        _common.line(
            "Shipyard: shifted flagged / others flagged",
            f"{7 - len(missed)}/7, {len(false)}/13",
            "7/7, 0/13",
            not missed and not false,
        ),
    ]
    if ev is not None:
        ratio = ev["seconds"] / seconds
        ev_missed, ev_false = verdict_flags(ev["flagged"])
        lines += [
            _common.line("Evidently DataDriftPreset", f"{ev['seconds']:.1f} s", "(peer)", True),
            _common.line(
                "Evidently / Shipyard time", f"{ratio:,.0f}x", ">= 50x", ratio >= TARGET_RATIO
            ),
            _common.line(
                "Evidently peak RSS above the inputs",
                f"{ev['peak_mb'] - ev['inputs_mb']:,.0f} MB",
                "(peer)",
                True,
            ),
            _common.line(
                "Evidently: shifted flagged / others flagged",
                f"{7 - len(ev_missed)}/7, {len(ev_false)}/13",
                "(peer)",
                True,
            ),
        ]
    return lines


def main() -> None:
    p = _common.parser(__doc__)
    p.add_argument("--rows", type=int, default=1_000_000, help="rows per side")
    p.add_argument("--skip-evidently", action="store_true")
    p.add_argument("--evidently-repeat", type=int, default=1)
    p.add_argument("--evidently-venv", type=Path, default=Path("/tmp/evidently-bench-venv"))
    p.add_argument("--timeout", type=float, default=1800, help="seconds per child process")
    p.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)  # TOOL FOLDER
    args = p.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    import psutil

    busy = psutil.cpu_percent(interval=1.0)
    print(
        f"bench_drift: 20 features x {args.rows:,} current vs {args.rows:,} reference rows; "
        f"{os.cpu_count()} CPUs, {busy:.0f}% busy before the start"
    )
    if busy > 25:
        print("  warning: other work competes for the CPUs; figures will be low and noisy")
    print(f"  shipyard at {_common.source_label()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        make_side(args.rows, 1, shifted=False).to_parquet(folder / "reference.parquet")
        make_side(args.rows, 2, shifted=True).to_parquet(folder / "current.parquet")
        print(f"  wrote the seeded data in {time.perf_counter() - started:.1f} s")
        sy = []
        for t in range(args.repeat):
            sy.append(child(sys.executable, "shipyard", folder, args.timeout))
            describe(f"shipyard trial {t + 1}", sy[-1])
        last = sy[-1]
        print(
            f"  shipyard profile(reference): {last['profile_seconds']:.2f} s, "
            f"{last['profile_json_bytes']:,} bytes of JSON; drift(profile, current): "
            f"{last['profile_drift_seconds']:.2f} s, flagged {', '.join(last['profile_flagged'])}"
        )
        ev = None
        if not args.skip_evidently:
            python = _common.peer_python(args.evidently_venv, "import evidently, pandas", EVIDENTLY)
            print(f"  peer: {_common.versions(python, 'evidently', 'pandas', 'numpy', 'scipy')}")
            runs = []
            for t in range(args.evidently_repeat):
                runs.append(child(python, "evidently", folder, args.timeout))
                describe(f"evidently trial {t + 1}", runs[-1])
            ev = min(runs, key=lambda r: r["seconds"])
    print("\n".join(report_lines(sy, ev)))


if __name__ == "__main__":
    main()
