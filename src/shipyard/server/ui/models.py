"""The web UI's models pages: the registry, and a model's versions, aliases, card, gates
and lineage, with promotion (the CLI's gates) and roll-back from the page."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from shipyard._clock import to_millis
from shipyard.errors import Conflict, GateFailed, InvalidArgument, NotFound, ShipyardError
from shipyard.governance import Need, allowed
from shipyard.lineage import Graph, upstream
from shipyard.registry import ModelRegistry, model_card, model_statuses
from shipyard.registry.cards import Table
from shipyard.server.authz import readable_projects, rule
from shipyard.server.authz_scope import model_projects
from shipyard.server.ui.render import page

router = APIRouter(include_in_schema=False)

MAX_VERSIONS = 100  # versions shown on a model page (newest first)
MAX_MOVES = 50  # alias moves shown
RECENT_MS = 86_400_000  # the span of the calls counted on a model's page
DEFAULT_ALIASES = ("production", "staging", "champion", "challenger")


def registry_of(request: Request) -> ModelRegistry:
    return ModelRegistry(request.app.state.client)


def may_write(request: Request, name: str) -> bool:
    """Whether the caller may change model ``name`` (auth off: everyone may)."""
    if not request.app.state.auth.enabled:
        return True
    principal = request.scope.get("state", {}).get("principal")
    user = getattr(principal, "user", None)
    if principal is None or user is None:
        return False
    projects = model_projects(request.app.state.client.store, name)
    return allowed(user, principal.roles, Need.WRITE, projects)


@router.get("/ui/models")
@rule(Need.READ, lists=True)
def models_list(request: Request) -> Response:
    client = request.app.state.client
    readable = readable_projects(request)
    statuses = model_statuses(client)
    if readable is not None:
        statuses = [s for s in statuses if model_projects(client.store, s.model.name) & readable]
    statuses.sort(key=lambda s: s.model.name)
    return page(
        request,
        "models_list.html",
        section="models",
        crumbs=[("Models", None)],
        statuses=statuses,
    )


@router.get("/ui/models/{name}")
@rule(Need.READ, names="model")
def model_page(
    request: Request,
    name: str,
    version: int | None = Query(None, ge=1, le=2**31 - 1, description="the card's version"),
    flash: str | None = Query(None, max_length=2000),
    kind: str = Query("ok", pattern="^(ok|error)$"),
) -> Response:
    return _model_page(request, name, version, flash=flash, flash_kind=kind)


def _model_page(
    request: Request, name: str, version: int | None, status: int = 200, **extra: Any
) -> Response:
    registry = registry_of(request)
    model = registry.get_model(name)
    versions = registry.versions(name)[:MAX_VERSIONS]
    shown = version or model.aliases.get("production") or model.latest_version
    record = registry.get_version(name, shown).record
    moves = registry.alias_history(name)
    card = model_card(registry, name, shown)
    return page(
        request,
        "models_detail.html",
        status=status,
        section="models",
        crumbs=[("Models", "/ui/models"), (name, None)],
        model=model,
        versions=versions,
        record=record,
        moves=moves[:MAX_MOVES],
        movers=_movers(registry, name, moves[:MAX_MOVES]),
        more_moves=len(moves) > MAX_MOVES,
        sections=[s for s in card.sections if s.title != "Alias history"],
        is_table=lambda b: isinstance(b, Table),
        lineage=_lineage(request, f"{name}/{shown}"),
        alias_choices=sorted({*model.aliases, *DEFAULT_ALIASES}, key=_alias_order),
        rollbacks=_rollbacks(model.aliases, moves),
        can_write=may_write(request, name),
        monitors=_monitors(registry, name),
        calls=_recent_calls(registry, name),
        **extra,
    )


@router.post("/ui/models/{name}/promote")
@rule(Need.WRITE, names="model")
def promote(
    request: Request,
    name: str,
    version: Annotated[int, Form(ge=1, le=2**31 - 1)],
    alias: Annotated[str, Form(min_length=1, max_length=128)] = "production",
    gates: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    """As `shipyard models promote NAME VERSION --to ALIAS --require ...`, one gate a line.
    A failed gate answers with the page and every gate's result (nothing moved)."""
    require = [g.strip() for g in gates.splitlines() if g.strip()]
    alias = alias.strip()
    try:
        move = registry_of(request).promote(name, version, alias, require)
    except GateFailed as exc:
        failed = sum(not r["passed"] for r in exc.results)
        text = (
            f"{name} v{version} was not promoted to {alias!r}: {failed} of "
            f"{len(exc.results)} gates failed; nothing moved."
        )
        return _model_page(
            request, name, version, 422, flash=text, flash_kind="error",
            gate_results=exc.results, promoted_version=version, promoted_alias=alias,
            gates_text=gates,
        )  # fmt: skip
    except (InvalidArgument, NotFound, Conflict) as exc:
        return _model_page(
            request, name, version, exc.http_status, flash=exc.message, flash_kind="error",
            promoted_version=version, promoted_alias=alias, gates_text=gates,
        )  # fmt: skip
    before = f"v{move.from_version}" if move.from_version is not None else "unset"
    passed = f" ({len(move.gates)} gate(s) passed)" if move.gates else ""
    return _back(name, version, f"{name}@{alias} moved {before} → v{move.to_version}{passed}")


@router.post("/ui/models/{name}/rollback")
@rule(Need.WRITE, names="model")
def rollback(
    request: Request, name: str, alias: Annotated[str, Form(min_length=1, max_length=128)]
) -> Response:
    """Point ``alias`` back at the version it pointed to before its last move (no gates:
    a roll-back restores what was live), refused if the alias moved meanwhile."""
    registry = registry_of(request)
    aliases = registry.get_model(name).aliases
    target = _rollbacks(aliases, registry.alias_history(name, alias)).get(alias)
    if target is None:
        return _back(name, None, f"{name}@{alias} has no earlier version to roll back to", "error")
    try:
        move = registry.set_alias(name, alias, target, expected_from=aliases[alias])
    except (Conflict, NotFound, InvalidArgument) as exc:
        return _back(name, None, exc.message, "error")
    return _back(
        name, None, f"{name}@{alias} rolled back v{move.from_version} → v{move.to_version}"
    )


def _back(name: str, version: int | None, text: str, kind: str = "ok") -> RedirectResponse:
    """Post/redirect/get to the model page with a flash message."""
    query: dict[str, Any] = {"flash": text[:1900], "kind": kind}
    if version is not None:
        query["version"] = version
    return RedirectResponse(f"/ui/models/{quote(name, safe='')}?{urlencode(query)}", 303)


def _movers(registry: ModelRegistry, name: str, moves: list[Any]) -> list[str]:
    """Who made each move, as the audit log names them: a server records the version's
    ``moved_by`` as its own process user, while the audit entry of the same move (same
    alias, before and after, same moment) names the signed-in caller."""
    try:
        entries = registry.client.store.audit.list_audit(
            object=f"model:{name}@*", action="model.alias.*", limit=4 * MAX_MOVES
        )
    except ShipyardError:
        return [m.moved_by for m in moves]
    out = []
    for m in moves:
        found = next(
            (
                e.actor
                for e in entries
                if e.object == f"model:{name}@{m.alias}"
                and (e.summary.get("before") or {}).get("version") == m.from_version
                and (e.summary.get("after") or {}).get("version") == m.to_version
                and abs(e.ts_ms - m.moved_ms) < 5_000
            ),
            None,
        )
        out.append(found.removeprefix("local:") if found else m.moved_by)
    return out


def _recent_calls(registry: ModelRegistry, name: str) -> int:
    """Calls of the model logged in the last day, from the log's per-hour counts."""
    now = to_millis(registry.client.clock.now())
    try:
        counts = registry.client.store.predictions.bucket_counts(
            name, now - RECENT_MS, now, 3_600_000
        )
    except ShipyardError:
        return 0
    return sum(counts.values())


def _monitors(registry: ModelRegistry, name: str) -> list[tuple[Any, Any]]:
    """The model's monitors with their latest result (None: never evaluated)."""
    store = registry.client.store.monitors
    return [(m, next(iter(store.results(m.id, limit=1)), None)) for m in store.list_monitors(name)]


def _alias_order(alias: str) -> tuple[int, str]:
    return (DEFAULT_ALIASES.index(alias) if alias in DEFAULT_ALIASES else 99, alias)


def _rollbacks(aliases: dict[str, int], moves: list[Any]) -> dict[str, int]:
    """alias -> the version it pointed at before its last move (when there was one)."""
    out: dict[str, int] = {}
    for alias, version in aliases.items():
        last = next((m for m in moves if m.alias == alias), None)  # newest first
        if last is not None and last.to_version == version and last.from_version is not None:
            out[alias] = last.from_version
    return out


# -- lineage ------------------------------------------------------------------------------


def _lineage(request: Request, ref: str) -> dict[str, Any]:
    """The model version's upstream lineage as a tree (each node once) with page links."""
    try:
        graph = upstream(request.app.state.client.store, "model", ref)
    except ShipyardError as exc:
        return {"tree": None, "notes": [exc.message]}
    return {"tree": _tree(graph, graph.root, set(), ""), "notes": graph.notes}


def _tree(graph: Graph, key: str, seen: set[str], relation: str) -> dict[str, Any]:
    node = graph.nodes[key]
    repeated = key in seen
    seen.add(key)
    edges = [] if repeated else [e for e in graph.children(key) if e.target in graph.nodes]
    children = [_tree(graph, e.target, seen, e.relation) for e in edges]
    return {
        "kind": node.kind,
        "label": node.label,
        "relation": relation,
        "href": _href(node.kind, node.id, node.attrs),
        "detail": _detail(node.kind, node.attrs),
        "repeated": repeated,
        "children": children,
    }


def _href(kind: str, ident: str, attrs: dict[str, Any]) -> str | None:
    if kind in ("run", "flow_run"):
        return f"/ui/runs/{quote(ident, safe='')}"
    if kind == "feature_view":
        project, view, _version = [*ident.split("/"), "", ""][:3]
        return f"/ui/features/{quote(project, safe='')}/{quote(view, safe='')}"
    if kind == "model_version":
        name = ident.rsplit("/", 1)[0]
        return f"/ui/models/{quote(name, safe='')}?version={ident.rsplit('/', 1)[-1]}"
    return None


def _detail(kind: str, attrs: dict[str, Any]) -> str:
    """One line of what matters about a node."""
    if kind == "run":
        return f"{attrs.get('project')} · {attrs.get('status')} · {attrs.get('user') or ''}"
    if kind == "code":
        dirty = "uncommitted changes · " if attrs.get("dirty") else ""
        return dirty + str(attrs.get("repo") or "")
    if kind == "dataset":
        return f"{attrs.get('rows') or 0:,} rows · saved {str(attrs.get('created') or '')[:10]}"
    if kind in ("feature_view", "on_demand_feature_view"):
        return ", ".join(str(f) for f in attrs.get("features") or [])
    if kind == "source":
        return str(attrs.get("path") or attrs.get("query") or attrs.get("kind") or "")
    if kind == "model_version":
        return f"{attrs.get('flavor')} · {attrs.get('status')}"
    return ""
