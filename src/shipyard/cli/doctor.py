"""`shipyard doctor`: check the stores, print one line per problem with what to do.

The store checks live in ``shipyard.store.doctor``; the online store check is here, on top
of the feature store's API: each online view is fresh against its TTL, and a sample of the
entities its watermark covers holds, online, at least the rows the offline data has.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import click

from shipyard._clock import from_millis
from shipyard.cli import _output as out
from shipyard.config import load_settings
from shipyard.errors import ShipyardError
from shipyard.features import FeatureStore, ViewStatus
from shipyard.store.doctor import DoctorReport, Problem, diagnose
from shipyard.tracking import Client

SAMPLE = 200  # entities per online view compared with the offline data


@click.command()
@click.option("--quick", is_flag=True, help="Check that blobs exist without hashing them.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report instead of lines.")
@click.option(
    "--min-age",
    default=3600.0,
    show_default=True,
    help="Count unreferenced blobs and temp files older than this many seconds (as gc).",
)
def doctor(quick: bool, as_json: bool, min_age: float) -> None:
    """Check the metadata store, blobs, runs and the online store.

    Prints one line per problem with what to do and a summary; exits with status 1 when
    there is any problem. Nothing is changed."""
    settings = load_settings()
    with out.console().status("checking the stores") as status:
        report = diagnose(
            settings.uri,
            settings.artifact_uri,
            quick=quick,
            min_age_s=min_age,
            heartbeat_timeout_s=settings.heartbeat_timeout,
            progress=lambda done, total: status.update(f"checking blobs: {done:,} of {total:,}"),
        )
        status.update("checking the online store")
        if not report.skipped:
            _check_online(report)
    if as_json:
        out.print_json(report.to_json())
    else:
        for problem in report.problems:
            click.echo(problem.message)
        for skipped in report.skipped:
            click.echo(f"skipped: {skipped}")
        click.echo(report.summary())
    if report.problems:
        sys.exit(1)


def _check_online(report: DoctorReport) -> None:
    client = Client()
    views = 0
    try:
        for project in client.list_projects():
            fs = FeatureStore(project.name, client=client)
            try:
                for status in fs.catalog.status():
                    if status.online:
                        views += 1
                        report.problems += _check_view(fs, status)
            except ShipyardError as exc:
                message = f"cannot check the online store of feature project {project.name!r}"
                report.problems.append(Problem("online", f"{message}: {exc.message}"))
            finally:
                fs.close()
    finally:
        client.close()
    report.checked["online_views"] = views


def _check_view(fs: FeatureStore, status: ViewStatus) -> list[Problem]:
    where = f"online view {status.view!r} of feature project {fs.project!r}"
    again = f"`shipyard features materialize-incremental --project {fs.project}`"
    if status.watermark is None:
        return [Problem("online", f"{where} was never materialized: run {again}", (status.view,))]
    if status.stale:
        return [
            Problem(
                "online",
                f"{where} is stale: its newest data is {_age(status.staleness)} old, older "
                f"than its TTL ({_age(status.ttl)}): run {again}",
                (status.view,),
            )
        ]
    start = _covered_since(fs, status)
    behind, sampled = _sample_behind(fs, status.view, start, status.watermark)
    if not behind:
        return []
    reload = (
        f"`shipyard features materialize {_iso(start)} {_iso(status.watermark)} "
        f"--project {fs.project} --view {status.view}`"
    )
    return [
        Problem(
            "online",
            f"{where} is behind its watermark ({_iso(status.watermark)}): {behind} of "
            f"{sampled} sampled entities are missing or older online than offline; reload "
            f"them with {reload}",
            (status.view,),
        )
    ]


def _covered_since(fs: FeatureStore, status: ViewStatus) -> datetime | None:
    """The start of what the view's materializations loaded, bounded by its TTL."""
    loads = fs.meta.materializations(fs.project, status.view, limit=10_000)
    starts = [m.start_ms for m in loads if m.kind == "materialize"]
    known = [s for s in starts if s is not None]
    start = from_millis(min(known)) if known and len(known) == len(starts) else None
    if status.ttl and status.watermark is not None:
        floor = status.watermark - status.ttl
        start = floor if start is None else max(start, floor)
    return start


def _sample_behind(
    fs: FeatureStore, view_name: str, start: datetime | None, end: datetime
) -> tuple[int, int]:
    """(behind, sampled): entities whose online row is missing or older than the latest
    offline row in [start, end), among a sample of them."""
    from shipyard.features import offline  # DuckDB loads only for this check
    from shipyard.features.online.write import latest_rows_sql

    view = fs.get_feature_view(view_name)
    con = fs.connect()
    try:
        relation = offline.source_relation(con, view, 0, fs.source_context())
        sql = latest_rows_sql(view, relation, start, end)
        rows = con.sql(f"SELECT k, t FROM ({sql}) USING SAMPLE {SAMPLE} ROWS").fetchall()
    finally:
        con.close()
    found = fs.online.read(view.name, [key for key, _ in rows]) if rows else []
    behind = sum(
        1 for (_, ts), row in zip(rows, found, strict=True) if row is None or row.event_ts < ts
    )
    return behind, len(rows)


def _iso(moment: datetime | None) -> str:
    """UTC, in the form `shipyard features materialize` takes."""
    if moment is None:
        return "1970-01-01T00:00:00"
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")


def _age(delta: timedelta | None) -> str:
    return str(timedelta(seconds=round(delta.total_seconds()))) if delta is not None else "?"
