"""Entry point of a worker process: ``python -m shipyard.flows.worker_main``.

It reads pickled TaskSpecs from its stdin and writes pickled TaskResults to its stdout,
each as a length-prefixed frame. Before anything else it moves those two pipes to private
file descriptors and points fd 0 at the null device and fd 1 at stderr, so nothing a
step (or a C extension) prints can corrupt the channel.

A worker forked from the runner (``serve_forked``) gets its channel as two new pipes and
runs the same loop; it never returns into the runner's code.

When the runtime goes away (it closes the pipes: it stopped before the first task, or it
died), the worker exits quietly with code 0: its end of a closed channel is not an error;
Ctrl-C (which reaches the whole process group) ends it quietly with code 130.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable
from typing import IO, NoReturn


def main() -> None:
    channel_in = os.fdopen(os.dup(0), "rb")
    channel_out = os.fdopen(os.dup(1), "wb")
    _isolate_stdio()
    sys.path[:0] = [
        p for p in json.loads(os.environ.get("SHIPYARD_WORKER_PATH", "[]")) if p not in sys.path
    ]
    _serve(channel_in, channel_out, _preload, ready=True)


def serve_forked(fd_in: int, fd_out: int, warm: Callable[[], object] | None) -> NoReturn:
    """The loop of a worker forked from the runner, on the pipes ``fd_in``/``fd_out``.

    Whatever happens, this process ends here (``os._exit``): returning would run the
    runner's code a second time."""
    try:
        import gc

        gc.freeze()  # the runner's objects are never collected (nor finalized) here
        channel_in, channel_out = os.fdopen(fd_in, "rb"), os.fdopen(fd_out, "wb")
        _isolate_stdio()
        _serve(channel_in, channel_out, warm, ready=False)
    except BaseException:  # as an uncaught exception ends a spawned worker
        import traceback

        traceback.print_exc()
    finally:
        _exit(1)  # only reached if _serve itself failed: it exits on its own


def _isolate_stdio() -> None:
    """fd 0 reads nothing, fd 1 goes to stderr: what steps print cannot reach a channel."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)


def _serve(
    channel_in: IO[bytes],
    channel_out: IO[bytes],
    prepare: Callable[[], object] | None,
    ready: bool,
) -> NoReturn:
    try:
        from shipyard.flows.executors.frames import read_frame, write_frame
        from shipyard.flows.worker import run_task

        if prepare is not None:
            _try(prepare)  # while the runtime is still setting up the run
        if ready:
            write_frame(channel_out, "ready")
        while (spec := read_frame(channel_in)) is not None:
            write_frame(channel_out, run_task(spec))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the runtime went away (it stopped early, or died): nobody to answer
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the runtime stops us
        _exit(130)
    _exit(0)


def _try(prepare: Callable[[], object]) -> None:
    """Warming up is an optimisation: a failure here shows again, with its real message,
    when the first task needs the same thing."""
    with contextlib.suppress(Exception):
        prepare()


def _exit(code: int) -> NoReturn:
    """Every task ended its run and flushed its metrics: skip the interpreter's teardown
    (which would also flush a closed channel once more, and complain)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _preload() -> None:
    """Import what the first task needs, so that it does not pay for it."""
    import fsspec  # noqa: F401  (the blob store)

    from shipyard.config import load_settings
    from shipyard.store.registry import TRACKING_STORES, scheme_of

    TRACKING_STORES.load(scheme_of(load_settings().uri))  # the metadata store's backend


if __name__ == "__main__":
    main()
