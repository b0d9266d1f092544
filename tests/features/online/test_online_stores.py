"""The online store contract: the same tests on SQLite and on a real Redis.

Redis tests skip when no server answers at SHIPYARD_TEST_REDIS_URI (default
redis://127.0.0.1:6379/15), except with SHIPYARD_TEST_SERVICES=1 (CI), where an
unreachable server fails them. Each test gets its own namespace, deleted afterwards.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shipyard.errors import InvalidArgument, MissingExtra, StoreUnavailable
from shipyard.features.online import OnlineRow, OnlineStore, open_online_store
from shipyard.features.online import sqlite as sqlite_backend
from shipyard.features.online.base import ONLINE_STORES, encode_namespace, read_many

StoreFactory = Callable[[str], OnlineStore]


def _delete_namespace(uri: str, namespace: str) -> None:
    import redis

    client = redis.Redis.from_url(uri)
    names = list(client.scan_iter(match=f"shipyard:{encode_namespace(namespace)}:*", count=1000))
    for start in range(0, len(names), 1000):
        client.unlink(*names[start : start + 1000])
    client.close()


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.services)])
def backend_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'online' / 'online.db'}"
    uri: str = request.getfixturevalue("redis_uri")
    return uri


@pytest.fixture
def make_store(backend_uri: str) -> Iterator[StoreFactory]:
    """Opens stores on this test's backend, under namespaces unique to this test."""
    opened: list[tuple[str, OnlineStore]] = []
    token = uuid.uuid4().hex[:10]

    def make(namespace: str) -> OnlineStore:
        full = f"test-{token}-{namespace}"
        store = open_online_store(backend_uri, full)
        opened.append((full, store))
        return store

    yield make
    for namespace, store in opened:
        store.close()
        if backend_uri.startswith("redis"):
            _delete_namespace(backend_uri, namespace)


@pytest.fixture
def store(make_store: StoreFactory) -> OnlineStore:
    return make_store("main")


def payloads_of(rows: list[OnlineRow | None]) -> list[str | None]:
    return [None if row is None else row.payload for row in rows]


def as_lists(keys: list[str], ts: list[int], payloads: list[str]) -> tuple[Any, Any, Any]:
    return keys, ts, payloads


def as_arrow(keys: list[str], ts: list[int], payloads: list[str]) -> tuple[Any, Any, Any]:
    """The form a materialization hands over (Redis packs it in bulk)."""
    import pyarrow as pa

    return pa.array(keys), pa.array(ts, pa.int64()), pa.array(payloads)


FORMS = pytest.mark.parametrize("form", [as_lists, as_arrow], ids=["lists", "arrow"])


# -- the contract ----------------------------------------------------------------------


def test_round_trip(store: OnlineStore) -> None:
    keys = ["1", "driver:2", "ünïcödé 3"]
    payloads = ['{"a": 1.5}', '{"a": null}', '{"s": "x:y"}']
    assert store.write("driver_stats", keys, [10, 20, 30], payloads) == 3
    assert store.read("driver_stats", keys) == [
        OnlineRow(10, payloads[0]),
        OnlineRow(20, payloads[1]),
        OnlineRow(30, payloads[2]),
    ]
    assert store.read("driver_stats", ["driver:2"]) == [OnlineRow(20, '{"a": null}')]
    assert store.read("driver_stats", []) == []


def test_missing_keys_are_none_in_order(store: OnlineStore) -> None:
    store.write("v", ["a", "b"], [1, 2], ["A", "B"])
    rows = store.read("v", ["b", "missing", "a", "b", "also missing"])
    assert payloads_of(rows) == ["B", None, "A", "B", None]
    assert store.read("never_written", ["a", "b"]) == [None, None]
    assert store.read("never_written", ["a"]) == [None]


def test_many_keys_in_one_read(store: OnlineStore) -> None:
    keys = [f"k{i}" for i in range(12_000)]  # beyond every backend's per-query batch
    store.write("v", keys[::2], list(range(0, 12_000, 2)), keys[::2])
    rows = store.read("v", keys)
    assert [row and row.event_ts for row in rows] == [
        i if i % 2 == 0 else None for i in range(12_000)
    ]


def test_newer_wins_older_is_ignored_equal_replaces(store: OnlineStore) -> None:
    store.write("v", ["k"], [100], ["first"])
    store.write("v", ["k"], [200], ["newer"])
    assert store.read("v", ["k"]) == [OnlineRow(200, "newer")]
    store.write("v", ["k"], [150], ["late backfill"])
    assert store.read("v", ["k"]) == [OnlineRow(200, "newer")]
    store.write("v", ["k"], [200], ["same time, rewritten"])
    assert store.read("v", ["k"]) == [OnlineRow(200, "same time, rewritten")]


@pytest.mark.parametrize(
    ("stored", "incoming", "kept"),
    [
        (10, 9, 10),  # different lengths: numbers, not text, decide
        (9, 10, 10),
        (-5, -10, -5),  # before 1970
        (-10, 3, 3),
        (2**62, 2**62 - 1, 2**62),  # beyond a double's precision
        (2**62 - 1, 2**62, 2**62),
    ],
)
def test_event_times_compare_as_integers(
    store: OnlineStore, stored: int, incoming: int, kept: int
) -> None:
    store.write("v", ["k"], [stored], [f"at {stored}"])
    store.write("v", ["k"], [incoming], [f"at {incoming}"])
    assert store.read("v", ["k"]) == [OnlineRow(kept, f"at {kept}")]


@pytest.fixture
def tiny_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two rows per transaction / Redis command, so that rows of one write meet across
    batches."""
    monkeypatch.setattr(sqlite_backend, "WRITE_CHUNK", 2)
    monkeypatch.setattr(sqlite_backend, "ROWS_PER_INSERT", 1)
    try:
        from shipyard.features.online import redis as redis_backend
    except MissingExtra:
        return
    monkeypatch.setattr(redis_backend, "WRITE_BATCH", 2)


@FORMS
@pytest.mark.usefixtures("tiny_batches")
def test_duplicate_keys_in_one_write_follow_input_order(store: OnlineStore, form: Any) -> None:
    keys = ["b", "a", "c", "a", "b", "a", "b"]
    ts = [5, 5, 1, 5, 9, 4, 8]
    payloads = ["b1", "a1", "c1", "a2", "b2", "a-old", "b-old"]
    assert store.write("v", *form(keys, ts, payloads)) == 7
    assert store.read("v", ["a", "b", "c"]) == [
        OnlineRow(5, "a2"),
        OnlineRow(9, "b2"),
        OnlineRow(1, "c1"),
    ]


@FORMS
@pytest.mark.usefixtures("tiny_batches")
def test_a_write_that_meets_stored_rows_midway(store: OnlineStore, form: Any) -> None:
    # Redis sends batches of new keys as MSETNX and falls back to the script at the first
    # stored key: [c, x] finds x, while [c, e] (sent before the reply) finds nothing.
    store.write("v", ["x"], [1], ["x1"])
    keys = ["a", "b", "c", "x", "c", "e", "a", "f"]
    ts = [5, 5, 5, 0, 5, 5, 5, 5]
    payloads = ["a-first", "b", "c-first", "x-stale", "c-second", "e", "a-second", "f"]
    store.write("v", *form(keys, ts, payloads))
    assert payloads_of(store.read("v", ["a", "b", "c", "e", "f", "x"])) == [
        "a-second",
        "b",
        "c-second",
        "e",
        "f",
        "x1",
    ]


@FORMS
def test_duplicate_keys_in_one_batch_follow_input_order(store: OnlineStore, form: Any) -> None:
    store.write("v", *form(["a", "c"], [7, 7], ["a7", "c7"]))
    keys = ["a", "b", "a", "a", "b", "c", "c"]
    ts = [9, 1, 5, 9, 0, 8, 6]
    payloads = ["a9", "b1", "a5", "a9 again", "b0", "c8", "c6"]
    store.write("v", *form(keys, ts, payloads))
    assert store.read("v", ["a", "b", "c"]) == [
        OnlineRow(9, "a9 again"),
        OnlineRow(1, "b1"),
        OnlineRow(8, "c8"),
    ]


def test_sqlite_statements_of_several_rows_keep_input_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three rows per INSERT: duplicates within a statement, across statements and in the
    last, shorter one, against stored rows."""
    monkeypatch.setattr(sqlite_backend, "ROWS_PER_INSERT", 3)
    store = open_online_store(f"sqlite:///{tmp_path / 'online.db'}", "p")
    store.write("v", ["d"], [6], ["d-stored"])
    keys = ["a", "a", "b", "b", "c", "a", "d", "c", "b", "a"]
    ts = [1, 2, 5, 4, 3, 2, 5, 3, 6, 1]
    payloads = ["a1", "a2", "b5", "b4", "c3", "a2-again", "d-older", "c3-again", "b6", "a1-late"]
    assert store.write("v", keys, ts, payloads) == 10
    assert payloads_of(store.read("v", ["a", "b", "c", "d"])) == [
        "a2-again",
        "b6",
        "c3-again",
        "d-stored",
    ]
    store.close()


def test_numpy_and_other_sequences_are_accepted(store: OnlineStore) -> None:
    keys = np.array(["x", "y"], dtype=object)
    store.write("v", keys, np.array([7, 8], dtype=np.int64), ("X", "Y"))
    store.write("v", iter(["z"]), [np.int32(9)], ["Z"])
    assert store.read("v", np.array(["x", "y", "z"])) == [
        OnlineRow(7, "X"),
        OnlineRow(8, "Y"),
        OnlineRow(9, "Z"),
    ]
    assert all(type(row.event_ts) is int for row in store.read("v", ["x", "z"]) if row)


@pytest.mark.parametrize(
    ("keys", "ts", "payloads", "message"),
    [
        (["a", "b"], [1], ["A", "B"], "differ in length"),
        (["a"], [1.5], ["A"], "event_ts must be integers"),
        (["a"], ["1"], ["A"], "event_ts must be integers"),
        ([1], [1], ["A"], "keys must be strings"),
        ([None], [1], ["A"], "keys must be strings"),
        (["a"], [1], [{"x": 1}], "payloads must be strings"),
    ],
)
def test_bad_rows_are_refused(
    store: OnlineStore, keys: list, ts: list, payloads: list, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        store.write("v", keys, ts, payloads)
    assert store.read("v", ["a"]) == [None]  # nothing was written


def test_arrow_columns_are_written_as_lists_are(store: OnlineStore) -> None:
    """Several batches, and several of the blocks Redis renders at a time (the last one
    short), rows not in key order; multi-byte keys and payloads (lengths are in bytes);
    chunked and string_view arrays; a key stored already, newer, in the third block (it
    stays); then a second write over stored rows, some older, some newer."""
    import pyarrow as pa

    n = 10_500
    keys = [f"ké{i}:x" for i in range(n)]
    ts = [1_000 + i for i in range(n)]
    payloads = [f'{{"v": "€{i}", "s": "a:b"}}' for i in range(n)]
    order = [(i * 7919) % n for i in range(n)]  # a permutation (7919 is prime to n)
    stored = keys[order[9_001]]
    for table in ("arrow", "lists"):
        store.write(table, [stored], [5_000_000], ["stored, newer"])
    arrow_keys = pa.chunked_array(
        [[keys[i] for i in order[:1000]], [keys[i] for i in order[1000:]]]
    )
    arrow_ts = pa.array([ts[i] for i in order])
    arrow_payloads = pa.array([payloads[i] for i in order]).cast(pa.string_view())
    assert store.write("arrow", arrow_keys, arrow_ts, arrow_payloads) == n
    store.write("lists", keys, ts, payloads)
    assert store.read("arrow", [stored]) == [OnlineRow(5_000_000, "stored, newer")]
    store.write("lists", [stored], [ts[order[9_001]]], [payloads[order[9_001]]])  # older
    store.write("arrow", [stored], [ts[order[9_001]]], [payloads[order[9_001]]])
    assert store.read("arrow", keys) == store.read("lists", keys)
    assert store.read("arrow", ["ké7:x"]) == [OnlineRow(1_007, '{"v": "€7", "s": "a:b"}')]
    again = [1_000 + i + (1 if i % 2 else -1) for i in range(n)]  # odd rows newer
    store.write("arrow", *as_arrow(keys, again, ["new"] * n))
    store.write("lists", keys, again, ["new"] * n)
    rows = store.read("arrow", keys)
    assert rows == store.read("lists", keys)
    assert [r and r.payload == "new" for r in rows[:4]] == [False, True, False, True]


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ((["a", None], [1, 2], ["A", "B"]), "keys must be strings"),
        ((["a"], [1.5], ["A"]), "event_ts must be integers"),
        ((["a", "b"], [1], ["A", "B"]), "differ in length"),
    ],
)
def test_bad_arrow_columns_are_refused(store: OnlineStore, columns: tuple, message: str) -> None:
    import pyarrow as pa

    with pytest.raises(InvalidArgument, match=message):
        store.write("v", *(pa.array(c) for c in columns))
    assert store.read("v", ["a"]) == [None]


def test_empty_write(store: OnlineStore) -> None:
    assert store.write("v", [], [], []) == 0
    assert store.read("v", ["a"]) == [None]


def test_namespaces_are_isolated(make_store: StoreFactory) -> None:
    first, second = make_store("proj-a"), make_store("proj-b")
    first.write("v", ["k"], [1], ["from a"])
    second.write("v", ["k"], [2], ["from b"])
    assert payloads_of(first.read("v", ["k"])) == ["from a"]
    assert payloads_of(second.read("v", ["k"])) == ["from b"]
    first.drop("v")
    assert first.read("v", ["k"]) == [None]
    assert payloads_of(second.read("v", ["k"])) == ["from b"]


def test_namespaces_that_look_alike_do_not_collide(make_store: StoreFactory) -> None:
    # With a naive "ns:table:key" layout, (ns "x:t", table "u", key "k") and
    # (ns "x", table "t", key "u:k") would share a row; SQLite folds case in table names.
    colon, plain = make_store("x:t"), make_store("x")
    colon.write("u", ["k"], [1], ["colon"])
    plain.write("t", ["u:k"], [1], ["plain"])
    upper, lower = make_store("Proj"), make_store("proj")
    upper.write("v", ["k"], [1], ["upper"])
    lower.write("v", ["k"], [1], ["lower"])
    assert payloads_of(colon.read("u", ["k"])) == ["colon"]
    assert payloads_of(plain.read("t", ["u:k"])) == ["plain"]
    assert payloads_of(upper.read("v", ["k"])) == ["upper"]
    assert payloads_of(lower.read("v", ["k"])) == ["lower"]


def test_read_many_answers_as_read_does_per_table(store: OnlineStore) -> None:
    store.write("a", ["1", "2"], [10, 20], ["a1", "a2"])
    store.write("b", ["2", "3"], [30, 40], ["b2", "b3"])
    requests = [
        ("a", ["1", "3", "1"]),  # a key twice, a missing key
        ("b", ["2"]),
        ("never_written", ["1", "2"]),  # no table: all None
        ("a", []),
    ]
    got = read_many(store, requests)
    assert got == [store.read(table, keys) for table, keys in requests]
    assert [payloads_of(rows) for rows in got] == [
        ["a1", None, "a1"],
        ["b2"],
        [None, None],
        [],
    ]
    assert got[1][0] == OnlineRow(30, "b2")
    assert read_many(store, []) == []


def test_read_many_of_many_keys(store: OnlineStore) -> None:
    keys = [f"k{i}" for i in range(12_000)]  # beyond every backend's per-query batch
    store.write("v", keys[::2], list(range(0, 12_000, 2)), keys[::2])
    store.write("w", keys[1::2], list(range(1, 12_000, 2)), keys[1::2])
    v, w = read_many(store, [("v", keys), ("w", keys[:3])])
    assert [row and row.event_ts for row in v] == [i if i % 2 == 0 else None for i in range(12_000)]
    assert payloads_of(w) == [None, "k1", None]


def test_read_many_is_one_statement_on_sqlite(tmp_path: Path) -> None:
    store = open_online_store(f"sqlite:///{tmp_path / 'online.db'}", "p")
    store.write("a", ["1"], [1], ["a"])
    store.write("b", ["1"], [1], ["b"])
    assert isinstance(store, sqlite_backend.SqliteOnlineStore)
    statements: list[str] = []
    store._connection().set_trace_callback(statements.append)
    rows = store.read_many([("a", ["1"]), ("b", ["1", "2"])])
    assert [payloads_of(r) for r in rows] == [["a"], ["b", None]]
    assert len(statements) == 1 and statements[0].count("UNION ALL") == 1
    store.close()


@pytest.mark.services
def test_read_many_is_one_command_on_redis(redis_uri: str) -> None:
    store = open_online_store(redis_uri, f"test-{uuid.uuid4().hex[:10]}")
    try:
        store.write("a", ["1"], [1], ["a"])
        store.write("b", ["1"], [1], ["b"])
        commands: list[object] = []
        client = store._client  # type: ignore[attr-defined]
        send = client.execute_command

        def counted(*args: object, **kwargs: object) -> object:
            commands.append(args[0])
            return send(*args, **kwargs)

        client.execute_command = counted
        rows = store.read_many([("a", ["1"]), ("b", ["1", "2"])])  # type: ignore[attr-defined]
        assert [payloads_of(r) for r in rows] == [["a"], ["b", None]]
        assert commands == ["MGET"]
    finally:
        store.drop("a")
        store.drop("b")
        store.close()


def test_tables_are_isolated(store: OnlineStore) -> None:
    store.write("driver_stats", ["k"], [1], ["drivers"])
    store.write("Driver_stats", ["k"], [1], ["other case"])
    store.write("driver", ["stats:k"], [1], ["prefix"])
    assert payloads_of(store.read("driver_stats", ["k", "stats:k"])) == ["drivers", None]
    assert payloads_of(store.read("Driver_stats", ["k"])) == ["other case"]
    assert payloads_of(store.read("driver", ["k", "stats:k"])) == [None, "prefix"]


def test_drop(store: OnlineStore) -> None:
    keys = [f"k{i}" for i in range(2_500)]
    store.write("v", keys, [1] * len(keys), keys)
    store.write("kept", ["k0"], [1], ["kept"])
    store.drop("v")
    assert store.read("v", keys[:3]) == [None, None, None]
    assert store.read("v", ["k0"]) == [None]
    assert payloads_of(store.read("kept", ["k0"])) == ["kept"]
    store.drop("v")  # dropping again, or a table never written, is fine
    store.drop("never_written")
    store.write("v", ["k0"], [0], ["again"])  # an older time than before: nothing is left
    assert store.read("v", ["k0"]) == [OnlineRow(0, "again")]


@pytest.mark.parametrize(
    "table", ["", "1abc", "a-b", "a b", "a:b", "a*", 'x"; DROP TABLE t; --', "é", None, 3, ["v"]]
)
def test_invalid_table_names_are_refused(store: OnlineStore, table: object) -> None:
    with pytest.raises(InvalidArgument, match="online table name"):
        store.write(table, ["k"], [1], ["x"])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="online table name"):
        store.read(table, ["k"])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="online table name"):
        store.drop(table)  # type: ignore[arg-type]


def test_readers_see_old_or_new_rows_during_a_long_write(make_store: StoreFactory) -> None:
    writer, reader = make_store("shared"), make_store("shared")  # same namespace
    n = 200_000
    keys = [f"entity-{i}" for i in range(n)]
    random.Random(7).shuffle(keys)  # arrival order is not key order
    writer.write("v", keys, [1] * n, [f"old {k}" for k in keys])
    probes = random.Random(8).sample(keys, 300)
    errors: list[BaseException] = []
    reads = {"during": 0}
    done = threading.Event()

    def read_continuously() -> None:
        seen_new: set[str] = set()
        try:
            while not done.is_set():
                for key in probes[:50]:
                    check(key, reader.read("v", [key])[0], seen_new)
                batch = reader.read("v", probes)
                for key, row in zip(probes, batch, strict=True):
                    check(key, row, seen_new)
                reads["during"] += 1
        except BaseException as exc:
            errors.append(exc)

    def check(key: str, row: OnlineRow | None, seen_new: set[str]) -> None:
        assert row in (OnlineRow(1, f"old {key}"), OnlineRow(2, f"new {key}")), row
        if row.event_ts == 2:
            seen_new.add(key)
        else:
            assert key not in seen_new, f"{key} went back from new to old"

    thread = threading.Thread(target=read_continuously)
    thread.start()
    try:
        assert writer.write("v", keys, [2] * n, [f"new {k}" for k in keys]) == n
    finally:
        done.set()
        thread.join(timeout=60)
    assert not thread.is_alive(), "the reader thread did not stop"
    assert errors == []
    assert reads["during"] > 0
    assert payloads_of(reader.read("v", probes)) == [f"new {k}" for k in probes]


def _read_in_child(store: OnlineStore, queue: multiprocessing.Queue) -> None:
    queue.put(payloads_of(store.read("v", ["a", "b"])))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs os.fork")
def test_a_forked_child_reads_through_the_parents_store(store: OnlineStore) -> None:
    store.write("v", ["a"], [1], ["A"])
    assert payloads_of(store.read("v", ["a"])) == ["A"]  # the parent has a connection
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_read_in_child, args=(store, queue))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0  # None while it is still running
    assert queue.get(timeout=5) == ["A", None]
    assert payloads_of(store.read("v", ["a"])) == ["A"]  # the parent's still works


# -- opening stores --------------------------------------------------------------------


@pytest.mark.parametrize("uri", ["mongodb://localhost/x", "no-scheme", "file:///tmp/x"])
def test_unknown_scheme_is_an_invalid_argument(uri: str) -> None:
    with pytest.raises(InvalidArgument):
        open_online_store(uri, "proj")


def test_namespace_must_be_a_non_empty_string(tmp_path: Path) -> None:
    for namespace in ("", None):
        with pytest.raises(InvalidArgument, match="namespace"):
            open_online_store(f"sqlite:///{tmp_path}/o.db", namespace)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "uri",
    ["redis://127.0.0.1:1/0", "redis://:s3cret@127.0.0.1:1/0"],  # nothing on port 1
)
def test_unreachable_redis_is_store_unavailable(uri: str) -> None:
    pytest.importorskip("redis")
    with pytest.raises(StoreUnavailable) as caught:
        open_online_store(uri, "proj")
    assert "cannot reach the Redis online store at redis://" in caught.value.message
    assert "127.0.0.1:1/0" in caught.value.message
    assert "check that Redis" in caught.value.message
    assert "s3cret" not in caught.value.message


@pytest.mark.parametrize(
    "uri",
    [
        "redis://127.0.0.1:notaport/0",
        "redis://:s3cret@127.0.0.1:6379/notadb",  # redis-py would quietly use database 0
        "redis:///0",
    ],
)
def test_malformed_redis_uri_is_an_invalid_argument(uri: str) -> None:
    pytest.importorskip("redis")
    with pytest.raises(InvalidArgument, match="Redis") as caught:
        open_online_store(uri, "proj")
    assert "s3cret" not in caught.value.message


def test_redis_without_redis_py_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "redis", None)  # `import redis` now fails
    monkeypatch.delitem(sys.modules, "shipyard.features.online.redis", raising=False)
    monkeypatch.delitem(ONLINE_STORES._loaded, "redis", raising=False)
    with pytest.raises(MissingExtra, match=r"pip install 'shipyard\[redis\]'"):
        open_online_store("redis://127.0.0.1:6379/0", "proj")


def test_sqlite_creates_parent_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "online.db"
    store = open_online_store(f"sqlite:///{path}", "proj")
    store.write("v", ["k"], [1], ["x"])
    store.close()
    assert path.is_file()
    again = open_online_store(f"sqlite:///{path}", "proj")
    assert payloads_of(again.read("v", ["k"])) == ["x"]
    again.close()


def test_sqlite_path_that_cannot_be_created_is_store_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(StoreUnavailable, match="online store"):
        open_online_store(f"sqlite:///{tmp_path}/file/online.db", "proj")


@pytest.mark.parametrize("uri", ["sqlite:///", "sqlite:///:memory:", "sqlite:///x.db?mode=ro"])
def test_sqlite_needs_a_plain_file_path(uri: str) -> None:
    with pytest.raises(InvalidArgument, match="file path"):
        open_online_store(uri, "proj")


def test_sqlite_reads_from_many_threads(tmp_path: Path) -> None:
    store = open_online_store(f"sqlite:///{tmp_path}/o.db", "proj")
    keys = [f"k{i}" for i in range(1_000)]
    store.write("v", keys, list(range(1_000)), keys)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for i in range(0, 1_000, 7):
                assert store.read("v", [keys[i]]) == [OnlineRow(i, keys[i])]
                assert payloads_of(store.read("v", keys[i : i + 20])) == keys[i : i + 20]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a reader thread did not end"
    store.close()
    assert errors == []
    with pytest.raises(StoreUnavailable, match="closed"):
        store.read("v", ["k1"])
