"""The `shipyard` command: user errors print one line and exit 1; --debug shows tracebacks."""

from __future__ import annotations

import sys

import click

from shipyard.cli import (
    access,
    alerts,
    audit,
    config_cmd,
    db,
    doctor,
    features,
    flows,
    gc,
    init,
    lineage,
    models,
    monitor,
    predict,
    predictions,
    projects,
    quickstart,
    runs,
    scheduler,
    serve,
    server,
    ui,
    usage,
)
from shipyard.errors import ShipyardError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="shipyard")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Shipyard, a fun-sized MLOps platform: experiment tracking with zero servers."""
    ctx.obj = {"debug": debug}


for command in (
    runs.runs,
    projects.projects,
    flows.flows,
    usage.usage_command,
    features.features,
    models.models,
    serve.serve,
    server.server,
    ui.ui,
    predict.predict,
    predictions.predictions,
    monitor.monitor,
    lineage.lineage,
    alerts.alerts,
    scheduler.scheduler,
    audit.audit,
    config_cmd.config,
    db.db,
    gc.gc,
    doctor.doctor,
    access.users,
    access.tokens,
    access.roles,
    quickstart.quickstart,
    init.init,
):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        _run(args, debug)
    finally:
        _end_session(debug)


def _run(args: list[str], debug: bool) -> None:
    """One command; every error a user can act on is one line on stderr and exit 1."""
    try:
        cli.main(args=args, prog_name="shipyard", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ShipyardError as exc:
        if debug:
            raise
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


def _end_session(debug: bool) -> None:
    """Write what the command buffered and close the store, as a process exit would."""
    from shipyard.session import close_current

    try:
        close_current()
    except ShipyardError as exc:
        if debug:
            raise
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
