"""`shipyard db upgrade|current`: schema migrations of the metadata store."""

from __future__ import annotations

import click

from shipyard.config import load_settings
from shipyard.errors import InvalidArgument, StoreUnavailable
from shipyard.store.sql import migrate
from shipyard.store.sql.engine import Database, redact


@click.group()
def db() -> None:
    """Metadata store schema."""


def _database() -> Database:
    uri = load_settings().uri
    if not uri.startswith(("sqlite", "postgres")):
        raise InvalidArgument(f"{redact(uri)} is not a SQL store; run `db upgrade` on the server")
    return Database(uri)


@db.command("upgrade")
def upgrade() -> None:
    """Apply pending migrations (they also apply automatically on first use)."""
    database = _database()
    before, after = migrate.upgrade(database)
    if before == after:
        click.echo(f"{redact(database.uri)} is up to date (revision {after})")
    else:
        click.echo(f"upgraded {redact(database.uri)} from {before or 'empty'} to {after}")


@db.command("current")
def current() -> None:
    """Print the schema revision of the store and the newest this Shipyard knows."""
    database = _database()
    revision = migrate.current_revision(database)
    problem = migrate.health_problem(database)
    if problem is not None:
        raise StoreUnavailable(
            f"{redact(database.uri)} is at revision {revision} but damaged ({problem}); "
            "run `shipyard doctor`, then restore the file from a backup"
        )
    click.echo(
        f"{redact(database.uri)}: revision {revision or 'none (empty)'}; head {migrate.HEAD}"
    )
