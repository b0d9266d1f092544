"""Shared plumbing for the benchmark scripts (not a benchmark itself).

``bench_store(uri)`` points shipyard at a throwaway home: a temp folder holding the SQLite
file and the blobs, so nothing touches ``~/.shipyard``. With a ``postgresql://`` URI the
metadata goes to that database instead; the database is created for the benchmark and
dropped afterwards (a database that already exists is refused, never dropped).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ENV_KEYS = ("SHIPYARD_HOME", "SHIPYARD_URI", "SHIPYARD_ARTIFACT_URI")


def parser(doc: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=(doc or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--uri",
        help="metadata store; default: SQLite in a temp folder. A postgresql:// URI names a "
        "database that this script creates and drops.",
    )
    p.add_argument("--repeat", type=int, default=3, help="number of timed trials")
    return p


def _admin_conninfo(uri: str) -> tuple[str, str]:
    from sqlalchemy.engine import make_url

    url = make_url(uri)
    if not url.database:
        raise SystemExit(f"{uri}: name a database to create, e.g. .../shipyard_bench")
    admin = url.set(drivername="postgresql", database="postgres")
    return admin.render_as_string(hide_password=False), url.database


@contextlib.contextmanager
def _postgres_database(uri: str) -> Iterator[None]:
    import psycopg

    conninfo, name = _admin_conninfo(uri)
    with psycopg.connect(conninfo, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            raise SystemExit(f"database {name!r} already exists; pick a new name for the bench")
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield
    finally:
        with psycopg.connect(conninfo, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def bench_store(uri: str | None, tmp_dir: str | None = None) -> Iterator[Path]:
    """Set SHIPYARD_* to a temp home (and ``uri``); yields the home folder."""
    saved = {k: os.environ.get(k) for k in ENV_KEYS}
    with contextlib.ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=tmp_dir)))
        os.environ["SHIPYARD_HOME"] = str(home)
        os.environ["SHIPYARD_ARTIFACT_URI"] = str(home / "blobs")
        os.environ["SHIPYARD_URI"] = uri or f"sqlite:///{home / 'shipyard.db'}"
        if uri and uri.startswith("postgres"):
            stack.enter_context(_postgres_database(uri))
        try:
            yield home
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def header(title: str, uri: str | None) -> None:
    """Print what runs where, and warn when other work competes for the CPUs."""
    import psutil

    backend = "PostgreSQL" if uri and uri.startswith("postgres") else "SQLite"
    busy = psutil.cpu_percent(interval=1.0)  # this process sleeps: all of it is others' work
    print(f"{title} on {backend}; {os.cpu_count()} CPUs, {busy:.0f}% busy before the start")
    if busy > 25:
        print("  warning: other work competes for the CPUs; figures will be low and noisy")


def median(values: list[float]) -> float:
    return statistics.median(values)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def line(label: str, measured: str, target: str, ok: bool) -> str:
    """One result line, in a fixed format that is easy to copy into the README."""
    return f"{verdict(ok)}  {label:<44} {measured:>22}   target {target}"


ROOT = Path(__file__).resolve().parent.parent


def peer_python(venv: Path, probe: str, packages: list[str]) -> str:
    """The python of a throwaway venv holding a peer tool (Metaflow, Feast), created and
    installed when ``probe`` (Python code) fails in it."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if subprocess.run([python, "-c", probe], capture_output=True).returncode == 0:
        print(f"  reusing the venv at {venv}")
    else:
        print(f"  pip install {' '.join(packages)} into {venv} ...", flush=True)
        pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        done = subprocess.run([*pip, *packages], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"pip install failed:\n{done.stdout}{done.stderr}")
    return str(python)


def versions(python: str, *packages: str) -> str:
    code = "import sys; from importlib.metadata import version as v; " + (
        "print(*(p + ' ' + v(p) for p in sys.argv[1:]), sep=', ')"
    )
    return subprocess.run(
        [python, "-c", code, *packages], capture_output=True, text=True, check=True
    ).stdout.strip()


def source_label() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    dirty = git("status", "--porcelain", "--", "src")
    return f"commit {git('rev-parse', '--short', 'HEAD') or '?'}" + (
        " + uncommitted changes in src/" if dirty else ""
    )
