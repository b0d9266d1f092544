"""Helpers for the monitor and alert tests: a registered model with a training dataset, a
logged window of predictions, and a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import io
import json
import secrets
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.linear_model import LogisticRegression

from shipyard._clock import to_millis
from shipyard.registry import ModelRegistry
from shipyard.store.base import PredictionCall
from shipyard.tracking import Client


def training_frame(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"age": rng.normal(40, 10, rows), "income": rng.normal(50, 5, rows)})


def save_dataset(client: Client, frame: pd.DataFrame) -> str:
    """Store ``frame`` as dataset ``train`` of the default project; its URI."""
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
    info = client.blobs.put_bytes(sink.getvalue())
    project = client.store.get_or_create_project("default").name
    now = to_millis(client.clock.now())
    record = client.store.features.create_dataset(
        project, "train", info.hash, len(frame), info.size, {}, "tester", now
    )
    return f"dataset:{project}/train/{record.version}"


def register(client: Client, name: str = "churn", with_dataset: bool = True) -> int:
    """Register a model (alias ``production``) trained on ``training_frame``; its training
    dataset is saved in the store when ``with_dataset``. Returns the version."""
    frame = training_frame()
    dataset = save_dataset(client, frame) if with_dataset else None
    y = (frame["age"] > 40).astype(int)
    model = LogisticRegression().fit(frame, y)
    registry = ModelRegistry(client)
    version = registry.register_model(name, model, dataset=dataset).version
    registry.set_alias(name, "production", version)
    return version


def log_window(
    client: Client,
    version: int,
    rows: int = 300,
    shift: float = 0.0,
    latency_ms: float = 5.0,
    name: str = "churn",
    seed: int = 1,
) -> None:
    """Log ``rows`` predictions of ``name`` made a minute ago; ``age`` shifted by ``shift``."""
    frame = training_frame(rows, seed)
    frame["age"] += shift
    ts = to_millis(client.clock.now()) - 60_000
    call = PredictionCall(
        id=f"{ts:012x}{secrets.token_hex(7)}",
        model=name,
        version=version,
        variant="default",
        shadow=False,
        ts_ms=ts,
        latency_ms=latency_ms,
        rows=rows,
        inputs={c: frame[c].tolist() for c in frame.columns},
        outputs=[int(a > 40) for a in frame["age"]],
    )
    client.store.predictions.append([call])


@dataclass
class Receiver:
    """What a webhook receiver got; ``answers`` are the status codes to reply in turn
    (then 200)."""

    url: str
    answers: list[int] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def receiver(answers: Sequence[int] = ()) -> Iterator[Receiver]:
    state = Receiver("", list(answers))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                state.received.append(json.loads(body))
                code = state.answers.pop(0) if state.answers else 200
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"
