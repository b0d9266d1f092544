"""``shipyard serve REF`` in a child process on a free loopback port: started, waited for
until ready, and always stopped (what ``shipyard models load-test`` runs against).

    with ServeProcess("churn@production", log_predictions=False) as server:
        server.wait_ready()
        load_test(server.url, bodies)

Portable: on POSIX the server runs in its own session and is stopped with its process
group (SIGTERM, then SIGKILL after a grace period), so any process it started goes too;
elsewhere (Windows) it gets a process group of its own and is terminated, then killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from typing import IO, Any

from shipyard.errors import ShipyardError

READY_TIMEOUT = 120.0
STOP_GRACE = 10.0


class ServeProcess:
    def __init__(self, ref: str, *, log_predictions: bool = True, port: int | None = None) -> None:
        from shipyard.serving.background import free_port

        self.ref = ref
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [sys.executable, "-m", "shipyard.cli", "serve", ref]
        self.command += ["--port", str(self.port)]
        self.command += [] if log_predictions else ["--no-log"]
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=self._log, **own_group()
        )

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Until ``GET /ready`` answers 200; a server that exits first is an error naming
        the last line it wrote."""
        import httpx

        process = self._started()
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise ShipyardError(
                    f"`shipyard serve {self.ref}` stopped before it was ready: {self._said()}"
                )
            with suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/ready", timeout=2, trust_env=False).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise ShipyardError(
                    f"`shipyard serve {self.ref}` was not ready at {self.url} within {timeout:g} s"
                )
            time.sleep(0.1)

    def stop(self, grace: float = STOP_GRACE) -> None:
        if self.process is not None:
            stop_process(self.process, grace)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> ServeProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _started(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise RuntimeError("ServeProcess.start() was not called")
        return self.process

    def _said(self) -> str:
        lines: list[str] = []
        if self._log is not None:
            self._log.seek(0)
            lines = self._log.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exit code {self._started().returncode}"


def own_group() -> dict[str, Any]:
    """``Popen`` arguments that start a child in a process group of its own (so a Ctrl-C
    in the terminal reaches only us, and we stop it in order)."""
    if hasattr(os, "killpg"):
        return {"start_new_session": True}
    return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}


def stop_process(process: subprocess.Popen[Any], grace: float = STOP_GRACE) -> None:
    """Ask ``process`` (started with :func:`own_group`) to stop, force it after ``grace``
    seconds, and reap it. On POSIX the whole process group is signalled."""
    for force in (False, True):
        _signal(process, force)
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _signal(process: subprocess.Popen[Any], force: bool) -> None:
    killpg = getattr(os, "killpg", None)
    if killpg is not None:  # POSIX (where SIGKILL exists too): the whole group
        with suppress(ProcessLookupError):  # the group is gone: reap the process below
            killpg(process.pid, signal.SIGKILL if force else signal.SIGTERM)
    elif process.poll() is None:
        with suppress(ProcessLookupError, PermissionError):  # it exited just now
            if force:
                process.kill()
            else:
                process.terminate()
