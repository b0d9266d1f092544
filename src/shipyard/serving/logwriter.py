"""The prediction log's store writes, in a child process.

Writing the log costs the store ~15 us of CPU per call on SQLite (three JSON columns turned
back into text, bound, inserted with two indexes), and it binds each statement's values
while it holds Python's GIL: in the server's own process that is time taken from the
requests. A server that reads its store from the environment (``shipyard serve``) hands
each group of calls to a child process instead, ``python -m shipyard.serving.logwriter``,
which opens the same store and appends them: the flusher thread pickles the group (its
calls are tuples of strings, numbers and bytes: ~1 us each), writes it to the child's
stdin and waits for the answer with the GIL released. A failed append is answered with its
error and raised in the flusher like an in-process failure (the calls stay buffered and
are retried); a child that exits is started again at the next flush; a child that cannot
be started at all makes the logger write in process from then on.

Frames, both ways: an 8-byte big-endian length, then that many bytes: a pickled list of
``predlog.Call`` tuples to the child; ``b""`` (written) or the error's text back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import struct
import subprocess
import sys
import threading
from typing import IO, Any

log = logging.getLogger("shipyard.serving")
HEADER = struct.Struct("!Q")


class WriterUnavailable(RuntimeError):
    """The child process could not be started: write in process instead."""


class WriteFailed(RuntimeError):
    """The child's store append failed; its message says why."""


class ChildWriter:
    """``append(calls)``: ``store.append`` of the calls, done by a child process."""

    def __init__(self, command: list[str] | None = None) -> None:
        self.command = command or [sys.executable, "-m", "shipyard.serving.logwriter"]
        self._child: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def append(self, calls: list[Any]) -> None:
        data = pickle.dumps(calls, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            child = self._running()
            assert child.stdin is not None and child.stdout is not None
            try:
                child.stdin.write(HEADER.pack(len(data)))
                child.stdin.write(data)
                child.stdin.flush()
                answer = _frame(child.stdout)
            except (OSError, ValueError) as exc:
                self._stop()
                raise ConnectionError(f"the prediction log's writer process failed: {exc}") from exc
            if answer is None:
                code = self._stop()
                raise ConnectionError(f"the prediction log's writer process exited ({code})")
        if answer:
            raise WriteFailed(answer.decode(errors="replace"))

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _running(self) -> subprocess.Popen[bytes]:
        if self._child is not None and self._child.poll() is None:
            return self._child
        try:
            self._child = subprocess.Popen(
                self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=1 << 16
            )
        except OSError as exc:
            raise WriterUnavailable(f"could not start {self.command[:3]}: {exc}") from exc
        return self._child

    def _stop(self) -> int | None:
        child, self._child = self._child, None
        if child is None:
            return None
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            return child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            return child.wait()


def _frame(stream: IO[bytes]) -> bytes | None:
    """One frame's payload, or None at the end of the stream."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    (size,) = HEADER.unpack(head)
    data = stream.read(size)
    return data if len(data) == size else None


def main() -> int:
    """Append each group of calls read from stdin to the store from the environment."""
    from shipyard.serving.predlog import to_record
    from shipyard.tracking import Client

    out = os.fdopen(os.dup(1), "wb")  # the answers; anything printed goes to stderr
    os.dup2(2, 1)
    source = sys.stdin.buffer
    client = Client()
    try:
        while (data := _frame(source)) is not None:
            try:
                client.store.predictions.append([to_record(c) for c in pickle.loads(data)])
                answer = b""
            except Exception as exc:  # reported to the server, which keeps the calls
                answer = f"{type(exc).__name__}: {exc}".encode()
            out.write(HEADER.pack(len(answer)) + answer)
            out.flush()
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
