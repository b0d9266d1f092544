"""Entry point of a worker process: ``python -m shipyard.flows.worker_main``.

It reads pickled TaskSpecs from its stdin and writes pickled TaskResults to its stdout,
each as a length-prefixed frame. Before anything else it moves those two pipes to private
file descriptors and points fd 0 at the null device and fd 1 at stderr, so nothing a
step (or a C extension) prints can corrupt the channel.

When the runtime goes away (it closes the pipes: it stopped before the first task, or it
died), the worker exits quietly with code 0: its end of a closed channel is not an error;
Ctrl-C (which reaches the whole process group) ends it quietly with code 130.
"""

from __future__ import annotations

import json
import os
import sys
from typing import NoReturn


def main() -> None:
    channel_in = os.fdopen(os.dup(0), "rb")
    channel_out = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    sys.path[:0] = [
        p for p in json.loads(os.environ.get("SHIPYARD_WORKER_PATH", "[]")) if p not in sys.path
    ]
    try:
        from shipyard.flows.executors.frames import read_frame, write_frame
        from shipyard.flows.worker import run_task

        _preload()  # while the runtime is still setting up the run
        write_frame(channel_out, "ready")
        while (spec := read_frame(channel_in)) is not None:
            write_frame(channel_out, run_task(spec))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the runtime went away (it stopped early, or died): nobody to answer
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the runtime stops us
        _exit(130)
    _exit(0)


def _exit(code: int) -> NoReturn:
    """Every task ended its run and flushed its metrics: skip the interpreter's teardown
    (which would also flush a closed channel once more, and complain)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _preload() -> None:
    """Import what the first task needs, so that it does not pay for it."""
    import fsspec  # noqa: F401  (the blob store)

    import shipyard.store.sql  # noqa: F401  (SQLAlchemy and the SQL store)


if __name__ == "__main__":
    main()
