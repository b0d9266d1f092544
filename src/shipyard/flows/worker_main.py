"""Entry point of a worker process: ``python -m shipyard.flows.worker_main``.

It reads pickled TaskSpecs from its stdin and writes pickled TaskResults to its stdout,
each as a length-prefixed frame. Before anything else it moves those two pipes to private
file descriptors and points fd 0 at the null device and fd 1 at stderr, so nothing a
step (or a C extension) prints can corrupt the channel.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    channel_in = os.fdopen(os.dup(0), "rb")
    channel_out = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    sys.path[:0] = [
        p for p in json.loads(os.environ.get("SHIPYARD_WORKER_PATH", "[]")) if p not in sys.path
    ]
    from shipyard.flows.executors.frames import read_frame, write_frame
    from shipyard.flows.worker import run_task

    _preload()  # while the runtime is still setting up the run
    write_frame(channel_out, "ready")
    while (spec := read_frame(channel_in)) is not None:
        write_frame(channel_out, run_task(spec))
    # Every task ended its run and flushed its metrics: skip the interpreter's teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _preload() -> None:
    """Import what the first task needs, so that it does not pay for it."""
    import fsspec  # noqa: F401  (the blob store)

    import shipyard.store.sql  # noqa: F401  (SQLAlchemy and the SQL store)


if __name__ == "__main__":
    main()
