"""Artifact throughput: put and get of a 1 GiB file, against ``cp`` on the same disk.

Method:

* A 1 GiB file of ``os.urandom`` bytes (8 MiB chunks) is written into a temp folder that
  also holds the shipyard home (SQLite file, blobs), so every copy stays on one disk.
  ``--dir`` picks where that folder goes (default: the system temp folder).
* Every timed operation starts from the same cache state: ``os.sync()`` first (no dirty
  pages left over from the previous step), source in the page cache (read in full just
  before), destination a new file, and the output of the same step of the previous trial
  deleted just before the clock starts, so that every step writes into just-freed page
  cache. This VM hands freed memory back to its host (virtio-balloon free page reporting,
  DAMON reclaim) and touching such memory again costs ~2 s/GiB, more than the copy itself;
  without this, a step's time depends on the order of the steps, not on its code.
* ``cp``: ``subprocess.run(["cp", src, dst])``, timed around the call.
* put: ``client.log_artifact(run_id, src)`` in a child process that does only that, into
  a fresh blob store per trial (so it copies, never dedups); get:
  ``client.download_artifacts(run_id, name, dst)`` (verifies the sha256), likewise. The
  child times the call itself (interpreter start-up and imports excluded) and reports its
  peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, whole process), with the
  peak before the call (imports, open store) alongside.
* By default nothing is fsynced, by cp or by shipyard: all three measure read from page
  cache, write to page cache (plus hashing for shipyard), i.e. the CPU cost shipyard adds.
  ``--sync`` puts an ``os.sync()`` inside each timed region instead (throughput to disk).
* One untimed warm-up trial (cp, put, get), then ``--repeat`` trials; for each operation
  the best (shortest) time is reported: the VM's memory and disk add one-sided noise (a
  copy is never faster than it can be, often slower), and every trial is printed.
  All big files are deleted at the end with the temp folder.

Targets: put and get each >= 50% of cp's MiB/s; peak RSS < 200 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import _common

import shipyard

MIB = 1024 * 1024
CHUNK = 8 * MIB
TARGET_RATIO = 0.5
TARGET_RSS_MB = 200


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def worker(op: str, run_id: str, path: str, free: str, sync: bool) -> None:
    """Child process: one put or get; prints its time and peak memory as JSON."""
    client = shipyard.Client()
    client.get_run(run_id)  # open the store before the clock starts
    before = peak_rss_mb()
    remove(Path(free))
    start = time.perf_counter()
    if op == "put":
        client.log_artifact(run_id, path)
    else:
        client.download_artifacts(run_id, "random.bin", path)
    if sync:
        os.sync()
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rss_before_mb": before, "peak_rss_mb": peak_rss_mb()}))


def child(op: str, run_id: str, path: Path, free: Path, blobs: Path, sync: bool) -> dict:
    os.sync()
    argv = [sys.executable, __file__, "--worker", op, run_id, str(path), str(free)]
    done = subprocess.run(
        [*argv, "--sync"] if sync else argv,
        env={**os.environ, "SHIPYARD_ARTIFACT_URI": str(blobs)},
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def timed_cp(src: Path, dst: Path, free: Path, sync: bool) -> float:
    os.sync()
    remove(free)
    start = time.perf_counter()
    subprocess.run(["cp", str(src), str(dst)], check=True)
    if sync:
        os.sync()
    return time.perf_counter() - start


def warm(*paths: Path) -> None:
    """Read files in full so that the timed copy reads them from the page cache."""
    for path in paths:
        with path.open("rb") as handle:
            while handle.read(CHUNK):
                pass


def make_file(path: Path, size: int) -> None:
    with path.open("wb") as out:
        for start in range(0, size, CHUNK):
            out.write(os.urandom(min(CHUNK, size - start)))


def trial(home: Path, t: int, run_id: str, size: int, sync: bool) -> tuple[float, dict, dict]:
    """cp, put, get; each first frees the output of the same step of trial t - 1."""
    src, blobs, got = home / "random.bin", home / f"blobs-{t}", home / f"get-{t}"
    warm(src)
    cp = timed_cp(src, home / f"cp-{t}.bin", home / f"cp-{t - 1}.bin", sync)
    warm(src)
    put = child("put", run_id, src, home / f"blobs-{t - 1}", blobs, sync)
    warm(*(f for f in blobs.rglob("*") if f.is_file()))
    get = child("get", run_id, got, home / f"get-{t - 1}", blobs, sync)
    if (got / "random.bin").stat().st_size != size:
        raise SystemExit("download_artifacts wrote the wrong number of bytes")
    print(
        f"  trial {t if t else 'warm-up'}: cp {cp:.2f} s, put {put['seconds']:.2f} s "
        f"(peak {put['peak_rss_mb']:.0f} MB), get {get['seconds']:.2f} s "
        f"(peak {get['peak_rss_mb']:.0f} MB)"
    )
    return cp, put, get


def report(size: int, results: list[tuple[float, dict, dict]]) -> list[str]:
    mib = size / MIB
    cp_rate = mib / min(cp for cp, _, _ in results)
    lines = [f"      cp: {cp_rate:,.0f} MiB/s (best of {len(results)})"]
    for i, label in ((1, "put (log_artifact)"), (2, "get (download_artifacts)")):
        rate = mib / min(r[i]["seconds"] for r in results)
        peak = max(r[i]["peak_rss_mb"] for r in results)
        before = max(r[i]["rss_before_mb"] for r in results)
        lines.append(
            _common.line(
                f"{label} MiB/s vs cp",
                f"{rate:,.0f} MiB/s = {rate / cp_rate:.0%}",
                f">= {TARGET_RATIO:.0%} of cp",
                rate >= TARGET_RATIO * cp_rate,
            )
        )
        lines.append(
            _common.line(
                f"{label} peak RSS",
                f"{peak:.0f} MB ({before:.0f} before)",
                f"< {TARGET_RSS_MB} MB",
                peak < TARGET_RSS_MB,
            )
        )
    return lines


def main() -> None:
    p = _common.parser(__doc__)
    p.set_defaults(repeat=5)
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--dir", help="parent of the temp folder (default: system temp folder)")
    p.add_argument("--sync", action="store_true", help="include os.sync() in each timing")
    p.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)  # OP RUN_ID PATH FREE
    args = p.parse_args()
    if args.worker:
        worker(*args.worker, sync=args.sync)
        return
    size = args.size_mib * MIB
    mode = "to disk (os.sync timed)" if args.sync else "page cache (no fsync)"
    _common.header(f"bench_artifacts: {args.size_mib:,} MiB file, {mode}", args.uri)
    with _common.bench_store(args.uri, args.dir) as home:
        need = 5 * size
        if shutil.disk_usage(home).free < need + 2 * 1024 * MIB:
            raise SystemExit(f"{home}: need {need / MIB:,.0f} MiB free plus 2 GiB headroom")
        started = time.perf_counter()
        make_file(home / "random.bin", size)
        print(f"  wrote {home / 'random.bin'} in {time.perf_counter() - started:.1f} s")
        client = shipyard.Client()
        run_id = client.create_run("bench", "artifacts").id
        trial(home, 0, run_id, size, args.sync)  # warm-up, not reported
        results = [trial(home, t, run_id, size, args.sync) for t in range(1, args.repeat + 1)]
        client.end_run(run_id)
        client.close()
    print("\n".join(report(size, results)))


if __name__ == "__main__":
    main()
