"""Checks of the metadata store and the blob store, for `shipyard doctor`.

Nothing here changes a store: problems are reported with what to do, never fixed. The
SQLite file is checked read-only (``PRAGMA integrity_check``) before anything opens it, and
a store is opened only when its schema is at ``migrate.HEAD`` (opening one migrates it).

    check_database   the SQLite file, or the PostgreSQL connection; the schema revision
    check_blobs      every referenced blob exists and (unless quick) hashes to its name
    check_unused     blobs nothing references and temp files, older than gc's min age
    check_runs       RUNNING runs whose heartbeat is older than the reaper's timeout
    diagnose         all of the above, as one ``DoctorReport``
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy.engine import make_url

from shipyard.errors import InvalidArgument, ShipyardError
from shipyard.store.base import BlobReference, RunRecord, TrackingStore
from shipyard.store.blobs import BlobStore, StoredBlob, check_hash
from shipyard.store.registry import TRACKING_STORES, scheme_of
from shipyard.store.sql import migrate
from shipyard.store.sql.engine import Database, redact

_RESTORE = "restore the blob store from a backup"
_FIX_MISSING = {
    "artifact": "log the artifact again, or " + _RESTORE,
    "model_version": "register the model again, or " + _RESTORE,
    "model_profile": "register the model again with its reference data, or " + _RESTORE,
    "dataset": "save the training set again, or " + _RESTORE,
    "feature_object": "apply the feature definitions again, or " + _RESTORE,
}
Progress = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True)
class Problem:
    """One thing wrong; ``message`` is one line that says what to do about it."""

    check: str  # database | blobs | unused | runs | predictions | online
    message: str
    items: tuple[str, ...] = ()  # the blob hashes, paths or run ids it concerns

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "message": self.message, "items": list(self.items)}


@dataclass
class DoctorReport:
    store: str  # the metadata store URI, without its password
    blob_store: str
    quick: bool
    problems: list[Problem] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)  # what was looked at, counted
    skipped: list[str] = field(default_factory=list)  # checks that could not run, and why

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        counted = ", ".join(f"{n:,} {what.replace('_', ' ')}" for what, n in self.checked.items())
        found = f"{len(self.problems)} problem(s)" if self.problems else "no problems"
        return f"doctor: {found} in {self.store} and {self.blob_store} (checked {counted})"

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "store": self.store,
            "blob_store": self.blob_store,
            "quick": self.quick,
            "checked": dict(self.checked),
            "skipped": list(self.skipped),
            "problems": [p.to_json() for p in self.problems],
        }


# -- the metadata store -----------------------------------------------------------------


def check_database(uri: str, quick: bool = False) -> tuple[list[Problem], str | None]:
    """Problems of the database itself, and its schema revision (None: no schema yet)."""
    if make_url(uri).get_backend_name() == "sqlite":
        path = Path(make_url(uri).database or "").expanduser()
        if not path.is_file():
            return [], None  # nothing written yet; opening it would create it
        problems, revision = _check_sqlite_file(path, quick)
    else:
        problems, revision = _check_server(uri)
    if problems or revision is None or revision == migrate.HEAD:
        return problems, revision
    if revision in migrate.known_revisions():
        message = f"run `shipyard db upgrade` (from {revision} to {migrate.HEAD})"
    else:
        message = f"it is newer than this Shipyard knows ({migrate.HEAD}): pip install -U shipyard"
    where = redact(uri)
    return [
        Problem(
            "database", f"the metadata store {where} is at schema revision {revision}: {message}"
        )
    ], revision


def _check_sqlite_file(path: Path, quick: bool) -> tuple[list[Problem], str | None]:
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=30)
        try:
            pragma = "PRAGMA quick_check" if quick else "PRAGMA integrity_check"
            errors = [row[0] for row in conn.execute(pragma) if row[0] != "ok"]
            revision = None if errors else _sqlite_revision(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        text = str(exc)
        if "locked" in text or "unable to open" in text:
            fix = "check its permissions, or wait for the process that locks it"
            return [
                Problem("database", f"cannot read the metadata store {path} ({text}): {fix}")
            ], None
        errors = [text]
    if errors:
        more = f" and {len(errors) - 1} more error(s)" if len(errors) > 1 else ""
        return [
            Problem(
                "database",
                f"the metadata store {path} is damaged ({errors[0]}{more}): restore it from a "
                f"backup, or save what is readable with `sqlite3 {path} .recover | sqlite3 "
                "recovered.db` and point SHIPYARD_URI at the result",
                tuple(errors),
            )
        ], None
    return [], revision


def _sqlite_revision(conn: sqlite3.Connection) -> str | None:
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
    ).fetchone()
    if not has_table:
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(row[0]) if row else None


def _check_server(uri: str) -> tuple[list[Problem], str | None]:
    try:
        database = Database(uri)
    except ShipyardError as exc:
        return [Problem("database", f"cannot open the metadata store: {exc.message}")], None
    try:
        return [], migrate.current_revision(database)
    except ShipyardError as exc:
        fix = "check that the server runs and that SHIPYARD_URI names it"
        return [Problem("database", f"{exc.message}: {fix}")], None
    finally:
        database.dispose()


# -- blobs --------------------------------------------------------------------------------


def check_blobs(
    references: Iterable[BlobReference],
    stored: dict[str, StoredBlob],
    blobs: BlobStore,
    quick: bool = False,
    progress: Progress | None = None,
) -> list[Problem]:
    """Every referenced blob is stored; unless ``quick``, its bytes hash to its name."""
    by_hash: dict[str, list[BlobReference]] = {}
    for ref in references:
        by_hash.setdefault(ref.blob_hash, []).append(ref)
    problems = []
    for done, (blob_hash, where) in enumerate(sorted(by_hash.items()), 1):
        try:
            check_hash(blob_hash)
        except InvalidArgument:
            problems.append(_blob_problem(blob_hash, where, "is not a valid blob hash", None))
            continue
        actual = blob_hash if blob_hash in stored else None
        if actual is not None and not quick:
            actual = blobs.digest(blob_hash)
        if actual is None:
            problems.append(_blob_problem(blob_hash, where, "is missing", None))
        elif actual != blob_hash:
            path = blobs.path(blob_hash)
            fix = f"delete {path} and log it again, or restore it from a backup"
            problems.append(
                _blob_problem(
                    blob_hash, where, f"is corrupt (its bytes hash to {actual[:12]}…)", fix
                )
            )
        if progress is not None:
            progress(done, len(by_hash))
    return problems


def _blob_problem(
    blob_hash: str, where: list[BlobReference], what: str, fix: str | None
) -> Problem:
    first = where[0]
    others = f" (and {len(where) - 1} more reference(s))" if len(where) > 1 else ""
    fix = fix or _FIX_MISSING.get(first.kind, _RESTORE)
    message = f"blob {blob_hash[:12]}… of {first.description}{others} {what}: {fix}"
    return Problem("blobs", message, (blob_hash, *(r.description for r in where)))


def check_unused(
    referenced: set[str] | None,
    stored: dict[str, StoredBlob],
    blobs: BlobStore,
    now_s: float,
    min_age_s: float,
) -> list[Problem]:
    """Blobs nothing references (skipped when ``referenced`` is None: unknown) and temp
    files of interrupted writes, both older than ``min_age_s`` (what gc would delete)."""
    cutoff = now_s - min_age_s
    gc = (
        "`shipyard gc --yes`"
        if min_age_s == 3600.0
        else f"`shipyard gc --yes --min-age {min_age_s:g}`"
    )
    problems = []
    if referenced is not None:
        unused = [b for b in stored.values() if b.hash not in referenced and b.modified < cutoff]
        if unused:
            size = sum(b.size for b in unused) / 1e6
            problems.append(
                Problem(
                    "unused",
                    f"{len(unused)} orphaned blob(s) ({size:.1f} MB) that nothing references, "
                    f"older than {min_age_s:g} s: {gc} deletes them",
                    tuple(sorted(b.hash for b in unused)),
                )
            )
    temps = sorted(path for path, mtime in blobs.iter_temp_files() if mtime < cutoff)
    if temps:
        problems.append(
            Problem(
                "unused",
                f"{len(temps)} leftover temp file(s) of interrupted writes in {blobs.uri}: {gc} "
                "deletes them",
                tuple(temps),
            )
        )
    return problems


# -- runs and predictions -----------------------------------------------------------------


def check_runs(running: Iterable[RunRecord], now_ms: int, timeout_s: float) -> list[Problem]:
    """RUNNING runs without a heartbeat for longer than ``timeout_s``: their process died."""
    cutoff = now_ms - int(timeout_s * 1000)
    problems = []
    for run in running:
        if run.heartbeat_ms < cutoff:
            ago = (now_ms - run.heartbeat_ms) / 1000
            problems.append(
                Problem(
                    "runs",
                    f"run {run.id[:8]} ({run.project}/{run.name}) is RUNNING but its last "
                    f"heartbeat was {_seconds(ago)} ago (timeout {timeout_s:g} s): its process "
                    "is gone; `shipyard runs reap` marks it KILLED",
                    (run.id,),
                )
            )
    return problems


def check_predictions(store: TrackingStore) -> list[Problem]:
    """Logged predictions name model versions that exist (their blobs are checked there)."""
    known: dict[str, set[int]] = {}
    problems = []
    for (model, version), calls in sorted(store.predictions.logged_versions().items()):
        if model not in known:
            try:
                known[model] = {v.version for v in store.models.list_model_versions(model)}
            except ShipyardError:
                known[model] = set()
        if version not in known[model]:
            problems.append(
                Problem(
                    "predictions",
                    f"{calls} logged prediction call(s) name model {model} v{version}, which is "
                    "not in the registry: restore the metadata store from a backup",
                    (f"{model}/{version}",),
                )
            )
    return problems


def _seconds(value: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value:.0f} s"


# -- everything -----------------------------------------------------------------------------


def diagnose(
    uri: str,
    artifact_uri: str,
    *,
    quick: bool = False,
    min_age_s: float = 3600.0,
    heartbeat_timeout_s: float = 120.0,
    now_ms: int | None = None,
    progress: Progress | None = None,
) -> DoctorReport:
    """Run every store check; never raises for what it finds (a damaged file is a problem)."""
    if not uri.startswith(("sqlite", "postgres")):
        raise InvalidArgument(
            f"{redact(uri)} is not a SQL store: run `shipyard doctor` where the server runs"
        )
    now_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    report = DoctorReport(redact(uri), artifact_uri, quick)
    problems, revision = check_database(uri, quick)
    report.problems += problems
    try:
        blobs = BlobStore(artifact_uri)
        stored = {b.hash: b for b in blobs.iter_blobs()}
    except (ShipyardError, OSError) as exc:
        text = exc.message if isinstance(exc, ShipyardError) else str(exc)
        fix = "check SHIPYARD_ARTIFACT_URI and its credentials"
        report.problems.append(Problem("blobs", f"cannot list the blob store: {text}: {fix}"))
        report.skipped.append("blob checks: the blob store cannot be listed")
        return report
    report.checked["stored_blobs"] = len(stored)
    if problems or revision != migrate.HEAD:
        why = "is empty" if revision is None and not problems else "cannot be read"
        report.skipped.append(
            f"blob references, orphaned blobs, runs, predictions and the online store: "
            f"the metadata store {why}"
        )
        if not problems and stored:
            report.problems.append(
                Problem(
                    "database",
                    f"the metadata store {report.store} is empty but the blob store holds "
                    f"{len(stored)} blob(s): restore the database from a backup (or point "
                    "SHIPYARD_URI at the right one)",
                )
            )
        report.problems += check_unused(None, stored, blobs, now_ms / 1000, min_age_s)
        return report
    _check_contents(report, uri, blobs, stored, now_ms, min_age_s, heartbeat_timeout_s, progress)
    return report


def _check_contents(
    report: DoctorReport,
    uri: str,
    blobs: BlobStore,
    stored: dict[str, StoredBlob],
    now_ms: int,
    min_age_s: float,
    timeout_s: float,
    progress: Progress | None,
) -> None:
    store: TrackingStore = TRACKING_STORES.load(scheme_of(uri))(uri, migrate=False)
    try:
        references = store.blob_references()
        referenced = {r.blob_hash for r in references}
        report.checked["blob_references"] = len(references)
        report.checked["referenced_blobs"] = len(referenced)
        report.problems += check_blobs(references, stored, blobs, report.quick, progress)
        report.problems += check_unused(referenced, stored, blobs, now_ms / 1000, min_age_s)
        running = store.running_runs()
        report.checked["running_runs"] = len(running)
        report.problems += check_runs(running, now_ms, timeout_s)
        report.problems += check_predictions(store)
    except ShipyardError as exc:
        report.problems.append(
            Problem("database", f"reading the metadata store failed: {exc.message}")
        )
    finally:
        store.close()
