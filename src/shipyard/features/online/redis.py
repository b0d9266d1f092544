"""The shared online store on Redis (redis-py; hiredis parses and packs when installed).

URI: ``redis://[:PASSWORD@]HOST:PORT/DB`` or ``rediss://`` for TLS (redis-py's URL form).

* Each row is one string key ``shipyard:<namespace>:<table>:<key>`` holding
  ``"<event_ts>:<payload>"``, with the namespace spelled by :func:`encode_namespace` (no
  ``:``, no glob characters), so a read of any number of keys is one ``MGET`` and the
  prefix of one table never matches another's; a lookup of several views is one ``MGET``
  too (``read_many``).
* Writes run a Lua script per batch of ``WRITE_BATCH`` rows: one ``MGET`` of the stored
  rows, the event times compared in Lua, one ``MSET`` of the rows that win; atomic, and
  Redis is blocked for a few milliseconds per batch only. The script goes as ``EVAL`` (its
  900 bytes are nothing next to a batch, and a Redis that lost its script cache after a
  restart needs no retry). Batches of keys that do not exist yet go as ``MSETNX`` instead
  (see :func:`_send_batches`). Up to ``IN_FLIGHT`` batches are sent ahead of their
  replies, so this process encodes the next batch while Redis runs the last one.
* ``drop`` deletes a table with ``SCAN MATCH prefix*`` + ``UNLINK`` (freed in the
  background); rows written while it runs may survive it.
"""

from __future__ import annotations

import functools
import sys
from collections import deque
from collections.abc import Sequence
from typing import Any, NoReturn, Protocol, cast
from urllib.parse import urlsplit

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shipyard.config import redact_uri
from shipyard.errors import InvalidArgument, StoreUnavailable
from shipyard.features.online.base import (
    OnlineRow,
    as_columns,
    check_keys,
    check_table,
    encode_namespace,
)

try:  # redis-py packs through it too, after a slower pass of its own over the arguments
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - hiredis is optional
    _hiredis_pack = None  # type: ignore[assignment]

WRITE_BATCH = 1_000  # rows per script call; <= 3,999 (Lua's unpack limit is 8,000 values)
PACK_BLOCK = 4 * WRITE_BATCH  # rows rendered at a time for MSETNX (a multiple of WRITE_BATCH)
IN_FLIGHT = 4  # batches sent and not yet answered
READ_BATCH = 10_000  # keys per MGET
CONNECT_TIMEOUT_S = 5.0
SOCKET_TIMEOUT_S = 30.0
_FORM = "expected redis://[:PASSWORD@]HOST:PORT/DB (or rediss:// for TLS)"

# KEYS[i] takes ARGV[i] = "<event_ts>:<payload>" unless it holds a newer event_ts; a key
# that repeats in the batch is compared with its winner so far (input order decides ties).
# Two commands per batch (MGET, MSET): a redis.call per row would cost ~3 µs more per row.
# Event times of the same length and sign compare as text (exact at any size); others as
# Lua numbers (doubles), exact for |event_ts| < 2**53 µs (until the year 2255).
_UPSERT = """
local find, sub = string.find, string.sub
local function newer(cur, new)
  local a, b = find(new, ':', 1, true), find(cur, ':', 1, true)
  if a == b and sub(new, 1, 1) ~= '-' and sub(cur, 1, 1) ~= '-' then
    return sub(cur, 1, b - 1) > sub(new, 1, a - 1)
  end
  return tonumber(sub(cur, 1, b - 1)) > tonumber(sub(new, 1, a - 1))
end
local old = redis.call('MGET', unpack(KEYS))
local winner, order, m = {}, {}, 0
for i = 1, #KEYS do
  local key, new = KEYS[i], ARGV[i]
  local cur = winner[key] or old[i]
  if not (cur and newer(cur, new)) then
    if not winner[key] then
      m = m + 1
      order[m] = key
    end
    winner[key] = new
  end
end
if m == 0 then
  return 0
end
local args = {}
for j = 1, m do
  args[2 * j - 1] = order[j]
  args[2 * j] = winner[order[j]]
end
redis.call('MSET', unpack(args))
return m
"""


class RedisOnlineStore:
    writes_in_key_order = False  # hashed keys: the order of a write does not matter

    def __init__(self, uri: str, namespace: str) -> None:
        self.uri = uri
        self._prefix = f"shipyard:{encode_namespace(namespace)}:"
        _check_uri(uri)
        self._client = redis.Redis.from_url(
            uri,
            decode_responses=True,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=SOCKET_TIMEOUT_S,
            health_check_interval=30,
        )
        try:
            self._client.ping()
        except RedisError as exc:
            self._client.close()
            self._fail(exc)

    def write(
        self,
        table: str,
        keys: Sequence[str],
        event_ts: Sequence[int],
        payloads: Sequence[str],
    ) -> int:
        prefix = self._table_prefix(table)
        commands: _Commands | None = _arrow_commands(prefix, keys, event_ts, payloads)
        if commands is None:
            commands = _ListCommands(prefix, *as_columns(keys, event_ts, payloads))
        try:
            try:
                self._upsert(commands)
            except RedisConnectionError:
                # A pooled connection that died (Redis restarted): once more on a new one.
                # Writing the same rows again is harmless: equal event times replace.
                self._upsert(commands)
        except RedisError as exc:
            self._fail(exc)
        return len(commands)

    def read(self, table: str, keys: Sequence[str]) -> list[OnlineRow | None]:
        prefix = self._table_prefix(table)
        keys = check_keys(keys)
        try:
            if len(keys) == 1:
                values: list[Any] = [self._client.get(prefix + keys[0])]
            elif len(keys) <= READ_BATCH:
                values = self._client.mget([prefix + key for key in keys])
            else:
                values = self._mget_batches(prefix, keys)
        except RedisError as exc:
            self._fail(exc)
        return [None if v is None else _row(v) for v in values]

    def read_many(
        self, requests: Sequence[tuple[str, Sequence[str]]]
    ) -> list[list[OnlineRow | None]]:
        """Several tables' rows in one ``MGET`` (in pipelined ones beyond ``READ_BATCH``
        keys): one round trip."""
        names: list[str] = []
        counts: list[int] = []
        for table, keys in requests:
            prefix = self._table_prefix(table)
            keys = check_keys(keys)
            names += [prefix + key for key in keys]
            counts.append(len(keys))
        try:
            if not names:
                values: list[Any] = []
            elif len(names) <= READ_BATCH:
                values = self._client.mget(names)
            else:
                values = self._mget_batches("", names)
        except RedisError as exc:
            self._fail(exc)
        rows = [None if v is None else _row(v) for v in values]
        out, start = [], 0
        for n in counts:
            out.append(rows[start : start + n])
            start += n
        return out

    def drop(self, table: str) -> None:
        pattern = self._table_prefix(table) + "*"
        try:
            batch: list[str] = []
            for name in self._client.scan_iter(match=pattern, count=1000):
                batch.append(name)
                if len(batch) >= 1000:
                    self._client.unlink(*batch)
                    batch = []
            if batch:
                self._client.unlink(*batch)
        except RedisError as exc:
            self._fail(exc)

    def close(self) -> None:
        self._client.close()
        self._client.connection_pool.disconnect()

    def _table_prefix(self, table: str) -> str:
        return f"{self._prefix}{check_table(table)}:"

    def _upsert(self, commands: _Commands) -> None:
        pool = self._client.connection_pool
        conn: Any = pool.get_connection()
        clean = False
        try:
            _send_batches(conn, commands)
            clean = True
        finally:
            if not clean:
                conn.disconnect()  # replies may be left unread on it
            pool.release(conn)

    def _mget_batches(self, prefix: str, keys: list[str]) -> list[Any]:
        pipe = self._client.pipeline(transaction=False)
        for start in range(0, len(keys), READ_BATCH):
            pipe.mget([prefix + key for key in keys[start : start + READ_BATCH]])
        return [value for chunk in pipe.execute() for value in chunk]

    def _fail(self, exc: RedisError) -> NoReturn:
        where = redact_uri(self.uri)
        if isinstance(exc, RedisConnectionError | RedisTimeoutError):
            raise StoreUnavailable(
                f"cannot reach the Redis online store at {where}: {exc}; check that Redis "
                "is running there and that the host, port, password and TLS setting are right"
            ) from exc
        raise StoreUnavailable(f"the Redis online store at {where} failed: {exc}") from exc


def _send_batches(conn: Any, commands: _Commands) -> None:
    """Send each batch before reading the replies to the ones before it, so that this
    process encodes batch i+1 while Redis runs batch i (redis-py's pipeline would encode
    all, then wait for all).

    While no key of a batch exists yet (a new table, a backfill of new entities) the batch
    goes as one ``MSETNX``: atomic, it writes all or nothing, and with no stored row there
    is nothing to compare (~1 µs per row in Redis instead of ~3). The first one that finds
    a key sends this batch and every later one through the script, in input order.
    """
    fresh = True
    pending: deque[tuple[int, bool]] = deque()  # (first row, sent as MSETNX)
    lo, count = 0, len(commands)
    while lo < count or pending:
        if lo < count:
            hi = min(lo + WRITE_BATCH, count)
            packed = commands.msetnx(conn, lo, hi) if fresh else None  # None: duplicates
            setnx = packed is not None
            if packed is None:
                packed = commands.upsert(conn, lo, hi)
            conn.send_packed_command(packed, check_health=not pending)
            pending.append((lo, setnx))
            lo = hi
            if len(pending) <= IN_FLIGHT:
                continue
        first, setnx = pending.popleft()
        if conn.read_response() == 0 and setnx:  # a key exists: nothing was written
            fresh = False
            for _ in pending:
                conn.read_response()
            pending.clear()
            lo = first  # again from there, all by the script (batches after it too, so
            # that equal event times still resolve in input order)


Buffer = bytes | memoryview


class _Commands(Protocol):
    """The rows of one ``write``, packed as Redis commands batch by batch."""

    def __len__(self) -> int: ...

    def msetnx(self, conn: Any, lo: int, hi: int) -> Sequence[Buffer] | None:
        """``MSETNX`` of rows [lo, hi), or None when a key repeats among them."""
        ...

    def upsert(self, conn: Any, lo: int, hi: int) -> Sequence[Buffer]:
        """The upsert script over rows [lo, hi)."""
        ...


class _ListCommands:
    """Rows given as Python lists, packed by hiredis."""

    def __init__(self, prefix: str, keys: list[str], ts: list[int], payloads: list[str]) -> None:
        self.prefix, self.keys, self.ts, self.payloads = prefix, keys, ts, payloads

    def __len__(self) -> int:
        return len(self.keys)

    def _rows(self, lo: int, hi: int) -> tuple[list[str], list[str]]:
        names = [self.prefix + key for key in self.keys[lo:hi]]
        values = [f"{t}:{p}" for t, p in zip(self.ts[lo:hi], self.payloads[lo:hi], strict=True)]
        return names, values

    def msetnx(self, conn: Any, lo: int, hi: int) -> list[bytes] | None:
        names, values = self._rows(lo, hi)
        if len(set(names)) != len(names):
            return None
        pairs: list[str] = [""] * (2 * len(names))
        pairs[0::2], pairs[1::2] = names, values
        return _pack(conn, ("MSETNX", *pairs))

    def upsert(self, conn: Any, lo: int, hi: int) -> list[bytes]:
        names, values = self._rows(lo, hi)
        return _pack(conn, ("EVAL", _UPSERT, len(names), *names, *values))


class _ArrowCommands:
    """Rows given as Arrow arrays (a materialization's chunks), packed in bulk: Arrow's
    kernels render every argument as a RESP bulk string (``$<bytes>\\r\\n<text>\\r\\n``)
    and a batch's arguments are a slice of one buffer, sent as it is. No Python object is
    made per row (hiredis packing the same rows costs ~1 µs each). The ``MSETNX`` pairs
    are rendered a block of ``PACK_BLOCK`` rows at a time, when the first batch of the
    block is sent, so Redis runs the batches in flight while the next block is rendered
    (rendering a whole chunk first left Redis idle meanwhile). The script's arguments
    (names, then values) are rendered only if a batch needs the script."""

    def __init__(self, prefix: str, keys: Any, ts: Any, payloads: Any) -> None:
        import pyarrow as pa

        text = pa.large_string()
        self._prefix = pa.scalar(prefix, text)
        self._prefix_bytes = len(prefix.encode())
        self._keys, self._payloads = keys.cast(text), payloads.cast(text)
        self._ts = ts.cast(text)
        self._block: tuple[int, _Slices] = (-1, _Slices(pa.array([""], text)))
        self._unique = _sorted_and_unique(self._keys)  # else: checked batch by batch
        self._script_args: tuple[_Slices, _Slices] | None = None

    def __len__(self) -> int:
        return len(self._keys)

    def msetnx(self, conn: Any, lo: int, hi: int) -> list[Buffer] | None:
        import pyarrow.compute as pc

        n = hi - lo
        if not self._unique and pc.count_distinct(self._keys.slice(lo, n)).as_py() != n:
            return None
        start = lo - lo % PACK_BLOCK  # batches never straddle blocks (see PACK_BLOCK)
        if self._block[0] != start:
            self._block = (start, self._pairs(start, min(start + PACK_BLOCK, len(self))))
        pairs = self._block[1]
        return [f"*{2 * n + 1}\r\n$6\r\nMSETNX\r\n".encode(), pairs[lo - start : hi - start]]

    def _pairs(self, lo: int, hi: int) -> _Slices:
        """ "$<n>\\r\\n<prefix><key>\\r\\n$<m>\\r\\n<ts>:<payload>\\r\\n" for rows
        [lo, hi), one kernel call."""
        import pyarrow as pa
        import pyarrow.compute as pc

        text = pa.large_string()
        keys, ts = self._keys.slice(lo, hi - lo), self._ts.slice(lo, hi - lo)
        payloads = self._payloads.slice(lo, hi - lo)
        name_lengths = pc.add(pc.binary_length(keys), self._prefix_bytes)
        value_lengths = pc.add(pc.add(pc.binary_length(ts), pc.binary_length(payloads)), 1)
        s = functools.partial(pa.scalar, type=text)
        return _Slices(
            pc.binary_join_element_wise(
                s("$"), name_lengths.cast(text), s("\r\n"), self._prefix, keys,
                s("\r\n$"), value_lengths.cast(text), s("\r\n"), ts, s(":"),
                payloads, s("\r\n"), s(""),
            )
        )  # fmt: skip

    def upsert(self, conn: Any, lo: int, hi: int) -> list[Buffer]:
        if self._script_args is None:
            import pyarrow as pa
            import pyarrow.compute as pc

            text, empty = pa.large_string(), pa.scalar("", pa.large_string())
            names = pc.binary_join_element_wise(self._prefix, self._keys, empty)
            values = pc.binary_join_element_wise(self._ts, self._payloads, pa.scalar(":", text))
            self._script_args = _Slices(_bulk(names)), _Slices(_bulk(values))
        names_args, value_args = self._script_args
        n = hi - lo
        head = f"*{2 * n + 3}\r\n$4\r\nEVAL\r\n{_bulk_text(_UPSERT)}{_bulk_text(str(n))}"
        return [head.encode(), names_args[lo:hi], value_args[lo:hi]]


def _arrow_commands(prefix: str, keys: Any, ts: Any, payloads: Any) -> _ArrowCommands | None:
    """``_ArrowCommands`` when all three are Arrow arrays of the right types without nulls
    and of one length; None otherwise (the list path then checks and reports)."""
    pa = sys.modules.get("pyarrow")  # not loaded: the rows cannot be Arrow arrays
    if pa is None:
        return None
    columns = [keys, ts, payloads]
    for i, column in enumerate(columns):
        if isinstance(column, pa.ChunkedArray):
            columns[i] = column = column.combine_chunks()
        if not isinstance(column, pa.Array) or column.null_count:
            return None
    keys, ts, payloads = columns
    texts = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)
    if not (
        any(is_text(keys.type) for is_text in texts)
        and any(is_text(payloads.type) for is_text in texts)
        and pa.types.is_integer(ts.type)
        and len(keys) == len(ts) == len(payloads)
    ):
        return None
    return _ArrowCommands(prefix, keys, ts, payloads)


def _sorted_and_unique(texts: Any) -> bool:
    """True when ``texts`` are in strictly increasing order (so no text repeats): two
    vectorized comparisons, cheaper than hashing them. A materialization's keys are."""
    import pyarrow.compute as pc

    if len(texts) < 2:
        return True
    increasing = pc.all(pc.less(texts.slice(0, len(texts) - 1), texts.slice(1))).as_py()
    return bool(increasing)


def _bulk(texts: Any) -> Any:
    """Each text as a RESP bulk string: ``$<length in bytes>\\r\\n<text>\\r\\n``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.large_string()
    lengths = pc.binary_length(texts).cast(text)
    crlf, empty = pa.scalar("\r\n", text), pa.scalar("", text)
    return pc.binary_join_element_wise(pa.scalar("$", text), lengths, crlf, texts, crlf, empty)


class _Slices:
    """``slices[lo:hi]``: the bytes of elements [lo, hi) of a large_string array, a view
    of its data buffer (its elements are contiguous)."""

    def __init__(self, texts: Any) -> None:
        import numpy as np

        offsets = np.frombuffer(texts.buffers()[1], dtype=np.int64)
        self._offsets = offsets[texts.offset : texts.offset + len(texts) + 1].tolist()
        self._data = memoryview(texts.buffers()[2])

    def __getitem__(self, rows: slice) -> memoryview:
        return self._data[self._offsets[rows.start] : self._offsets[rows.stop]]


def _bulk_text(text: str) -> str:
    return f"${len(text.encode())}\r\n{text}\r\n"


def _pack(conn: Any, command: tuple[str | int, ...]) -> list[bytes]:
    if _hiredis_pack is None:  # pragma: no cover - hiredis is optional
        packed: list[bytes] = conn.pack_command(*command)
        return packed
    return [_hiredis_pack(cast(Any, command))]


def _check_uri(uri: str) -> None:
    """Refuse what redis-py would misread or ignore (a database that is not a number)."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError when the port is not a number
    except ValueError as exc:
        raise InvalidArgument(
            f"cannot parse the Redis URI {redact_uri(uri)}: {exc}; {_FORM}"
        ) from exc
    db = parts.path.strip("/")
    if (
        parts.scheme not in ("redis", "rediss")
        or not parts.hostname
        or not (db == "" or db.isdigit())
    ):
        raise InvalidArgument(f"cannot use {redact_uri(uri)} as a Redis online store; {_FORM}")


def _row(value: str) -> OnlineRow:
    ts, _, payload = value.partition(":")
    return OnlineRow(int(ts), payload)
