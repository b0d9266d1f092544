"""`shipyard models ls|versions|show|alias`: what is registered, what is live, who owns it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from shipyard.cli import _output as out
from shipyard.registry import ModelRegistry


@click.group()
def models() -> None:
    """Registered models, their versions and aliases."""


@models.command("ls")
def ls() -> None:
    """Every model: latest version, aliases (what is in production), owner, last trained."""
    registry = ModelRegistry()
    grid = out.table(None, ["model", "latest", "aliases", "owner", "last registered"])
    found = registry.list_models()
    for m in found:
        aliases = ", ".join(f"{a}→v{v}" for a, v in sorted(m.aliases.items()))
        grid.add_row(m.name, f"v{m.latest_version}", aliases, m.owner, _when(m.updated_ms))
    out.console().print(grid)
    if not found:
        click.echo("no models registered yet: shipyard.register_model(name, model)")


@models.command("versions")
@click.argument("name")
def versions(name: str) -> None:
    """A model's versions, newest first, with their run, metrics and status."""
    registry = ModelRegistry()
    aliases = registry.get_model(name).aliases
    by_version: dict[int, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(version, []).append(alias)
    grid = out.table(
        f"versions of {name}", ["version", "flavor", "aliases", "metrics", "run", "by", "when"]
    )
    for v in registry.versions(name):
        metrics = ", ".join(f"{k}={out.number(x)}" for k, x in sorted(v.metrics.items()))
        grid.add_row(
            f"v{v.version}",
            v.flavor,
            ", ".join(sorted(by_version.get(v.version, []))),
            metrics,
            (v.run_id or "")[:8],
            v.created_by,
            _when(v.created_ms),
        )
    out.console().print(grid)


@models.command("show")
@click.argument("uri")
def show(uri: str) -> None:
    """One version in full: models:/NAME/VERSION, models:/NAME@ALIAS (or NAME for latest)."""
    registry = ModelRegistry()
    if not uri.startswith("models:/"):
        uri = f"models:/{uri}/{registry.get_model(uri).latest_version}"
    record = registry.get_version(uri).record
    click.echo(json.dumps(record.__dict__, indent=2, default=str))


@models.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version", type=int, required=False)
@click.option("--delete", is_flag=True, help="remove the alias")
def alias(name: str, alias: str, version: int | None, delete: bool) -> None:
    """Point ALIAS of NAME at VERSION (recorded with who and when), or --delete it."""
    if (version is None) != delete:
        raise click.UsageError("give a VERSION, or --delete")
    move = ModelRegistry().set_alias(name, alias, None if delete else version)
    before = f"v{move.from_version}" if move.from_version else "(unset)"
    after = f"v{move.to_version}" if move.to_version else "(removed)"
    click.echo(f"{name}@{alias}: {before} -> {after}")


def _when(ms: int) -> str:
    return out.when(datetime.fromtimestamp(ms / 1000, UTC))
