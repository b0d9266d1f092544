"""What a run records about where it ran: code version, Python, packages, command line.

Captured once per process and cached: packages and the git state do not change between
the runs of one script, and capturing them costs tens of milliseconds.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import hashlib
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

MAX_DIFF_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class CodeVersion:
    commit: str  # "" outside a git checkout
    dirty: bool
    diff: bytes  # uncommitted changes (staged and not), capped at MAX_DIFF_BYTES
    repo: str

    @property
    def label(self) -> str:
        if not self.commit:
            return ""
        return self.commit + ("-dirty" if self.dirty else "")


def _git(folder: Path, *args: str) -> bytes | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _code_folder() -> Path:
    """The folder of the running script; the working directory for console scripts
    (their file sits in the environment's bin folder) and interactive sessions."""
    script = sys.argv[0] if sys.argv else ""
    if script and script not in ("-c", "-m") and Path(script).is_file():
        folder = Path(script).resolve().parent
        if folder != Path(sysconfig.get_path("scripts")).resolve():
            return folder
    return Path.cwd()


def _maybe_in_repository(folder: Path) -> bool:
    """False when git cannot find a repository from ``folder`` (no ``.git`` there or
    above, no GIT_DIR): then no git process needs to start (each costs ~10 ms)."""
    if os.environ.get("GIT_DIR"):
        return True
    folder = folder.resolve()
    return any((p / ".git").exists() for p in (folder, *folder.parents))


@functools.lru_cache(maxsize=8)
def code_version(folder: Path | None = None) -> CodeVersion:
    where = folder or _code_folder()
    found = (
        _git(where, "rev-parse", "--show-toplevel", "HEAD") if _maybe_in_repository(where) else None
    )
    lines = found.decode().splitlines() if found else []
    if len(lines) != 2:  # not in a work tree, or no commit yet
        return CodeVersion("", False, b"", "")
    top, commit = (line.strip() for line in lines)
    diff = _git(where, "diff", "HEAD", "--no-color", "--no-ext-diff") or b""
    return CodeVersion(commit, bool(diff), diff[:MAX_DIFF_BYTES], top)


def command_line() -> str:
    argv = list(sys.argv)
    if not argv or argv == [""]:
        return f"{sys.executable} (interactive)"
    if "ipykernel" in argv[0] or "ipykernel_launcher" in " ".join(argv):
        return "notebook"
    return shlex.join([Path(sys.executable).name, *argv])


@functools.lru_cache(maxsize=1)
def environment() -> dict[str, Any]:
    """Python, platform and installed packages: a JSON-able dict, the same for a process.

    Reading every package's metadata (and the platform string) takes ~200 ms, so the
    result is cached on disk, keyed by the interpreter and the package folders on the
    import path with their modification times: installing or removing a package changes
    them (editable installs register through .pth files there too).
    """
    key_parts = [sys.executable]
    for entry in sys.path:  # package folders only: a project folder changes all the time
        if entry.endswith(("site-packages", "dist-packages")):
            with contextlib.suppress(OSError):
                key_parts.append(f"{entry}:{os.stat(entry).st_mtime_ns}")
    key = hashlib.sha256("\n".join(key_parts).encode()).hexdigest()[:32]
    cache = Path(tempfile.gettempdir()) / f"shipyard-environment-{key}.json"
    with contextlib.suppress(OSError, ValueError):
        return dict(json.loads(cache.read_text(encoding="utf-8")))
    found = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "packages": _scan_packages(),
    }
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(found), encoding="utf-8")
        os.replace(tmp, cache)
    except OSError:
        tmp.unlink(missing_ok=True)
    return found


def _scan_packages() -> dict[str, str]:
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found[name] = dist.version
    return dict(sorted(found.items(), key=lambda kv: kv[0].lower()))


def current_user() -> str:
    """Who is acting: SHIPYARD_USER when set (a service account, CI), else the OS user."""
    if os.environ.get("SHIPYARD_USER"):
        return os.environ["SHIPYARD_USER"]
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return os.environ.get("USER", "")


@functools.lru_cache(maxsize=1)
def hostname() -> str:
    return socket.gethostname()
