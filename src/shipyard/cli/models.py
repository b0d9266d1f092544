"""`shipyard models ls|versions|show|owners|alias|promote|card|build|load-test`: what is
registered, what is live and on what evidence, who owns it, a folder to ship it in, and how
much load it takes."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from shipyard.cli import _output as out
from shipyard.errors import GateFailed, ShipyardError
from shipyard.registry import AliasMove, ModelRegistry, ModelStatus, build_model, model_card

if TYPE_CHECKING:
    from shipyard.serving.loadtest import LoadTestResult


@click.group()
def models() -> None:
    """Registered models, their versions and aliases."""


@models.command("ls")
@click.option("--stale", "only_stale", is_flag=True, help="Only stale models.")
@click.option(
    "--stale-after",
    type=click.FloatRange(0, min_open=True),
    metavar="DAYS",
    help="Days without a version or a prediction (default: model_stale_after).",
)
@out.json_option
def ls(only_stale: bool, stale_after: float | None, as_json: bool) -> None:
    """Every model: what is in production, who owns it, when it was last trained and last
    used, and whether it is stale (idle too long, or its owner is gone)."""
    from shipyard.registry import model_statuses
    from shipyard.tracking import Client

    statuses = [s for s in model_statuses(Client(), stale_after) if s.stale or not only_stale]
    if as_json:
        out.print_json([_status_json(s) for s in statuses])
        return
    grid = out.table(
        None,
        ["model", "production", "aliases", "owner", "last trained", "last prediction", "stale"],
    )
    for s in statuses:
        m = s.model
        production = f"v{m.aliases['production']}" if "production" in m.aliases else "-"
        aliases = ", ".join(f"{a}→v{v}" for a, v in sorted(m.aliases.items()))
        grid.add_row(
            m.name,
            production,
            aliases,
            m.owner,
            f"v{m.latest_version} {_when(s.last_version_ms)}",
            _when(s.last_prediction_ms) if s.last_prediction_ms else "never",
            f"[yellow]{s.stale_reason}[/]" if s.stale else "no",
        )
    out.console().print(grid)
    if not statuses:
        click.echo("no models registered yet: shipyard.register_model(name, model)")


def _status_json(status: ModelStatus) -> dict[str, Any]:
    return {
        **out.plain(status.model),
        "production": status.model.aliases.get("production"),
        "last_version_ms": status.last_version_ms,
        "last_prediction_ms": status.last_prediction_ms,
        "stale": status.stale,
        "stale_reason": status.stale_reason,
    }


@models.command("owners")
@click.option("--gone", metavar="USER", help="Mark USER as gone: their models become stale.")
@click.option("--back", metavar="USER", help="Undo --gone for USER.")
@out.json_option
def owners(gone: str | None, back: str | None, as_json: bool) -> None:
    """Who owns which models; mark an owner who left as --gone (their models show as stale
    until someone takes them over with `models set-owner`)."""
    from shipyard.registry import mark_owner_gone
    from shipyard.tracking import Client

    client = Client()
    if gone or back:
        mark_owner_gone(client, str(gone or back), gone=bool(gone))
        click.echo(f"{gone or back} marked {'gone' if gone else 'back'}")
        return
    left = client.store.models.gone_owners()
    by_owner: dict[str, list[str]] = {}
    for m in client.store.models.list_models():
        by_owner.setdefault(m.owner, []).append(m.name)
    if as_json:
        out.print_json(
            [
                {
                    "owner": o,
                    "models": sorted(n),
                    "gone": o in left,
                    "marked_by": left.get(o, [None])[0],
                }
                for o, n in sorted(by_owner.items())
            ]
        )
        return
    grid = out.table(None, ["owner", "models", "status"])
    for owner, names in sorted(by_owner.items()):
        status = f"gone (marked by {left[owner][0]})" if owner in left else "active"
        grid.add_row(owner, ", ".join(sorted(names)), status)
    out.console().print(grid)


@models.command("set-owner")
@click.argument("name")
@click.argument("owner")
def set_owner(name: str, owner: str) -> None:
    """Hand model NAME over to OWNER."""
    from shipyard.tracking import Client

    Client().store.models.update_model(name, owner=owner)
    click.echo(f"{name} is now owned by {owner}")


@models.command("versions")
@click.argument("name")
@out.json_option
def versions(name: str, as_json: bool) -> None:
    """A model's versions, newest first, with their run, metrics and status."""
    registry = ModelRegistry()
    aliases = registry.get_model(name).aliases
    by_version: dict[int, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(version, []).append(alias)
    if as_json:
        out.print_json(
            [
                out.plain(v.record) | {"aliases": sorted(by_version.get(v.version, []))}
                for v in registry.versions(name)
            ]
        )
        return
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
@click.option("--json", "as_json", is_flag=True, help="Accepted for scripts; the output is JSON.")
def show(uri: str, as_json: bool) -> None:
    """One version in full (JSON), with the aliases pointing at it: models:/NAME/VERSION,
    NAME/VERSION, NAME@ALIAS (or NAME for latest)."""
    registry = ModelRegistry()
    record = registry.find_version(uri).record
    aliases = registry.get_model(record.name).aliases
    pointing = sorted(a for a, v in aliases.items() if v == record.version)
    shown = record.__dict__ | {"aliases": pointing}
    missing = not registry.client.blobs.exists(record.blob_hash)
    if missing:
        shown["missing_blob"] = True
    click.echo(json.dumps(shown, indent=2, default=str))
    if missing:
        click.echo(
            f"model files of {record.name} v{record.version}: blob {record.blob_hash[:12]}… "
            "(missing blob): register the model again or restore the blob store from a backup",
            err=True,
        )


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


@models.command("load-test")
@click.argument("ref", metavar="MODEL")
@click.option(
    "--url",
    help="Base URL of a running server to test; without it a `shipyard serve MODEL` is "
    "started on a free loopback port and stopped afterwards.",
)
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 512))
@click.option("--requests", "count", type=click.IntRange(1), help="Stop after N requests.")
@click.option("--duration", type=click.FloatRange(0, min_open=True), help="Stop after S seconds.")
@click.option(
    "--batch-size", default=1, show_default=True, type=click.IntRange(1), help="Rows per request."
)
@click.option(
    "--input",
    "input_path",
    type=click.Path(dir_okay=False),
    help="Rows to send (.parquet or .csv, cycled) instead of values generated from the "
    "signature; for a feature-service model, its entity keys.",
)
@click.option(
    "--log",
    "log_predictions",
    is_flag=True,
    help="Log the predictions of the started server (off: test traffic stays out of the "
    "prediction log and monitoring).",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the generated values.")
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(0.1))
def load_test(
    ref: str,
    url: str | None,
    concurrency: int,
    count: int | None,
    duration: float | None,
    batch_size: int,
    input_path: str | None,
    log_predictions: bool,
    seed: int,
    timeout: float,
) -> None:
    """Send POST /predict requests to MODEL (NAME@ALIAS or NAME/VERSION) from concurrent
    clients, then print requests/s and latency percentiles. Bounded by --requests and/or
    --duration (with neither: 10 s or 2,000 requests, whichever comes first). Exits 1 if
    any request failed, so CI can gate on it."""
    from shipyard.serving import loadtest

    if url and log_predictions:
        raise click.UsageError("--log applies to the server this command starts, not --url")
    record = ModelRegistry().find_version(ref).record
    if input_path:
        bodies = loadtest.file_payloads(input_path, batch_size=batch_size)
    else:
        bodies = loadtest.signature_payloads(record.signature, batch_size=batch_size, seed=seed)
        if record.feature_service:
            click.echo(
                f"note: {record.name} v{record.version} looks up features of service "
                f"{record.feature_service!r}; generated requests send every input, so no "
                "lookups are made. Pass --input with entity keys to include them.",
                err=True,
            )
    serve_ref = ref if "@" in ref or "/" in ref else f"{record.name}/{record.version}"
    with ExitStack() as stack:
        target = url or stack.enter_context(_started_server(serve_ref, log_predictions))
        status = stack.enter_context(Console(stderr=True).status(f"load testing {target}"))
        result = loadtest.load_test(
            target,
            bodies,
            concurrency=concurrency,
            timeout=timeout,
            requests=count,
            duration=duration,
            progress=lambda done: status.update(f"load testing {target}: {done:,} requests"),
        )
    _print_load(result, f"{record.name} v{record.version}", batch_size)
    if result.failed and not result.ok and "connection" in result.errors:
        raise ShipyardError(f"nothing answered at {target}: {result.errors['connection'].message}")
    if result.failed:
        counts = ", ".join(f"{k}: {e.count:,}" for k, e in result.errors.items())
        raise ShipyardError(f"{result.failed:,} of {result.requests:,} requests failed ({counts})")


@contextmanager
def _started_server(ref: str, log_predictions: bool) -> Iterator[str]:
    """`shipyard serve REF` on a free loopback port in its own process group, until ready;
    stopped with its group on the way out, whatever happens (see ServeProcess)."""
    from shipyard.serving.process import ServeProcess

    server = ServeProcess(ref, log_predictions=log_predictions)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main else None
    try:
        with server:
            with Console(stderr=True).status(f"starting shipyard serve {ref} on {server.url}"):
                server.wait_ready()
            yield server.url
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM: stop the started server on the way out, as Ctrl-C


def _print_load(result: LoadTestResult, model: str, batch_size: int) -> None:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:,.1f}"

    click.echo(
        f"load test of {model} at {result.url}: {result.concurrency} clients, "
        f"{batch_size} row(s) per request, {result.seconds:.1f} s"
    )
    columns = ["requests", "ok", "failed", "req/s", "rows/s", "p50 ms", "p90 ms", "p99 ms"]
    grid = out.table(None, [*columns, "max ms"])
    grid.add_row(
        f"{result.requests:,}",
        f"{result.ok:,}",
        f"[red]{result.failed:,}[/]" if result.failed else "0",
        f"{result.rps:,.1f}",
        f"{result.rows_per_s:,.1f}",
        *(ms(v) for v in (result.p50_ms, result.p90_ms, result.p99_ms, result.max_ms)),
    )
    console = out.console()
    console.print(grid)
    if result.errors:
        errors = out.table("errors", ["status", "count", "first message"])
        for key, error in result.errors.items():
            errors.add_row(key, f"{error.count:,}", error.message)
        console.print(errors)
