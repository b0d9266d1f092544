"""`shipyard features …`: plan and apply definitions, materialize, look up, and browse the
catalog (freshness, statistics, history, datasets)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from shipyard.cli import _output as out
from shipyard.errors import InvalidArgument
from shipyard.features import FeatureStore, Plan, load_repo
from shipyard.lineage import dependents, impact

repo_option = click.option(
    "--repo",
    "repo",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="folder of feature definition files",
)
project_option = click.option("--project", default=None, help="feature project (default: settings)")


@click.group()
def features() -> None:
    """Feature definitions, online store and catalog."""


@features.command("plan")
@repo_option
@project_option
@out.json_option
def plan(repo: str, project: str | None, as_json: bool) -> None:
    """What `apply` would change: added, changed, removed; breaking changes flagged."""
    fs = _open(project)
    found = fs.plan(load_repo(repo))
    _print_plan(found, as_json=as_json, used_by=_dependents(fs, found))


@features.command("apply")
@repo_option
@project_option
@click.option("--no-breaking", is_flag=True, help="refuse to apply breaking changes")
@out.json_option
def apply(repo: str, project: str | None, no_breaking: bool, as_json: bool) -> None:
    """Record a new version of every changed definition (all or nothing)."""
    fs = _open(project)
    result = fs.apply(load_repo(repo), allow_breaking=not no_breaking)
    _print_plan(result, applied=True, as_json=as_json)


@features.command("ls")
@project_option
@click.option("--search", "text", default=None, help="text in a feature's name or description")
@click.option("--tag", default=None, help="KEY or KEY=VALUE")
@click.option("--owner", default=None)
@out.json_option
def ls(
    project: str | None, text: str | None, tag: str | None, owner: str | None, as_json: bool
) -> None:
    """Every feature with its type, owner, statistics and the services that use it."""
    fs = _open(project)
    infos = fs.catalog.search(text, tag, owner)
    if as_json:
        out.print_json(infos)
        return
    grid = out.table(
        f"features of {fs.project}",
        ["feature", "type", "owner", "nulls", "distinct", "min", "max", "mean", "services"],
    )
    for info in infos:
        s = info.stats
        grid.add_row(
            f"{info.view}:{info.feature}",
            info.dtype,
            info.owner,
            f"{s.null_count / s.count:.1%}" if s and s.count else "",
            str(s.distinct_count) if s and s.distinct_count is not None else "",
            _short(s.min_value) if s else "",
            _short(s.max_value) if s else "",
            out.number(s.mean) if s and s.mean is not None else "",
            ", ".join(info.services),
        )
    out.console().print(grid)
    if not infos:
        click.echo("no features match" if (text or tag or owner) else "no features applied")


@features.command("show")
@click.argument("name")
@project_option
@click.option("--history", is_flag=True, help="every applied version")
@out.json_option
def show(name: str, project: str | None, history: bool, as_json: bool) -> None:
    """A definition's latest spec (or its version history)."""
    fs = _open(project)
    defs = fs.definitions()
    matches = [k for (k, n) in defs.records if n == name]
    # a removed definition has no current spec, but its history (the removal included)
    removed = [
        r.kind
        for r in fs.meta.latest_feature_objects(fs.project, include_deleted=True)
        if r.name == name and r.deleted
    ]
    if history:
        matches += [k for k in removed if k not in matches]
    if not matches:
        if removed:
            raise InvalidArgument(
                f"{removed[0].replace('_', ' ')} {name!r} was removed; "
                f"`shipyard features show {name} --history` lists its versions"
            )
        raise InvalidArgument(
            f"nothing named {name!r} is applied; `shipyard features ls` lists features"
        )
    if as_json:
        out.print_json(_show_json(fs, name, matches, history))
        return
    for kind in matches:
        if history:
            grid = out.table(f"{kind} {name}", ["version", "when", "by", "change"])
            for rec in fs.meta.feature_object_history(fs.project, kind, name):
                grid.add_row(
                    str(rec.version),
                    out.when(datetime.fromtimestamp(rec.created_ms / 1000, UTC)),
                    rec.created_by,
                    "removed" if rec.deleted else rec.fingerprint[:12],
                )
            out.console().print(grid)
        else:
            rec = defs.records[(kind, name)]
            spec = {k: v for k, v in rec.spec.items() if k != "blob_hashes"}
            click.echo(f"{kind} {name} v{rec.version} (by {rec.created_by})")
            click.echo(json.dumps(spec, indent=2, default=str))


def _show_json(fs: FeatureStore, name: str, kinds: list[str], history: bool) -> list[Any]:
    if history:
        return [
            {
                "kind": kind,
                "name": name,
                "versions": fs.meta.feature_object_history(fs.project, kind, name),
            }
            for kind in kinds
        ]
    records = fs.definitions().records
    return [
        {
            "kind": kind,
            "name": name,
            "version": records[(kind, name)].version,
            "created_by": records[(kind, name)].created_by,
            "spec": {k: v for k, v in records[(kind, name)].spec.items() if k != "blob_hashes"},
        }
        for kind in kinds
    ]


@features.command("status")
@project_option
@out.json_option
def status(project: str | None, as_json: bool) -> None:
    """Freshness of each view: watermark, last load, staleness against its TTL.

    Exits with status 2 when an online view is stale, for scripts and schedulers."""
    fs = _open(project)
    rows = fs.catalog.status()
    if as_json:
        out.print_json([out.plain(s) | {"stale": s.stale} for s in rows])
        if any(s.stale for s in rows):
            sys.exit(2)
        return
    grid = out.table(
        f"feature views of {fs.project}",
        ["view", "version", "online", "ttl", "watermark", "last load", "rows", "staleness", ""],
    )
    for s in rows:
        grid.add_row(
            s.view,
            str(s.version or ""),
            "yes" if s.online else "no",
            _delta(s.ttl) if s.ttl else "none",
            out.when(s.watermark),
            out.when(s.last_materialized),
            f"{s.rows_materialized:,}" if s.rows_materialized is not None else "",
            _delta(s.staleness) if s.staleness is not None else "never loaded",
            "[red]STALE[/]" if s.stale else "[green]fresh[/]" if s.online else "",
        )
    out.console().print(grid)
    stale = [s.view for s in rows if s.stale]
    if stale:
        click.echo(f"stale: {', '.join(stale)}", err=True)
        sys.exit(2)


@features.command("materialize")
@click.argument("start")
@click.argument("end")
@project_option
@click.option("--view", "views", multiple=True, help="only these views (repeatable)")
def materialize(start: str, end: str, project: str | None, views: tuple[str, ...]) -> None:
    """Load the latest feature rows of [START, END) into the online store.

    Times are ISO 8601 (UTC when no offset is given)."""
    fs = _open(project)
    _print_loaded(fs.materialize(_time(start), _time(end), list(views) or None))


@features.command("materialize-incremental")
@click.argument("end", required=False)
@project_option
@click.option("--view", "views", multiple=True, help="only these views (repeatable)")
def materialize_incremental(end: str | None, project: str | None, views: tuple[str, ...]) -> None:
    """Continue each view from its watermark up to END (default: now)."""
    fs = _open(project)
    _print_loaded(fs.materialize_incremental(_time(end) if end else None, list(views) or None))


def _print_loaded(result: dict[str, int]) -> None:
    for view, rows in result.items():
        click.echo(f"{view}: {rows:,} entity rows loaded")
    if not result:
        click.echo("no online feature views to materialize")


@features.command("get")
@click.argument("features_", metavar="FEATURES")
@click.argument("entities", nargs=-1, required=True)
@project_option
def get(features_: str, entities: tuple[str, ...], project: str | None) -> None:
    """Online values for entity rows: FEATURES is a service name or view:feature[,…];
    each ENTITY is KEY=VALUE[,KEY=VALUE] (values that look like integers are integers)."""
    fs = _open(project)
    refs: Any = features_ if ":" not in features_ else features_.split(",")
    rows = [_entity(text) for text in entities]
    response = fs.get_online_features(refs, rows)
    grid = out.table(None, [*rows[0].keys(), *response.values])
    for i, row in enumerate(rows):
        cells = [str(v) for v in row.values()]
        for name, values in response.values.items():
            state = response.statuses[name][i]
            cells.append(_value(values[i]) if state == "present" else f"[yellow]{state}[/]")
        grid.add_row(*cells)
    out.console().print(grid)


@features.command("datasets")
@click.argument("name", required=False)
@project_option
@out.json_option
def datasets(name: str | None, project: str | None, as_json: bool) -> None:
    """Saved training sets (every version of NAME), with their lineage."""
    fs = _open(project)
    if as_json:
        out.print_json([d.record for d in fs.list_datasets(name)])
        return
    grid = out.table(None, ["dataset", "rows", "size", "created", "by", "run", "views"])
    for d in fs.list_datasets(name):
        r = d.record
        views = ", ".join(
            f"{v}@{info.get('version')}" for v, info in r.lineage.get("feature_views", {}).items()
        )
        grid.add_row(
            f"{r.name}/{r.version}",
            f"{r.rows:,}",
            f"{r.size:,}",
            out.when(datetime.fromtimestamp(r.created_ms / 1000, UTC)),
            r.created_by,
            (r.run_id or "")[:8],
            views,
        )
    out.console().print(grid)


def _open(project: str | None) -> FeatureStore:
    """The project's feature store, closed (with its client) when the command ends."""
    fs = FeatureStore(project)

    def close() -> None:
        fs.close()
        fs.client.close()

    click.get_current_context().call_on_close(close)
    return fs


def _dependents(fs: FeatureStore, plan: Plan) -> dict[str, list[str]]:
    """View name -> what depends on it (datasets, model versions, aliases, traffic...), for
    the views a plan changes or removes in a breaking way."""
    views = {"feature_view", "on_demand_feature_view"}
    names = [c.name for c in plan.breaking if c.kind in views and c.base_version]
    return {n: dependents(impact(fs.client.store, "feature-view", n, fs.project)) for n in names}


def _print_plan(
    plan: Plan,
    applied: bool = False,
    as_json: bool = False,
    used_by: dict[str, list[str]] | None = None,
) -> None:
    used_by = used_by or {}
    if as_json:
        out.print_json(
            {
                "project": plan.project,
                "applied": applied,
                "changes": [
                    {
                        "kind": c.kind,
                        "name": c.name,
                        "action": c.action,
                        "base_version": c.base_version,
                        "diff": c.diff,
                        "breaking": c.breaking,
                        **({"dependents": used_by[c.name]} if c.name in used_by else {}),
                    }
                    for c in plan.changes
                ],
            }
        )
        return
    symbols = {"add": "[green]+[/]", "change": "[yellow]~[/]", "remove": "[red]-[/]"}
    console = out.console()
    pending = plan.pending
    for c in pending:
        flag = " [red bold](breaking)[/]" if c.breaking else ""
        console.print(f"{symbols[c.action]} {c.kind.replace('_', ' ')} {c.name}{flag}")
        for line in c.diff:
            console.print(f"    {line}", markup=False)
        for line in c.breaking:
            console.print(f"    [red]! {line}[/]")
        if c.breaking and c.name in used_by:
            names = "; ".join(used_by[c.name]) or "nothing recorded yet"
            console.print(f"    [red]! depended on by: {names}[/]", highlight=False)
    unchanged = len(plan.changes) - len(pending)
    verb = "applied" if applied else "to apply"
    console.print(
        f"{len(pending)} change(s) {verb}, {len(plan.breaking)} breaking, {unchanged} unchanged"
        f" (project {plan.project})"
    )


def _time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(f"{text!r} is not an ISO 8601 time (2024-01-31T12:00)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _entity(text: str) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"entity {text!r}: expected KEY=VALUE[,KEY=VALUE]")
        row[key] = int(value) if value.lstrip("-").isdigit() else value
    return row


def _delta(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _value(value: Any) -> str:
    return out.number(value) if isinstance(value, float) else str(value)


def _short(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return out.number(value)
    text = str(value)
    return text if len(text) <= 20 else text[:17] + "..."
