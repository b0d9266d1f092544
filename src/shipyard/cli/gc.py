"""`shipyard gc`: purge deleted runs and unreferenced blobs (a dry run unless --yes)."""

from __future__ import annotations

import click

from shipyard.store.gc import collect
from shipyard.tracking import Client


@click.command()
@click.option("--yes", is_flag=True, help="Really delete (otherwise only report).")
@click.option(
    "--min-age",
    default=3600.0,
    show_default=True,
    help="Keep unreferenced blobs younger than this many seconds.",
)
def gc(yes: bool, min_age: float) -> None:
    """Free space: deleted runs, blobs no run references, leftover temp files."""
    client = Client()
    report = collect(client.store, client.blobs, dry_run=not yes, min_age_s=min_age)
    verb = "deleted" if yes else "would delete"
    click.echo(
        f"{verb} {len(report.runs)} deleted run(s), {len(report.blobs)} blob(s) "
        f"({report.blob_bytes / 1e6:.1f} MB), {len(report.temp_files)} temp file(s)"
    )
    if not yes and (report.runs or report.blobs or report.temp_files):
        click.echo("dry run: nothing was deleted; run `shipyard gc --yes` to delete")
