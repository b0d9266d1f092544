"""`shipyard serve` in a child process (what `models load-test` starts): ready, then always
stopped, on POSIX with its process group and elsewhere (POSIX-only names hidden) by
terminating it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from shipyard.errors import ShipyardError
from shipyard.serving import process as serve_process
from shipyard.serving.process import ServeProcess, own_group, stop_process

SLEEPER = "import time; print('up', flush=True); time.sleep(120)"
STUBBORN = (  # ignores SIGTERM: only a kill stops it
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('up', flush=True); time.sleep(120)"
)
# a child that starts a grandchild and reports its pid
PARENT = (
    "import subprocess, sys, time; "
    f"child = subprocess.Popen([sys.executable, '-c', {SLEEPER!r}]); "
    "print(child.pid, flush=True); time.sleep(120)"
)


def hide_posix_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on Windows. (signal.SIGKILL stays: the standard library's POSIX Popen.kill()
    needs it here; tests/test_public_api.py hides it for the import of every module.)"""
    for name in ("killpg", "getpgid", "setsid", "setpgrp", "fork", "register_at_fork"):
        monkeypatch.delattr(os, name, raising=False)


def started(code: str) -> tuple[subprocess.Popen[str], str]:
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, **own_group()
    )
    assert child.stdout is not None
    return child, child.stdout.readline().strip()  # it is up (its handlers installed)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_on_posix_the_whole_process_group_is_stopped():
    parent, grandchild = started(PARENT)
    try:
        stop_process(parent, grace=10)
        assert parent.returncode == -signal.SIGTERM
        deadline = time.monotonic() + 10
        while alive(int(grandchild)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not alive(int(grandchild))
    finally:
        parent.stdout.close()


def test_a_process_that_ignores_the_request_is_killed():
    child, _ = started(STUBBORN)
    stop_process(child, grace=0.5)
    assert child.returncode == -signal.SIGKILL
    child.stdout.close()


def test_without_posix_only_names_it_is_terminated_then_killed(monkeypatch):
    hide_posix_only(monkeypatch)
    assert own_group() == {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    child, _ = started(SLEEPER)
    stop_process(child, grace=10)
    assert child.returncode == -signal.SIGTERM  # Popen.terminate()
    stubborn, _ = started(STUBBORN)
    stop_process(stubborn, grace=0.5)
    assert stubborn.returncode == -signal.SIGKILL  # Popen.kill()
    for process in (child, stubborn):
        process.stdout.close()


@pytest.mark.slow
def test_a_real_server_is_ready_then_stopped_without_posix_only_names(churn_model, monkeypatch):
    hide_posix_only(monkeypatch)
    with ServeProcess("churn@production", log_predictions=False) as server:
        server.wait_ready()
        assert httpx.get(f"{server.url}/ready", timeout=5).json()["ready"] is True
    assert server.process is not None and server.process.returncode is not None
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/health", timeout=2)


@pytest.mark.slow
def test_a_server_that_cannot_start_says_why(shipyard_client, monkeypatch):
    monkeypatch.setattr(serve_process, "READY_TIMEOUT", 60)
    with ServeProcess("nope@production") as server, pytest.raises(ShipyardError) as caught:
        server.wait_ready()
    assert str(caught.value).startswith("`shipyard serve nope@production` stopped before")
    assert "nope" in str(caught.value).split("ready: ", 1)[1]
