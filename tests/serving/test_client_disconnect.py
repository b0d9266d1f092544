"""A client that hangs up mid-body is its own doing: counted apart (status ``499``, nginx's
"client closed request"), logged at info, never a 500 or an error log."""

from __future__ import annotations

import logging
import re
import socket
import time

import pytest


@pytest.fixture
def server(serve, churn_model):
    return serve("churn@production")


def send_half_a_body(server, path: str, content_type: str = "application/json") -> None:
    """Headers that promise 1,000 bytes, 500 of them, then close the connection."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: 1000\r\n\r\n"
    ).encode()
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(head + b"{" + b" " * 499)
        time.sleep(0.1)  # let the server start reading the body


def request_counts(server, endpoint: str) -> dict[str, float]:
    text = server.http.get("/metrics").text
    pattern = rf'^shipyard_requests_total{{endpoint="{endpoint}",status="([^"]+)"}} (\S+)$'
    return {m[1]: float(m[2]) for m in re.finditer(pattern, text, re.MULTILINE)}


def wait_for_count(server, endpoint: str, status: str) -> dict[str, float]:
    deadline = time.monotonic() + 10
    while True:
        counts = request_counts(server, endpoint)
        if status in counts or time.monotonic() > deadline:
            return counts
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("path", "endpoint", "content_type"),
    [
        ("/predict", "predict", "application/json"),
        ("/invocations", "invocations", "application/json"),
        ("/invocations", "invocations", "text/csv"),
        ("/v2/models/churn/infer", "v2_infer", "application/json"),
    ],
)
def test_a_client_that_hangs_up_mid_body_is_counted_apart(
    server, caplog, path, endpoint, content_type
):
    caplog.set_level(logging.DEBUG, logger="shipyard.serving")
    send_half_a_body(server, path, content_type)
    counts = wait_for_count(server, endpoint, "499")
    assert counts == {"499": 1.0}
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert problems == []
    closed = [r for r in caplog.records if "closed the connection" in r.getMessage()]
    assert len(closed) == 1 and closed[0].levelno == logging.INFO
    assert endpoint in closed[0].getMessage()


def test_the_server_keeps_answering_after_a_client_hangs_up(server):
    send_half_a_body(server, "/predict")
    wait_for_count(server, "predict", "499")
    record = {"age": 30, "spend": 1.5, "plan": "pro"}
    assert server.post("/predict", {"record": record}).status_code == 200
    assert request_counts(server, "predict") == {"499": 1.0, "200": 1.0}
    text = server.http.get("/metrics").text  # latency is the server's, not the client's
    assert 'shipyard_request_latency_seconds_count{endpoint="predict"} 1.0' in text
