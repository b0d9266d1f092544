"""Load-test a prediction server: concurrent clients POST /predict, and the result counts
requests, errors by status and latency percentiles.

    bodies = signature_payloads(version.record.signature, batch_size=10)
    result = load_test("http://127.0.0.1:8080", bodies, concurrency=8, requests=2_000)
    result.rps, result.p99_ms, result.errors  # {"422": ErrorCount(count, first message)}

Each client is a thread with its own keep-alive ``httpx.Client`` (one connection). On a
small machine that sends as much load as one asyncio client for about half the client
CPU per request, leaving more of the cores to the server under test. Requests go to the
given URL only: no redirects are followed and proxy settings from the environment are
ignored. A test is always bounded by a request count, a duration or both.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import itertools
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from shipyard.errors import InvalidArgument

DEFAULT_DURATION = 10.0
DEFAULT_REQUESTS = 2_000
DISTINCT_PAYLOADS = 64  # generated bodies, cycled
MAX_FILE_ROWS = 10_000  # rows read from --input (more only when a batch needs them)
_HEADERS = {"content-type": "application/json", "accept": "application/json"}
_WORDS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta")
_EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class ErrorCount:
    count: int
    message: str  # the first error's message


@dataclass(frozen=True)
class LoadTestResult:
    """Every request sent, and what came back. Latencies are of successful requests only
    (a fast 422 would flatter them); ``errors`` is keyed by HTTP status ("422", "500")
    or by "timeout" / "connection" when no response came."""

    url: str
    concurrency: int
    requests: int  # completed: ok + failed
    ok: int
    rows: int  # rows predicted by the successful requests
    seconds: float
    errors: dict[str, ErrorCount] = field(default_factory=dict)
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    mean_ms: float | None = None

    @property
    def failed(self) -> int:
        return self.requests - self.ok

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


# -- payloads ------------------------------------------------------------------------------


def signature_payloads(
    signature: Mapping[str, Any],
    *,
    batch_size: int = 1,
    count: int = DISTINCT_PAYLOADS,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """``count`` request bodies of ``batch_size`` records each, with seeded random values of
    every signature input's type (double, long, boolean, string, datetime, binary)."""
    _check_batch(batch_size)
    inputs = [(str(c["name"]), str(c.get("type", "string"))) for c in signature.get("inputs", [])]
    if not inputs:
        raise InvalidArgument(
            "the model has no input signature to generate requests from; "
            "pass a file of example rows (--input rows.parquet or rows.csv)"
        )
    rng = random.Random(seed)
    return [
        {"records": [{name: _value(kind, rng) for name, kind in inputs} for _ in range(batch_size)]}
        for _ in range(count)
    ]


def _value(kind: str, rng: random.Random) -> Any:
    if kind in ("double", "float"):
        return round(rng.gauss(50.0, 25.0), 4)
    if kind in ("long", "integer"):
        return rng.randint(0, 100)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "datetime":
        return (_EPOCH + dt.timedelta(seconds=rng.randrange(365 * 86_400))).isoformat()
    if kind == "binary":
        return base64.b64encode(rng.randbytes(8)).decode("ascii")
    return rng.choice(_WORDS)


def file_payloads(path: str | Path, *, batch_size: int = 1) -> list[dict[str, Any]]:
    """Request bodies of ``batch_size`` consecutive rows of a Parquet or CSV file (its first
    rows, up to 10,000 or one batch); the rows wrap around to fill the last batch."""
    from shipyard.serving.batch import _read  # the reader `shipyard predict` uses

    _check_batch(batch_size)
    source = Path(path)
    if not source.is_file():
        raise InvalidArgument(f"input file {path} does not exist")
    wanted = max(MAX_FILE_ROWS, batch_size)
    rows: list[dict[str, Any]] = []
    for chunk in _read(source, min(wanted, 10_000)):
        rows.extend(chunk.to_pylist())
        if len(rows) >= wanted:
            break
    rows = [{str(k): _json_value(v) for k, v in row.items()} for row in rows[:wanted]]
    if not rows:
        raise InvalidArgument(f"input file {path} has no rows")
    batches = math.ceil(len(rows) / batch_size)
    cycled = itertools.islice(itertools.cycle(rows), batches * batch_size)
    records = list(cycled)
    return [{"records": records[i * batch_size : (i + 1) * batch_size]} for i in range(batches)]


def _json_value(value: Any) -> Any:
    """A file's value as the server expects it: times as ISO strings, bytes as base64."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return value


def _check_batch(batch_size: int) -> None:
    if batch_size < 1:
        raise InvalidArgument(f"batch size must be at least 1, not {batch_size}")


# -- the test ------------------------------------------------------------------------------


def load_test(
    url: str,
    payloads: Sequence[Mapping[str, Any] | bytes],
    *,
    concurrency: int = 8,
    duration: float | None = None,
    requests: int | None = None,
    timeout: float = 30.0,
    progress: Callable[[int], None] | None = None,
) -> LoadTestResult:
    """POST the payloads (cycled) to ``url``'s /predict from ``concurrency`` clients until
    ``requests`` are sent or ``duration`` seconds pass, whichever comes first (with
    neither: 10 s or 2,000 requests). ``progress(completed)`` is called about 4 times a
    second. On Ctrl-C the clients finish their request in flight, then it re-raises."""
    target = _predict_url(url)
    if concurrency < 1:
        raise InvalidArgument(f"concurrency must be at least 1, not {concurrency}")
    if requests is not None and requests < 1:
        raise InvalidArgument(f"requests must be at least 1, not {requests}")
    if duration is not None and not duration > 0:
        raise InvalidArgument(f"duration must be more than 0 seconds, not {duration}")
    if duration is None and requests is None:
        duration, requests = DEFAULT_DURATION, DEFAULT_REQUESTS
    bodies = [_encode(p) for p in payloads]
    if not bodies:
        raise InvalidArgument("no payloads to send")

    plan = _Plan(target, bodies, requests, duration, timeout)
    clients = [_Client(plan) for _ in range(concurrency)]
    threads = [
        threading.Thread(target=c.run, name=f"load-test-{i}", daemon=True)
        for i, c in enumerate(clients)
    ]
    plan.started = time.perf_counter()
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.25)
                if progress is not None:
                    progress(sum(c.completed for c in clients))
    except BaseException:
        plan.stop.set()
        for thread in threads:
            thread.join(timeout + 1)
        raise
    return _summarise(url, concurrency, time.perf_counter() - plan.started, clients)


def _predict_url(url: str) -> str:
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidArgument(f"{url!r} is not an http(s) URL of a prediction server")
    text = str(parsed).rstrip("/")
    return text if text.endswith("/predict") else f"{text}/predict"


def _encode(payload: Mapping[str, Any] | bytes) -> tuple[bytes, int]:
    """The body and how many rows it predicts."""
    if isinstance(payload, bytes):
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return payload, 1  # sent as is: testing how the server refuses it
    else:
        data, payload = payload, orjson.dumps(payload)
    records = data.get("records") if isinstance(data, dict) else None
    return payload, len(records) if isinstance(records, list) else 1


class _Plan:
    """What every client shares: the bodies, the bounds and the stop signal."""

    def __init__(
        self,
        target: str,
        bodies: list[tuple[bytes, int]],
        requests: int | None,
        duration: float | None,
        timeout: float,
    ) -> None:
        self.target = target
        self.bodies = bodies
        self.limit = requests
        self.duration = duration
        self.timeout = timeout
        self.tickets = itertools.count()  # next() is atomic under the GIL
        self.stop = threading.Event()
        self.served = threading.Event()  # some request succeeded: the server is there
        self.started = 0.0

    def next_body(self) -> tuple[bytes, int] | None:
        if self.stop.is_set():
            return None
        ticket = next(self.tickets)
        if self.limit is not None and ticket >= self.limit:
            return None
        if self.duration is not None and time.perf_counter() - self.started >= self.duration:
            return None
        return self.bodies[ticket % len(self.bodies)]


class _Client:
    """One thread's client: a keep-alive connection, its latencies and its errors."""

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self.latencies: list[float] = []
        self.rows = 0
        self.errors: dict[str, list[Any]] = {}  # key -> [count, first message, when]
        self.completed = 0

    def run(self) -> None:
        plan = self.plan
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        with httpx.Client(timeout=plan.timeout, limits=limits, trust_env=False) as http:
            while (item := plan.next_body()) is not None:
                body, rows = item
                started = time.perf_counter()
                try:
                    response = http.post(plan.target, content=body, headers=_HEADERS)
                except httpx.TimeoutException as exc:
                    self._error("timeout", f"no response within {plan.timeout:g} s ({exc!r})")
                except httpx.TransportError as exc:
                    self._error("connection", f"{type(exc).__name__}: {exc}")
                    if isinstance(exc, httpx.ConnectError) and not plan.served.is_set():
                        plan.stop.set()  # nothing listens there: stop, do not spin
                else:
                    elapsed = time.perf_counter() - started
                    if response.is_success:
                        self.latencies.append(elapsed)
                        self.rows += rows
                        plan.served.set()
                    else:
                        self._error(str(response.status_code), _message(response))
                self.completed += 1

    def _error(self, key: str, message: str) -> None:
        entry = self.errors.setdefault(key, [0, message, time.perf_counter()])
        entry[0] += 1


def _message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
        message = error.get("message") if isinstance(error, dict) else None
    except (ValueError, AttributeError):
        message = None
    text = str(message) if message else response.text.strip() or response.reason_phrase
    return text if len(text) <= 300 else text[:297] + "..."


def _summarise(
    url: str, concurrency: int, seconds: float, clients: Iterable[_Client]
) -> LoadTestResult:
    latencies: list[float] = []
    errors: dict[str, list[Any]] = {}  # key -> [count, first message, when]
    requests = rows = 0
    for client in clients:
        latencies += client.latencies
        requests += client.completed
        rows += client.rows
        for key, (count, message, when) in client.errors.items():
            seen = errors.setdefault(key, [0, message, when])
            seen[0] += count
            if when < seen[2]:
                seen[1:] = [message, when]
    latencies.sort()

    def pct(q: float) -> float | None:
        if not latencies:
            return None
        return latencies[min(len(latencies) - 1, math.ceil(q * len(latencies)) - 1)] * 1000

    return LoadTestResult(
        url=url,
        concurrency=concurrency,
        requests=requests,
        ok=len(latencies),
        rows=rows,
        seconds=seconds,
        errors={k: ErrorCount(v[0], v[1]) for k, v in sorted(errors.items())},
        p50_ms=pct(0.50),
        p90_ms=pct(0.90),
        p99_ms=pct(0.99),
        max_ms=latencies[-1] * 1000 if latencies else None,
        mean_ms=sum(latencies) / len(latencies) * 1000 if latencies else None,
    )
