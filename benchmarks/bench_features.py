"""Feature store: point-in-time training sets and online serving, against pandas and Feast.

Data. Seeded synthetic data, written to Parquet in a temp folder (timestamps in µs, UTC):

* entity rows: ``customer_id`` drawn from 100,000 customers, ``event_timestamp`` uniform
  over 90 days, ``label``; 1,000,000 rows, and its first 100,000 rows as the small case.
* view ``stats``: 1,000,000 rows, ``customer_id``, ``event_timestamp`` uniform over the
  same 90 days plus the 30 days before, ``created`` (event time + up to 1 h), features
  ``f1..f5`` (float64); TTL 30 days. 2 % of the rows are corrections: the same customer
  and event time as another row, a later ``created`` and new values (they must win).
* views ``activity`` (4,000,000 rows, ``a1..a4``), ``billing`` (3,000,000, ``b1..b3``),
  ``support`` (3,000,000, ``s1..s3``): 10,000,000 rows, 10 features, same layout.
* view ``profile`` (online): 1,000,000 distinct ``user_id``, event times in the last day,
  ``p0..p9``.

Offline cases. A child process loads the entity rows with ``pd.read_parquet``, opens
the store and loads the registry (``fs.definitions()``), and only then times
``fs.get_training_set(entity_df, refs).to_df()``, reporting the wall time, its RSS just
before the call (the baseline) and its peak RSS (``ru_maxrss``, which includes the
baseline). Shipyard prepares each view's rows once per (view version, source data) and
keeps them, in memory and under ``<home>/cache``; ``apply`` prepares the views it adds or
changes (``fs.prepare`` does it on demand). Each trial measures:

* **first call, nothing prepared**: a fresh process with the view's prepared rows deleted
  beforehand (what new source data costs when nobody prepared it: reading, sorting and
  de-duplicating the feature rows);
* **repeated call**: the same call again in that process (prepared rows in memory; the
  child first waits for the background write of the first call's entry to finish);
* **apply's added time**: the entry deleted again, a process runs ``fs.prepare(views)``
  (what apply does for a new or changed view, rows written to disk);
* **first call after apply**: then a fresh process's first training set (the entry on
  disk, memory-mapped).

Medians of ``--repeat`` trials, highest peak. The targets (< 1 s and < 1 GB at 1M x 1M,
< 0.3 s at 100k x 1M) and ``>= 20x Feast`` are reported for the first call with nothing
prepared and for the first call after apply (Feast has nothing to reuse: each of its calls
is a first call). The parent's apply is timed in two parts: checks and statistics
(``apply(prepare=False)``), then ``fs.prepare()`` of every view.

1. 1M entity rows x ``stats`` (5 features, 1M rows); 2. the first 100k entity rows;
3. 1M entity rows x ``activity`` + ``billing`` + ``support`` (10 features, 10M rows).
4. pandas: the same case 1 with ``pd.read_parquet`` of the features, a sort and
   ``pd.merge_asof(by="customer_id", tolerance=30 days)`` (features sorted by event time
   then created time, so corrections win), back to input order. Timed: sort + merge +
   reorder (the Parquet read is printed apart). Its result must equal Shipyard's.
5. Feast (``pip install feast`` into a throwaway venv, ``--feast-venv``; a repo with the
   local provider, file offline store and SQLite online store; the same definitions):
   ``store.get_historical_features(entity_df, refs).to_df()`` for case 2, then case 1,
   each once in a child process, with ``--feast-timeout`` and a watchdog that kills it
   above ``--max-rss-gb``. ``--feast-rows N`` uses the first N entity rows instead of case
   1's size (Shipyard is then measured at N too). Feast's file store drops entity rows that
   have no feature row inside the TTL and collapses rows with equal keys and timestamp, so
   the results are compared on the rows Feast returns, keyed by (customer_id,
   event_timestamp): the count of differing values must be 0. Ratio = Feast / Shipyard.

Online, in one child process per backend: ``fs.materialize(start, end, ["profile"])`` of
the 1M rows (rows/s, includes the stats pass materialize does; it picks the latest rows
from the view's prepared rows, which the parent's apply made), then
``fs.get_online_features(10 refs, [1 row])`` ``--calls`` times with random keys (p50,
p99 of each call's wall, after 200 warm-up calls), and 100 rows per call (calls / 5
times); some returned values are checked against the data. SQLite (the default online
store, in SHIPYARD_HOME) and Redis at ``--redis`` (a namespace unique to the run; its keys
are deleted after). Feast: its own materialize into its SQLite online store and the same
reads, in its venv; it materializes only the first ``--feast-online-rows`` users (100,000:
it writes a few thousand rows/s).

``--quick`` divides every size by 10 (a smoke run; the targets stay those of the full
sizes). ``--skip-feast`` measures Shipyard and pandas only.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any

SEED = 20251123
DAY_US = 86_400 * 1_000_000
HOUR_US = 3_600 * 1_000_000
T0_US = 1_735_689_600 * 1_000_000  # 2025-01-01T00:00:00Z
TTL_DAYS = 30
ENTITY_DAYS = 90
CORRECTIONS = 0.02  # share of feature rows that correct an earlier row (same key and time)
WARMUP_CALLS = 200
RESULT = "BENCH-RESULT "
ROW_GROUP = 122_880  # rows per Parquet row group (DuckDB's own default; pyarrow's is 1Mi)

STATS = ["f1", "f2", "f3", "f4", "f5"]
MULTI = {
    "activity": ["a1", "a2", "a3", "a4"],
    "billing": ["b1", "b2", "b3"],
    "support": ["s1", "s2", "s3"],
}
PROFILE = [f"p{i}" for i in range(10)]
VIEWS = {"stats": STATS, **MULTI, "profile": PROFILE}  # every view: its features


@dataclass(frozen=True)
class Sizes:
    entities: int = 1_000_000
    small: int = 100_000
    customers: int = 100_000
    stats_rows: int = 1_000_000
    multi_rows: tuple[int, ...] = (4_000_000, 3_000_000, 3_000_000)
    online_rows: int = 1_000_000

    def scaled(self, k: int) -> Sizes:
        return Sizes(
            *(v // k if isinstance(v, int) else tuple(x // k for x in v) for v in astuple(self))
        )


# -- process helpers (parent and children) ----------------------------------------------


def maxrss() -> int:
    """Peak RSS of this process so far, bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def cpu_seconds() -> float:
    """User + system CPU time of this process (all its threads) so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def current_rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def emit(result: dict[str, Any]) -> None:
    print(RESULT + json.dumps(result), flush=True)


def percentiles(ns: list[int]) -> dict[str, float]:
    import numpy as np

    ms = np.asarray(ns, dtype=np.float64) / 1e6
    return {
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "mean": float(ms.mean()),
        "calls": len(ns),
    }


@dataclass
class ChildResult:
    data: dict[str, Any] | None
    output: str
    wall: float
    watched_peak: int  # highest RSS of the process tree seen by the parent's watchdog
    problem: str = ""  # "timeout after N s", "killed at N GB", "exit code N"


def run_child(
    argv: list[str], env: dict[str, str], timeout: float, max_rss: float, cwd: Path
) -> ChildResult:
    """Run a child, poll its process tree's RSS (kill it above ``max_rss`` bytes or after
    ``timeout`` s), and parse its ``BENCH-RESULT`` line."""
    import psutil

    with tempfile.TemporaryFile("w+") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        watched, problem = 0, ""
        try:
            ps = psutil.Process(proc.pid)
            while proc.poll() is None:
                try:
                    rss = sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)])
                except psutil.Error:
                    rss = 0
                watched = max(watched, rss)
                elapsed = time.perf_counter() - start
                if rss > max_rss or elapsed > timeout:
                    problem = (
                        f"killed at {rss / 1e9:.1f} GB RSS"
                        if rss > max_rss
                        else f"timeout after {timeout:.0f} s"
                    )
                    os.killpg(proc.pid, 9)
                    proc.wait()
                    break
                time.sleep(0.1)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
                proc.wait()
        wall = time.perf_counter() - start
        out.seek(0)
        output = out.read()
    data = None
    for line in output.splitlines():
        if line.startswith(RESULT):
            data = json.loads(line[len(RESULT) :])
    if not problem and proc.returncode != 0:
        problem = f"exit code {proc.returncode}"
    if problem:
        data = None
    return ChildResult(data, output, wall, watched, problem)


# -- data -------------------------------------------------------------------------------


def write_table(path: Path, columns: dict[str, Any]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    ts = pa.timestamp("us", tz="UTC")
    arrays = {
        k: pa.array(v, type=ts) if k in ("event_timestamp", "created") else pa.array(v)
        for k, v in columns.items()
    }
    pq.write_table(pa.table(arrays), path, row_group_size=ROW_GROUP)


def feature_columns(
    rng: Any, n: int, key: str, keys: Any, start_us: int, span_us: int, names: list[str]
) -> dict[str, Any]:
    """n rows of features; CORRECTIONS of them repeat another row's key and event time
    with a later created time; rows in random order."""
    import numpy as np

    ts = start_us + rng.integers(0, span_us, n)
    created = ts + rng.integers(0, HOUR_US, n)
    k = int(n * CORRECTIONS)
    if k:
        orig = rng.choice(n - k, k, replace=False)
        keys[n - k :], ts[n - k :] = keys[orig], ts[orig]
        created[n - k :] = created[orig] + HOUR_US + rng.integers(1, HOUR_US, k)
    order = rng.permutation(n)
    cols = {key: keys[order], "event_timestamp": ts[order], "created": created[order]}
    for name in names:
        cols[name] = rng.standard_normal(n)[order].astype(np.float64)
    return cols


def generate(
    data: Path, sizes: Sizes, extra_entities: list[int], now_us: int, feast_online: int
) -> dict:
    """Write every Parquet file; returns {name: path}. ``profile_feast``: the profile rows
    of users below ``feast_online`` (Feast materializes a few thousand rows/s)."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    data.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    n = sizes.entities
    entities = {
        "customer_id": rng.integers(0, sizes.customers, n),
        "event_timestamp": T0_US + rng.integers(0, ENTITY_DAYS * DAY_US, n),
        "label": rng.integers(0, 2, n),
    }
    for size in sorted({n, sizes.small, *extra_entities}):
        paths[f"entities_{size}"] = data / f"entities_{size}.parquet"
        write_table(paths[f"entities_{size}"], {k: v[:size] for k, v in entities.items()})
    start, span = T0_US - TTL_DAYS * DAY_US, (ENTITY_DAYS + TTL_DAYS) * DAY_US
    views = {"stats": (sizes.stats_rows, STATS)}
    views.update(
        {
            name: (rows, feats)
            for (name, feats), rows in zip(MULTI.items(), sizes.multi_rows, strict=True)
        }
    )
    for name, (rows, feats) in views.items():
        keys = rng.integers(0, sizes.customers, rows)
        cols = feature_columns(rng, rows, "customer_id", keys, start, span, feats)
        paths[name] = data / f"{name}.parquet"
        write_table(paths[name], cols)
        del cols
    rows = sizes.online_rows
    users = rng.permutation(rows).astype(np.int64)
    cols = {"user_id": users, "event_timestamp": now_us - DAY_US + rng.integers(0, DAY_US, rows)}
    cols["created"] = cols["event_timestamp"]
    for name in PROFILE:
        cols[name] = rng.standard_normal(rows)
    paths["profile"] = data / "profile.parquet"
    write_table(paths["profile"], cols)
    if feast_online:
        keep = users < feast_online
        paths["profile_feast"] = data / "profile_feast.parquet"
        write_table(paths["profile_feast"], {k: v[keep] for k, v in cols.items()})
    return paths


# -- Shipyard ---------------------------------------------------------------------------


def shipyard_store(project: str, online_uri: str | None = None) -> Any:
    from shipyard.features import FeatureStore
    from shipyard.tracking import Client

    client = Client(
        uri=os.environ["SHIPYARD_URI"], artifact_uri=os.environ["SHIPYARD_ARTIFACT_URI"]
    )
    return FeatureStore(project, client=client, online_uri=online_uri)


def shipyard_definitions(paths: dict[str, Path]) -> list[Any]:
    from datetime import timedelta

    from shipyard.features import Entity, FeatureView, Field, FileSource, Float64

    customer = Entity("customer", join_keys=["customer_id"])
    user = Entity("user", join_keys=["user_id"])
    objects: list[Any] = [customer, user]
    for name, feats in VIEWS.items():
        source = FileSource(
            name=f"{name}_source", path=str(paths[name]), created_timestamp_column="created"
        )
        objects += [
            source,
            FeatureView(
                name,
                source=source,
                entities=[user if name == "profile" else customer],
                schema=[Field(f, Float64) for f in feats],
                ttl=timedelta(days=TTL_DAYS),
            ),
        ]
    return objects


def child_shipyard_join(a: dict[str, Any]) -> None:
    import duckdb  # noqa: F401  (imports before the baseline)
    import pandas as pd
    import pyarrow  # noqa: F401

    fs = shipyard_store(a["project"])
    fs.definitions()
    entity_df = pd.read_parquet(a["entities"])
    gc.collect()
    before_peak, base = maxrss(), current_rss()
    cpu, start = cpu_seconds(), time.perf_counter()
    df = fs.get_training_set(entity_df, a["refs"]).to_df()
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    peak = maxrss()
    if a.get("save"):
        df.to_parquet(a["save"])
    result = {
        "wall": wall,
        "cpu": cpu,
        "rows": len(df),
        "cols": len(df.columns),
        "base": base,
        "before_peak": before_peak,
        "peak": peak,
    }
    if a.get("again"):
        cache = getattr(fs.context, "prepared", None)  # absent before prepared rows existed
        if cache is not None:
            cache.flush()  # the first call's entry written (also for the next process)
        gc.collect()
        cpu, start = cpu_seconds(), time.perf_counter()
        again = fs.get_training_set(entity_df, a["refs"]).to_df()
        wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        result.update(again=wall, again_cpu=cpu, again_peak=maxrss())
        result["same"] = bool(again.equals(df))
    emit(result)


def child_shipyard_apply(a: dict[str, Any]) -> None:
    """Apply every definition: checks and statistics, then (where apply prepares the
    views' rows) the preparation of each view, timed apart."""
    fs = shipyard_store(a["project"])
    objects = shipyard_definitions({k: Path(v) for k, v in a["paths"].items()})
    t = time.perf_counter()
    if not hasattr(fs, "prepare"):  # before apply prepared anything
        fs.apply(objects)
        emit({"checks": time.perf_counter() - t, "peak": maxrss()})
        return
    fs.apply(objects, prepare=False)
    checks = time.perf_counter() - t
    t = time.perf_counter()
    took = fs.prepare()
    emit(
        {
            "checks": checks,
            "prepare": time.perf_counter() - t,
            "views": took,
            "peak": maxrss(),
        }
    )
    fs.close()


def child_shipyard_prepare(a: dict[str, Any]) -> None:
    """What apply now does for a new or changed view: prepare its rows and write them."""
    fs = shipyard_store(a["project"])
    fs.definitions()
    cpu, start = cpu_seconds(), time.perf_counter()
    took = fs.prepare(a["views"])
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    emit({"wall": wall, "cpu": cpu, "views": took, "peak": maxrss()})


def child_pandas(a: dict[str, Any]) -> None:
    import numpy as np
    import pandas as pd

    entity_df = pd.read_parquet(a["entities"])
    gc.collect()
    before_peak, base = maxrss(), current_rss()
    t0 = time.perf_counter()
    feats = pd.read_parquet(a["features"])
    t1, cpu = time.perf_counter(), cpu_seconds()
    left = entity_df.assign(__row=np.arange(len(entity_df))).sort_values(
        "event_timestamp", kind="stable"
    )
    right = feats.sort_values(["event_timestamp", "created"], kind="stable").drop(columns="created")
    out = pd.merge_asof(
        left, right, on="event_timestamp", by="customer_id", tolerance=pd.Timedelta(days=TTL_DAYS)
    )
    out = out.sort_values("__row").drop(columns="__row").reset_index(drop=True)
    t2, cpu = time.perf_counter(), cpu_seconds() - cpu
    peak = maxrss()
    if a.get("save"):
        out.to_parquet(a["save"])
    emit(
        {
            "wall": t2 - t1,
            "cpu": cpu,
            "read": t1 - t0,
            "rows": len(out),
            "base": base,
            "before_peak": before_peak,
            "peak": peak,
        }
    )


def child_shipyard_online(a: dict[str, Any]) -> None:
    from datetime import UTC, datetime

    import numpy as np
    import pandas as pd

    fs = shipyard_store(a["project"], a["online_uri"])
    fs.definitions()
    start = datetime.fromtimestamp(a["start_us"] / 1e6, UTC)
    end = datetime.fromtimestamp(a["end_us"] / 1e6, UTC)
    t = time.perf_counter()
    written = fs.materialize(start, end, views=["profile"])["profile"]
    mat = time.perf_counter() - t
    refs = [f"profile:{p}" for p in PROFILE]
    rng = np.random.default_rng(SEED + 1)
    n, calls = a["rows"], a["calls"]
    for k in rng.integers(0, n, WARMUP_CALLS).tolist():
        fs.get_online_features(refs, [{"user_id": k}]).to_dict()
    one = []
    keys = rng.integers(0, n, calls).tolist()
    for k in keys:
        s = time.perf_counter_ns()
        fs.get_online_features(refs, [{"user_id": k}]).to_dict()
        one.append(time.perf_counter_ns() - s)
    many = []
    batches = rng.integers(0, n, (calls // 5, 100)).tolist()
    for rows in batches:
        entity_rows = [{"user_id": k} for k in rows]
        s = time.perf_counter_ns()
        got = fs.get_online_features(refs, entity_rows).to_dict()
        many.append(time.perf_counter_ns() - s)
    # check the last batch's values against the data
    data = pd.read_parquet(a["profile"]).set_index("user_id").loc[batches[-1], PROFILE]
    wrong = sum(int(got[p][i] != data[p].iloc[i]) for p in PROFILE for i in range(len(data)))
    emit(
        {
            "materialize_s": mat,
            "written": written,
            "one": percentiles(one),
            "many": percentiles(many),
            "checked": len(data) * len(PROFILE),
            "wrong": wrong,
            "peak": maxrss(),
        }
    )
    if a.get("cleanup"):
        fs.online.drop("profile")
    fs.close()


CHILDREN = {
    "shipyard-join": child_shipyard_join,
    "shipyard-prepare": child_shipyard_prepare,
    "shipyard-apply": child_shipyard_apply,
    "pandas": child_pandas,
    "shipyard-online": child_shipyard_online,
}


# -- Feast (a script for its own venv) --------------------------------------------------

FEAST_YAML = """\
project: bench
registry: {repo}/registry.db
provider: local
offline_store:
  type: file
online_store:
  type: sqlite
  path: {repo}/online.db
entity_key_serialization_version: 3
"""

FEAST_CHILD = r"""
import gc, json, os, resource, sys, time
from datetime import datetime, timedelta, timezone

RESULT = "BENCH-RESULT "


def maxrss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def current_rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def emit(result):
    print(RESULT + json.dumps(result), flush=True)


def pct(ns):
    import numpy as np
    ms = np.asarray(ns, dtype=np.float64) / 1e6
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
            "mean": float(ms.mean()), "calls": len(ns)}


def apply(a):
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64

    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
    objects = [customer, user]
    for name, feats in a["views"].items():
        key = "user_id" if name == "profile" else "customer_id"
        source = FileSource(name=name + "_source", path=a["paths"][name],
                            timestamp_field="event_timestamp", created_timestamp_column="created")
        objects.append(FeatureView(
            name=name, entities=[user if name == "profile" else customer],
            ttl=timedelta(days=a["ttl_days"]), source=source, online=(name == "profile"),
            schema=[Field(name=key, dtype=Int64)] + [Field(name=f, dtype=Float64) for f in feats]))
    t = time.perf_counter()
    FeatureStore(repo_path=a["repo"]).apply(objects)
    emit({"apply_s": time.perf_counter() - t})


def join(a):
    import pandas as pd
    import pytz
    from feast import FeatureStore

    store = FeatureStore(repo_path=a["repo"])
    store.list_feature_views()
    entity_df = pd.read_parquet(a["entities"])
    # Feast's fast path wants pytz.UTC (otherwise it converts row by row): give it that.
    entity_df["event_timestamp"] = entity_df["event_timestamp"].dt.tz_convert(pytz.UTC)
    gc.collect()
    before_peak, base = maxrss(), current_rss()
    cpu, t = cpu_seconds(), time.perf_counter()
    df = store.get_historical_features(entity_df=entity_df, features=a["refs"]).to_df()
    wall, cpu = time.perf_counter() - t, cpu_seconds() - cpu
    peak = maxrss()
    if a.get("save"):
        df.to_parquet(a["save"])
    emit({"wall": wall, "cpu": cpu, "rows": len(df), "base": base, "before_peak": before_peak,
          "peak": peak})


def online(a):
    import numpy as np
    import pandas as pd
    from feast import FeatureStore

    store = FeatureStore(repo_path=a["repo"])
    start = datetime.fromtimestamp(a["start_us"] / 1e6, timezone.utc)
    end = datetime.fromtimestamp(a["end_us"] / 1e6, timezone.utc)
    t = time.perf_counter()
    store.materialize(start, end, feature_views=["profile"])
    mat = time.perf_counter() - t
    refs = ["profile:" + p for p in a["features"]]
    rng = np.random.default_rng(a["seed"])
    n, calls = a["rows"], a["calls"]
    for k in rng.integers(0, n, a["warmup"]).tolist():
        store.get_online_features(features=refs, entity_rows=[{"user_id": k}]).to_dict()
    one = []
    for k in rng.integers(0, n, calls).tolist():
        s = time.perf_counter_ns()
        store.get_online_features(features=refs, entity_rows=[{"user_id": k}]).to_dict()
        one.append(time.perf_counter_ns() - s)
    many = []
    batches = rng.integers(0, n, (max(calls // 5, 20), 100)).tolist()
    for rows in batches:
        s = time.perf_counter_ns()
        got = store.get_online_features(
            features=refs, entity_rows=[{"user_id": k} for k in rows]).to_dict()
        many.append(time.perf_counter_ns() - s)
    data = pd.read_parquet(a["profile"]).set_index("user_id").loc[batches[-1], a["features"]]
    wrong = sum(int(got[p][i] != data[p].iloc[i]) for p in a["features"] for i in range(len(data)))
    emit({"materialize_s": mat, "one": pct(one), "many": pct(many),
          "checked": len(data) * len(a["features"]), "wrong": wrong, "peak": maxrss()})


if __name__ == "__main__":
    {"apply": apply, "join": join, "online": online}[sys.argv[1]](json.loads(sys.argv[2]))
"""


def feast_python(venv: Path) -> str:
    """The venv's python with feast installed (created and installed if needed)."""
    import _common  # on sys.path once main() runs

    return _common.peer_python(venv, "import feast", ["feast"])


# -- results ----------------------------------------------------------------------------


@dataclass
class Row:
    metric: str
    unit: str  # s, ms, MB, rows/s, n, x (a ratio)
    shipyard: float | None
    feast: float | None = None
    pandas: float | None = None
    target: float | None = None
    higher_is_better: bool = False
    note: str = ""  # shown instead of a missing Feast figure
    skipped: bool = False  # not measured on purpose (no verdict)

    @property
    def target_text(self) -> str:
        if self.target is None:
            return ""
        if self.unit == "n":
            return f"= {self.target:,g}"
        unit = {"MB": " MB", "rows/s": " rows/s", "x": "x"}.get(self.unit, " " + self.unit)
        return (">= " if self.higher_is_better else "< ") + f"{self.target:,g}{unit}"

    def ok(self) -> bool | None:
        if self.target is None or (self.skipped and self.shipyard is None):
            return None
        if self.shipyard is None:
            return False
        if self.higher_is_better:
            return self.shipyard >= self.target
        return self.shipyard < self.target if self.unit != "n" else self.shipyard <= self.target

    def ratio(self, other: float | None) -> str:
        if other is None or not self.shipyard or self.unit in ("n", "x"):
            return "-"
        r = self.shipyard / other if self.higher_is_better else other / self.shipyard
        return f"{r:.1f}x" if r < 100 else f"{r:,.0f}x"

    def fmt(self, v: float | None) -> str:
        if v is None:
            return "n/a"
        if self.unit == "s":
            return f"{v:.3f} s" if v < 10 else f"{v:.1f} s"
        if self.unit == "ms":
            return f"{v:.3f} ms" if v < 10 else f"{v:.1f} ms"
        if self.unit == "MB":
            return f"{v:,.0f} MB"
        if self.unit == "rows/s":
            return f"{v:,.0f}/s"
        if self.unit == "x":
            return f"{v:.1f}x"
        return f"{v:,.0f}"

    def cells(self) -> list[str]:
        ok = self.ok()
        feast = self.fmt(self.feast) if self.feast is not None else (self.note or "-")
        return [
            "-" if ok is None else ("PASS" if ok else "MISS"),
            self.metric,
            self.fmt(self.shipyard),
            feast,
            self.ratio(self.feast),
            self.fmt(self.pandas) if self.pandas is not None else "-",
            self.ratio(self.pandas),
            self.target_text,
        ]


def table(rows: list[Row]) -> str:
    head = ["", "metric", "shipyard", "feast", "FE/SY", "pandas", "PD/SY", "target"]
    cells = [head, *(r.cells() for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    right = {2, 3, 4, 5, 6}
    lines = []
    for c in cells:
        parts = [
            c[i].rjust(widths[i]) if i in right else c[i].ljust(widths[i]) for i in range(len(head))
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def mb(b: float | None) -> float | None:
    return None if b is None else b / 1e6


# -- the benchmark ----------------------------------------------------------------------


@dataclass
class Bench:
    args: Any
    sizes: Sizes
    work: Path
    paths: dict[str, Path]
    project: str
    env: dict[str, str]
    notes: list[str] = field(default_factory=list)

    def child(self, kind: str, payload: dict, timeout: float | None = None) -> ChildResult:
        argv = [sys.executable, str(Path(__file__).resolve()), "--child", kind, json.dumps(payload)]
        result = run_child(
            argv, self.env, timeout or self.args.timeout, self.args.max_rss_gb * 1e9, self.work
        )
        if result.data is None:
            print(f"  {kind} failed ({result.problem}):\n{result.output[-3000:]}")
        return result

    def join(self, label: str, entities: int, refs: list[str], save: Path | None) -> dict:
        """Medians of ``--repeat`` trials, each a first call with nothing prepared (cold)
        and its repetition in the same process; then, the entry deleted again, what apply
        adds for the views (a process that prepares them, ``fs.prepare``) and the first
        call after it, in a new process (prepared rows on disk); highest peaks."""
        views = sorted({ref.split(":")[0] for ref in refs})
        root = Path(self.env["SHIPYARD_HOME"]) / "cache" / "features" / self.project
        from shipyard.features import FeatureStore

        prepares = hasattr(FeatureStore, "prepare")  # since apply prepares the views' rows
        trials, warm, prep = [], [], []
        for i in range(self.args.repeat):
            payload = {
                "project": self.project,
                "entities": str(self.paths[f"entities_{entities}"]),
                "refs": refs,
                "save": str(save) if save and i == 0 else None,
                "again": True,
            }
            for view in views:
                shutil.rmtree(root / view, ignore_errors=True)
            r = self.child("shipyard-join", payload)
            if r.data is None:
                return {}
            if not r.data.get("same", True):
                self.notes.append(f"{label}: the repeated call returned other rows")
            trials.append(r.data)
            if prepares:  # else: the first call's entry (written after it) is on disk
                for view in views:
                    shutil.rmtree(root / view, ignore_errors=True)
                r = self.child("shipyard-prepare", {"project": self.project, "views": views})
                if r.data is None:
                    return {}
                prep.append(r.data)
            r = self.child("shipyard-join", {**payload, "save": None, "again": False})
            if r.data is None:
                return {}
            warm.append(r.data)
        out = summarize(label, trials, warm)
        if prep:
            import statistics

            walls = [t["wall"] for t in prep]
            out["prepare"] = statistics.median(walls)
            print(
                f"    apply's added time (fs.prepare({', '.join(views)}) in its own process, "
                f"rows written): {' '.join(f'{w:.3f}' for w in walls)} s (median "
                f"{out['prepare']:.3f}, CPU {statistics.median(t['cpu'] for t in prep):.2f} s; "
                f"peak {max(t['peak'] for t in prep) / 1e6:,.0f} MB)"
            )
        return out

    def pandas(self, save: Path) -> dict:
        trials = []
        for i in range(self.args.repeat):
            payload = {
                "entities": str(self.paths[f"entities_{self.sizes.entities}"]),
                "features": str(self.paths["stats"]),
                "save": str(save) if i == 0 else None,
            }
            r = self.child("pandas", payload)
            if r.data is None:
                return {}
            trials.append(r.data)
        out = summarize("pandas sort + merge_asof, case 1", trials)
        print(
            f"    (pandas read_parquet of the features: "
            f"{min(t['read'] for t in trials):.3f} s, not included)"
        )
        return out


def summarize(label: str, trials: list[dict], warm: list[dict] | None = None) -> dict:
    """Medians (walls, CPU, baseline) and highest peaks; with ``warm`` trials, also the
    repeated call (``again``) and the new process's call (``warm``)."""
    import statistics

    walls = [t["wall"] for t in trials]
    out = {
        "wall": statistics.median(walls),
        "peak": max(t["peak"] for t in trials),
        "base": statistics.median(t["base"] for t in trials),
        "rows": trials[0]["rows"],
        "cpu": statistics.median(t["cpu"] for t in trials),
    }
    first = "first call" if warm else "wall"
    print(
        f"  {label}: {first} {' '.join(f'{w:.3f}' for w in walls)} s (median "
        f"{out['wall']:.3f}, CPU {out['cpu']:.2f} s); "
        f"RSS before the call {out['base'] / 1e6:,.0f} MB, peak {out['peak'] / 1e6:,.0f} MB "
        f"(+{(out['peak'] - out['base']) / 1e6:,.0f} MB); {out['rows']:,} rows"
    )
    if warm:
        again = [t["again"] for t in trials]
        fresh = [t["wall"] for t in warm]
        out.update(
            again=statistics.median(again),
            again_cpu=statistics.median(t["again_cpu"] for t in trials),
            again_peak=max(t["again_peak"] for t in trials),
            warm=statistics.median(fresh),
            warm_cpu=statistics.median(t["cpu"] for t in warm),
            warm_peak=max(t["peak"] for t in warm),
        )
        print(
            f"    repeated call, same process: {' '.join(f'{w:.3f}' for w in again)} s "
            f"(median {out['again']:.3f}, CPU {out['again_cpu']:.2f} s; peak after it "
            f"{out['again_peak'] / 1e6:,.0f} MB); first call after apply (new process, "
            "prepared rows on disk): "
            f"{' '.join(f'{w:.3f}' for w in fresh)} s (median {out['warm']:.3f}, CPU "
            f"{out['warm_cpu']:.2f} s; peak {out['warm_peak'] / 1e6:,.0f} MB)"
        )
    return out


def compare(a: Any, b: Any, features: list[str], key: list[str]) -> dict[str, int]:
    """Inner join on ``key`` (duplicate keys dropped on both sides); differing values."""
    a = a.drop_duplicates(key)
    b = b.drop_duplicates(key)
    both = a[key + features].merge(b[key + features], on=key, suffixes=("_a", "_b"))
    wrong = 0
    for f in features:
        x, y = both[f + "_a"], both[f + "_b"]
        wrong += int((~((x == y) | (x.isna() & y.isna()))).sum())
    return {"compared": len(both), "values": len(both) * len(features), "wrong": wrong}


def explain(sy: Any, fr: Any, features_path: Path) -> dict[str, int]:
    """For rows whose values differ: which feature row did each side pick? Feature rows are
    found by (customer_id, f1) (random floats: unique). Counts rows where Feast picked an
    older version (same event time, earlier created time) of the row Shipyard picked."""
    import pandas as pd

    key = ["customer_id", "event_timestamp"]
    a, b = sy.drop_duplicates(key), fr.drop_duplicates(key)
    both = a[[*key, *STATS]].merge(b[[*key, *STATS]], on=key, suffixes=("_sy", "_fe"))
    differs = pd.Series(False, index=both.index)
    for f in STATS:
        x, y = both[f + "_sy"], both[f + "_fe"]
        differs |= ~((x == y) | (x.isna() & y.isna()))
    diff = both[differs]
    rows = pd.read_parquet(
        features_path, columns=["customer_id", "event_timestamp", "created", "f1"]
    )
    rows = rows.rename(columns={"event_timestamp": "ev", "created": "cr"})
    picked = diff.merge(
        rows.rename(columns={"f1": "f1_sy"}), on=["customer_id", "f1_sy"], how="left"
    )
    picked = picked.merge(
        rows.rename(columns={"f1": "f1_fe"}),
        on=["customer_id", "f1_fe"],
        how="left",
        suffixes=("_sy", "_fe"),
    )
    older = (picked["ev_sy"] == picked["ev_fe"]) & (picked["cr_fe"] < picked["cr_sy"])
    # every compared row whose picked event has more than one version (a correction)
    versions = rows.groupby(["customer_id", "ev"]).size().rename("versions").reset_index()
    pick = (
        both[["customer_id", "f1_sy"]]
        .merge(rows.rename(columns={"f1": "f1_sy"}), on=["customer_id", "f1_sy"])
        .merge(versions, on=["customer_id", "ev"])
    )
    return {
        "rows": len(diff),
        "older_version": int(older.sum()),
        "tied": int((pick["versions"] > 1).sum()),
    }


def run_offline(b: Bench, feast: str | None, rows: list[Row]) -> None:
    s = b.sizes
    stats_refs = [f"stats:{f}" for f in STATS]
    multi_refs = [f"{v}:{f}" for v, feats in MULTI.items() for f in feats]
    out = b.work / "results"
    out.mkdir()
    feast_n = min(b.args.feast_rows or s.entities, s.entities)

    print(
        f"Shipyard get_training_set(...).to_df(), {b.args.repeat} trials per case (a first call "
        "with nothing prepared and its repetition in one process, then apply's preparation "
        "and the first call after it, in new processes):"
    )
    c2 = b.join(f"case 2, {s.small:,} x stats", s.small, stats_refs, out / "sy_small.parquet")
    c1 = b.join(f"case 1, {s.entities:,} x stats", s.entities, stats_refs, out / "sy_big.parquet")
    c3 = b.join(
        f"case 3, {s.entities:,} x 3 views ({sum(s.multi_rows):,} rows)",
        s.entities,
        multi_refs,
        None,
    )
    cf = c1
    if feast and feast_n not in (s.entities, s.small):
        cf = b.join(
            f"case 1 at --feast-rows {feast_n:,}", feast_n, stats_refs, out / "sy_feast.parquet"
        )
    pd_ = b.pandas(out / "pandas.parquet")

    import pandas as pd

    if c1 and pd_:
        check = compare(
            pd.read_parquet(out / "sy_big.parquet"),
            pd.read_parquet(out / "pandas.parquet"),
            STATS,
            ["customer_id", "event_timestamp", "label"],
        )
        print(
            f"  pandas vs Shipyard, case 1: {check['wrong']:,} of {check['values']:,} values differ"
        )
        b.notes.append(f"pandas vs Shipyard (case 1): {check['wrong']} differing values")

    fe: dict[str, dict] = {}
    checks: dict[str, dict] = {}
    if feast:
        print(
            f"Feast get_historical_features(...).to_df(), once per case (timeout "
            f"{b.args.feast_timeout:.0f} s, killed above {b.args.max_rss_gb:g} GB):"
        )
        cases = [
            ("small", s.small, "sy_small.parquet"),
            ("big", feast_n, "sy_big.parquet" if cf is c1 else "sy_feast.parquet"),
        ]
        for name, n, sy_file in cases:
            payload = {
                "repo": str(b.work / "feast_repo"),
                "refs": stats_refs,
                "entities": str(b.paths[f"entities_{n}"]),
                "save": str(out / f"fe_{name}.parquet"),
            }
            r = run_child(
                [feast, str(b.work / "feast_child.py"), "join", json.dumps(payload)],
                b.env,
                b.args.feast_timeout,
                b.args.max_rss_gb * 1e9,
                b.work,
            )
            if r.data is None:
                print(
                    f"  Feast {n:,} rows: {r.problem} (watchdog peak "
                    f"{r.watched_peak / 1e9:.1f} GB)\n{r.output[-2000:]}"
                )
                fe[name] = {"problem": r.problem}
                continue
            fe[name] = r.data
            d = r.data
            print(
                f"  Feast {n:,} x stats: wall {d['wall']:.2f} s (CPU {d['cpu']:.1f} s); RSS before "
                f"{d['base'] / 1e6:,.0f} MB, peak {d['peak'] / 1e6:,.0f} MB; "
                f"{d['rows']:,} rows returned"
            )
            sy = pd.read_parquet(out / sy_file)
            fr = pd.read_parquet(out / f"fe_{name}.parquet")
            check = compare(sy, fr, STATS, ["customer_id", "event_timestamp"])
            matched = int(
                sy.dropna(subset=["f1"])
                .drop_duplicates(["customer_id", "event_timestamp"])
                .shape[0]
            )
            check["matched"] = matched
            if check["wrong"]:
                why = explain(sy, fr, b.paths["stats"])
                check.update(diff_rows=why["rows"], older=why["older_version"])
                print(
                    f"    {why['rows']:,} rows differ; in {why['older_version']:,} of them Feast "
                    "returned an older version of the row Shipyard returned (same customer and "
                    f"event time, earlier created time); {why['tied']:,} compared rows match an "
                    "event that has two versions"
                )
                b.notes.append(
                    f"Feast, {n:,} rows: {why['rows']:,} rows differ from Shipyard, "
                    f"{why['older_version']:,} of them Feast's pick of a superseded "
                    "version (same event time, earlier created time)"
                )
            checks[name] = check
            print(
                f"    vs Shipyard: {check['compared']:,} rows compared ({d['rows']:,} from "
                f"Feast; Shipyard has {matched:,} distinct keyed rows with features), "
                f"{check['wrong']:,} of {check['values']:,} values differ"
            )
            del sy, fr

    def fe_val(name: str, key: str, scale: float = 1.0) -> float | None:
        v = fe.get(name, {}).get(key)
        return None if v is None else v / scale

    def fe_note(name: str) -> str:
        return fe.get(name, {}).get("problem", "") if feast else "skipped"

    big_label = f"{s.entities:,}" if feast_n == s.entities else f"{feast_n:,} (Feast)"
    rows += [
        Row(
            f"case 1: {s.entities:,} x 1 view, first call, wall",
            "s",
            c1.get("wall"),
            fe_val("big", "wall") if feast_n == s.entities else None,
            pd_.get("wall"),
            1.0,
            note=fe_note("big") if feast_n == s.entities else f"see {feast_n:,} row",
        ),
        Row(
            "  peak RSS, first call",
            "MB",
            mb(c1.get("peak")),
            mb(fe_val("big", "peak")) if feast_n == s.entities else None,
            mb(pd_.get("peak")),
            1000,
            note=fe_note("big"),
        ),
        Row(
            "  RSS before the call",
            "MB",
            mb(c1.get("base")),
            mb(fe_val("big", "base")) if feast_n == s.entities else None,
            mb(pd_.get("base")),
        ),
        *reuse_rows(
            c1,
            fe_val("big", "wall") if feast_n == s.entities else None,
            fe_note("big"),
            target=1.0,
        ),
    ]
    if feast and feast_n != s.entities:
        rows += [
            Row(
                f"case 1 at {big_label} rows, wall",
                "s",
                cf.get("wall"),
                fe_val("big", "wall"),
                note=fe_note("big"),
            ),
            Row(
                "  peak RSS",
                "MB",
                mb(cf.get("peak")),
                mb(fe_val("big", "peak")),
                note=fe_note("big"),
            ),
        ]
    rows += [
        Row(
            f"case 2: {s.small:,} x 1 view, first call, nothing prepared, wall",
            "s",
            c2.get("wall"),
            fe_val("small", "wall"),
            target=0.3,
            note=fe_note("small"),
        ),
        Row(
            "  peak RSS, first call",
            "MB",
            mb(c2.get("peak")),
            mb(fe_val("small", "peak")),
            note=fe_note("small"),
        ),
        *reuse_rows(c2, fe_val("small", "wall"), fe_note("small"), target=0.3),
    ]
    feast_small = fe_val("small", "wall")
    for key, label in [
        ("wall", "first call, nothing prepared"),
        ("warm", "first call after apply"),
        ("again", "repeated call"),
    ]:
        ratio = feast_small / c2[key] if feast_small and c2.get(key) else None
        rows.append(
            Row(
                f"  Feast / Shipyard, case 2, {label}",
                "x",
                ratio,
                target=20.0,
                higher_is_better=True,
                skipped=not feast,
            )
        )
    rows += [
        Row(
            f"case 3: {s.entities:,} x 3 views ({sum(s.multi_rows) / 1e6:g}M rows), first call",
            "s",
            c3.get("wall"),
            target=15.0,
        ),
        Row("  peak RSS, first call", "MB", mb(c3.get("peak"))),
        *reuse_rows(c3, None, "-"),
    ]
    for name, check in checks.items():
        n = s.small if name == "small" else feast_n
        rows += [
            Row(
                f"values differing from Feast, {n:,} entity rows ({check['compared']:,} compared)",
                "n",
                check["wrong"],
            ),
            Row(
                "  rows differing, other than Feast's pick of a superseded version",
                "n",
                check.get("diff_rows", 0) - check.get("older", 0),
                target=0,
            ),
        ]


def reuse_rows(
    case: dict, feast: float | None, note: str, target: float | None = None
) -> list[Row]:
    """The repeated call (same process) and the first call after apply (a new process,
    prepared rows on disk) of a case, against Feast's (only) call; ``target``: the first
    call's, for the call after apply too."""
    return [
        Row("  repeated call, same process, wall", "s", case.get("again"), feast, note=note),
        Row(
            "  first call after apply (new process, prepared rows on disk), wall",
            "s",
            case.get("warm"),
            feast,
            target=target,
            note=note,
        ),
        Row("  peak RSS, first call after apply", "MB", mb(case.get("warm_peak"))),
        Row("  apply's added time (preparing the view's rows)", "s", case.get("prepare")),
    ]


def online_available() -> str:
    try:
        from shipyard.features.online import open_online_store  # noqa: F401
    except ImportError as exc:
        return f"online store not importable ({exc})"
    return ""


def redis_cleanup(url: str, namespace: str) -> int:
    """Delete every key that names this run's namespace; returns how many there were."""
    import redis

    client = redis.Redis.from_url(url)
    found = 0
    batch = []
    for key in client.scan_iter(match=f"shipyard:{namespace}:*", count=10_000):
        batch.append(key)
        if len(batch) >= 10_000:
            found += len(batch)
            client.unlink(*batch)
            batch = []
    if batch:
        found += len(batch)
        client.unlink(*batch)
    return found


def run_online(b: Bench, feast: str | None, now_us: int, rows: list[Row]) -> None:
    s = b.sizes
    start_us, end_us = now_us - 2 * DAY_US, now_us + 60 * 1_000_000
    payload = {
        "project": b.project,
        "rows": s.online_rows,
        "calls": b.args.calls,
        "profile": str(b.paths["profile"]),
        "start_us": start_us,
        "end_us": end_us,
    }
    missing = online_available()
    results: dict[str, dict] = {}
    tried: set[str] = set()
    if missing:
        print(f"  Shipyard online: skipped, {missing}")
        b.notes.append(f"Shipyard online skipped: {missing}")
    else:
        backends = [("sqlite", None)]
        if not b.args.skip_redis:
            backends.append(("redis", b.args.redis))
        for name, uri in backends:
            try:
                if name == "redis":
                    import redis

                    redis.Redis.from_url(uri).ping()
            except Exception as exc:
                print(f"  Shipyard online on {name}: skipped, {uri} not reachable ({exc})")
                continue
            tried.add(name)
            try:
                r = b.child(
                    "shipyard-online", {**payload, "online_uri": uri, "cleanup": name == "redis"}
                )
            finally:
                if name == "redis":
                    left = redis_cleanup(uri, b.project)
                    print(f"  redis: {left:,} keys of namespace {b.project} were left; deleted")
            if r.data is None:
                continue
            d = results[name] = r.data
            print(
                f"  Shipyard online, {name}: materialize {d['written']:,} rows in "
                f"{d['materialize_s']:.2f} s ({d['written'] / d['materialize_s']:,.0f} rows/s); "
                f"1 entity p50 {d['one']['p50']:.3f} ms p99 {d['one']['p99']:.3f} ms; "
                f"100 entities p50 {d['many']['p50']:.3f} ms p99 {d['many']['p99']:.3f} ms; "
                f"{d['wrong']} of {d['checked']} checked values wrong; "
                f"peak RSS {d['peak'] / 1e6:,.0f} MB"
            )
    fe: dict[str, Any] = {}
    if feast:
        fn = min(b.args.feast_online_rows, s.online_rows)
        fpay = {
            "repo": str(b.work / "feast_repo"),
            "rows": fn,
            "seed": SEED + 1,
            "calls": b.args.feast_calls,
            "warmup": WARMUP_CALLS,
            "features": PROFILE,
            "profile": str(b.paths["profile_feast"]),
            "start_us": start_us,
            "end_us": end_us,
        }
        r = run_child(
            [feast, str(b.work / "feast_child.py"), "online", json.dumps(fpay)],
            b.env,
            b.args.feast_timeout,
            b.args.max_rss_gb * 1e9,
            b.work,
        )
        if r.data is None:
            print(f"  Feast online: {r.problem}\n{r.output[-2000:]}")
            fe = {"problem": r.problem}
        else:
            fe = {**r.data, "rows": fn}
            print(
                f"  Feast online, sqlite: materialize {fn:,} rows in "
                f"{fe['materialize_s']:.2f} s ({fn / fe['materialize_s']:,.0f} rows/s); "
                f"1 entity p50 {fe['one']['p50']:.3f} ms p99 {fe['one']['p99']:.3f} ms; "
                f"100 entities p50 {fe['many']['p50']:.3f} ms p99 {fe['many']['p99']:.3f} ms "
                f"({fe['one']['calls']} / {fe['many']['calls']} calls); {fe['wrong']} of "
                f"{fe['checked']} checked values wrong"
            )
    note = fe.get("problem", "") if feast else "skipped"

    def rate(d: dict) -> float | None:
        return d["written"] / d["materialize_s"] if d else None

    sq, rd = results.get("sqlite", {}), results.get("redis", {})
    fe_rate = fe["rows"] / fe["materialize_s"] if "materialize_s" in fe else None

    def lat(d: dict, kind: str, p: str) -> float | None:
        return d[kind][p] if d else None

    nq, nr = "sqlite" not in tried, "redis" not in tried
    fe_rows = f" (Feast: {fe['rows']:,})" if fe.get("rows", s.online_rows) != s.online_rows else ""
    rows += [
        Row(
            f"materialize {s.online_rows:,} rows -> SQLite{fe_rows}",
            "rows/s",
            rate(sq),
            fe_rate,
            target=200_000,
            higher_is_better=True,
            note=note,
            skipped=nq,
        ),
        Row(
            f"materialize {s.online_rows:,} rows -> Redis",
            "rows/s",
            rate(rd),
            target=300_000,
            higher_is_better=True,
            skipped=nr,
        ),
        Row(
            "online 1 entity x 10 features, SQLite p50",
            "ms",
            lat(sq, "one", "p50"),
            lat(fe, "one", "p50"),
            note=note,
        ),
        Row(
            "  p99",
            "ms",
            lat(sq, "one", "p99"),
            lat(fe, "one", "p99"),
            target=0.2,
            note=note,
            skipped=nq,
        ),
        Row("online 1 entity x 10 features, Redis p50", "ms", lat(rd, "one", "p50")),
        Row("  p99", "ms", lat(rd, "one", "p99"), target=1.0, skipped=nr),
        Row(
            "online 100 entities x 10 features, SQLite p50",
            "ms",
            lat(sq, "many", "p50"),
            lat(fe, "many", "p50"),
            note=note,
        ),
        Row(
            "  p99",
            "ms",
            lat(sq, "many", "p99"),
            lat(fe, "many", "p99"),
            target=2.0,
            note=note,
            skipped=nq,
        ),
        Row("online 100 entities x 10 features, Redis p50", "ms", lat(rd, "many", "p50")),
        Row("  p99", "ms", lat(rd, "many", "p99")),
    ]
    for name, d in results.items():
        if d["wrong"]:
            b.notes.append(f"online {name}: {d['wrong']} of {d['checked']} values wrong")


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        CHILDREN[sys.argv[2]](json.loads(sys.argv[3]))
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _common

    p = _common.parser(__doc__)
    p.add_argument("--quick", action="store_true", help="every size / 10 (smoke run)")
    p.add_argument("--skip-feast", action="store_true", help="measure Shipyard and pandas only")
    p.add_argument(
        "--feast-rows", type=int, help="entity rows of Feast's big case (default: case 1's)"
    )
    p.add_argument(
        "--feast-venv",
        type=Path,
        default=Path("/tmp/feast-bench-venv"),
        help="venv for Feast, created and installed if needed, kept (default %(default)s)",
    )
    p.add_argument("--feast-timeout", type=float, default=600, help="seconds per Feast child")
    p.add_argument("--feast-calls", type=int, help="Feast online calls (default: --calls / 5)")
    p.add_argument(
        "--feast-online-rows",
        type=int,
        default=100_000,
        help="rows Feast materializes (default %(default)s; it does ~2,000 rows/s)",
    )
    p.add_argument("--max-rss-gb", type=float, default=20.0, help="kill a child above this RSS")
    p.add_argument("--timeout", type=float, default=600, help="seconds per Shipyard child")
    p.add_argument("--calls", type=int, help="online calls of 1 entity (default 5000; quick 1000)")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="Redis for the online case")
    p.add_argument("--skip-redis", action="store_true")
    p.add_argument("--skip-online", action="store_true")
    p.add_argument("--skip-offline", action="store_true", help="online cases only")
    p.add_argument("--dir", help="parent folder of the temp folder (default: the system's)")
    args = p.parse_args()
    sizes = Sizes().scaled(10) if args.quick else Sizes()
    args.calls = args.calls or (1_000 if args.quick else 5_000)
    args.feast_calls = args.feast_calls or max(args.calls // 5, 100)
    if args.quick:
        args.feast_rows = args.feast_rows and args.feast_rows // 10
        args.feast_online_rows //= 10

    _common.header("bench_features: point-in-time joins and online reads", args.uri)
    print(
        f"  shipyard at {_common.source_label()}; "
        f"{_common.versions(sys.executable, 'shipyard', 'duckdb', 'pandas', 'pyarrow', 'numpy')}; "
        f"Python {sys.version.split()[0]}" + ("; QUICK sizes (/10)" if args.quick else "")
    )
    rows: list[Row] = []
    with contextlib.ExitStack() as stack:
        work = Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-features-", dir=args.dir))
        )
        stack.enter_context(_common.bench_store(args.uri, args.dir))
        now_us = time.time_ns() // 1000
        t = time.perf_counter()
        extra = [min(args.feast_rows, sizes.entities)] if args.feast_rows else []
        feast_online = 0 if args.skip_feast else min(args.feast_online_rows, sizes.online_rows)
        paths = generate(work / "data", sizes, extra, now_us, feast_online)
        size = sum(p.stat().st_size for p in paths.values())
        print(
            f"  data: {len(paths)} Parquet files, {size / 1e6:,.0f} MB, written in "
            f"{time.perf_counter() - t:.1f} s"
        )

        project = f"sybench_{secrets.token_hex(4)}"
        b = Bench(args, sizes, work, paths, project, dict(os.environ))
        # in a child: the parent stays small (a child's ru_maxrss starts at its parent's
        # RSS when it forks)
        payload = {"project": project, "paths": {k: str(v) for k, v in paths.items()}}
        r = b.child("shipyard-apply", payload)
        if r.data is None:
            raise SystemExit("shipyard apply failed")
        d = r.data
        if "prepare" in d:
            print(
                f"  shipyard apply: {d['checks'] + d['prepare']:.2f} s; checks + stats over "
                f"{len(VIEWS)} sources {d['checks']:.2f} s, then preparing each view's rows "
                f"(what apply now adds) {d['prepare']:.2f} s ("
                + ", ".join(f"{k} {v:.2f} s" for k, v in d["views"].items())
                + f"; peak RSS {d['peak'] / 1e6:,.0f} MB); project {project}"
            )
        else:
            print(
                f"  shipyard apply (checks + stats over {len(VIEWS)} sources): "
                f"{d['checks']:.2f} s; project {project}"
            )

        feast = None
        if not args.skip_feast:
            feast = feast_python(args.feast_venv.resolve())
            print(
                "  feast venv: "
                + _common.versions(feast, "feast", "pandas", "pyarrow", "dask", "numpy")
            )
            (work / "feast_child.py").write_text(FEAST_CHILD)
            repo = work / "feast_repo"
            repo.mkdir()
            (repo / "feature_store.yaml").write_text(FEAST_YAML.format(repo=repo))
            views = VIEWS
            fpaths = {k: str(v) for k, v in paths.items()}
            fpaths["profile"] = fpaths["profile_feast"]
            fpay = {"repo": str(repo), "views": views, "ttl_days": TTL_DAYS, "paths": fpaths}
            r = run_child(
                [feast, str(work / "feast_child.py"), "apply", json.dumps(fpay)],
                b.env,
                600,
                args.max_rss_gb * 1e9,
                work,
            )
            if r.data is None:
                raise SystemExit(f"feast apply failed ({r.problem}):\n{r.output[-3000:]}")
            print(f"  feast apply: {r.data['apply_s']:.2f} s")

        if not args.skip_offline:
            run_offline(b, feast, rows)
        if not args.skip_online:
            print("Online:")
            run_online(b, feast, now_us, rows)

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n  load average at the end (1, 5, 15 min): {load} on {os.cpu_count()} CPUs")
    print(table(rows))
    for note in b.notes:
        print(f"  note: {note}")


if __name__ == "__main__":
    main()
