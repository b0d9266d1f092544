"""`shipyard models ls|versions|show|alias|promote|card|build`: what is registered, what is
live and on what evidence, who owns it, and a folder to ship it in."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from shipyard.cli import _output as out
from shipyard.errors import GateFailed
from shipyard.registry import AliasMove, ModelRegistry, build_model, model_card


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
    """One version in full, with the aliases pointing at it: models:/NAME/VERSION,
    NAME/VERSION, NAME@ALIAS (or NAME for latest)."""
    registry = ModelRegistry()
    record = registry.find_version(uri).record
    aliases = registry.get_model(record.name).aliases
    pointing = sorted(a for a, v in aliases.items() if v == record.version)
    click.echo(json.dumps(record.__dict__ | {"aliases": pointing}, indent=2, default=str))


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
    click.echo(_moved(move))


@models.command("promote")
@click.argument("name")
@click.argument("version", type=int)
@click.option("--to", "alias", default="production", show_default=True, help="alias to move")
@click.option(
    "--require",
    "gates",
    multiple=True,
    metavar="EXPR",
    help='gate that must hold (repeatable): "metrics.auc >= champion.metrics.auc", '
    '"metrics.latency_ms < 50", "tags.reviewed == \'yes\'", "tests passed"',
)
def promote(name: str, version: int, alias: str, gates: tuple[str, ...]) -> None:
    """Point ALIAS at VERSION only if every gate holds against the version ALIAS points at
    now (the champion). The gate results are recorded with the move (`models card` shows
    them); when a gate fails nothing moves and the command exits 1."""
    try:
        move = ModelRegistry().promote(name, version, alias, gates)
    except GateFailed as exc:
        _print_gates(exc.results)
        raise
    _print_gates(move.gates)
    click.echo(_moved(move))


@models.command("card")
@click.argument("ref", metavar="REF")
@click.option("--html", "as_html", is_flag=True, help="a self-contained HTML page")
@click.option(
    "--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), help="write to FILE"
)
def card(ref: str, as_html: bool, out_file: Path | None) -> None:
    """A version's model card in Markdown (or --html): lineage, signature, metrics,
    requirements and the alias history with gate results. REF: NAME (latest),
    NAME/VERSION, NAME@ALIAS or models:/..."""
    registry = ModelRegistry()
    version = registry.find_version(ref)
    found = model_card(registry, version.name, version.version)
    text = found.html if as_html else found.markdown
    if out_file is None:
        click.echo(text, nl=False)
        return
    out_file.write_text(text, encoding="utf-8")
    click.echo(f"wrote the card of {version.uri} to {out_file}")


@models.command("build")
@click.argument("ref", metavar="REF")
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
    help="folder to write (must be new or empty)",
)  # fmt: skip
@click.option("--force", is_flag=True, help="replace a previous build in --out")
def build(ref: str, out_dir: Path, force: bool) -> None:
    """Write a self-contained folder for REF (NAME@ALIAS, NAME/VERSION, ...): the model's
    files and record, pinned requirements and a Dockerfile that runs `shipyard serve`."""
    registry = ModelRegistry()
    with out.console().status(f"building {ref} into {out_dir}"):
        folder = build_model(registry, ref, out_dir, force=force)
    record = json.loads((folder / "model" / "shipyard-version.json").read_text())
    click.echo(f"built {record['uri']} into {folder}")
    click.echo(f"next: docker build -t {record['name'].lower()}:{record['version']} {folder}")


def _moved(move: AliasMove) -> str:
    before = f"v{move.from_version}" if move.from_version else "(unset)"
    after = f"v{move.to_version}" if move.to_version else "(removed)"
    return f"{move.name}@{move.alias}: {before} -> {after}"


def _print_gates(results: Sequence[dict[str, Any]]) -> None:
    for result in results:
        mark = "pass" if result["passed"] else "FAIL"
        click.echo(f"{mark}  {result['gate']}  ({result['detail']})")


def _when(ms: int) -> str:
    return out.when(datetime.fromtimestamp(ms / 1000, UTC))
