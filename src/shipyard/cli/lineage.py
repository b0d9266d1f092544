"""`shipyard lineage …`: what a prediction, model version, run, dataset or feature view was
made from (back to source files, queries, fingerprints and the commit), and
`shipyard lineage impact feature-view NAME`: what depends on a feature view."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from rich.tree import Tree

from shipyard.cli import _output as out
from shipyard.lineage import Graph, dependents, impact, upstream
from shipyard.tracking import Client

project_option = click.option(
    "--project", default=None, help="feature project (default: the settings' project)"
)

# The attributes shown under each node, per kind; --json has them all.
_SHOWN: dict[str, tuple[str, ...]] = {
    "prediction": ("time", "variant", "output", "label", "error"),
    "model_version": ("flavor", "status", "aliases", "created", "owner"),
    "run": ("status", "started", "user", "host"),
    "flow_run": ("status", "started", "user", "command"),
    "code": ("repo", "dirty", "diff"),
    "dataset": ("rows", "blob_hash", "created", "entity_df_hash"),
    "feature_view": ("definition_fingerprint", "created"),
    "on_demand_feature_view": ("features", "udf", "definition_fingerprint"),
    "feature_service": ("definition_fingerprint",),
    "source": ("kind", "path", "file_format", "query", "connection", "definition_fingerprint"),
    "served": ("model_last_prediction",),
    "monitor": ("target", "check", "schedule"),
    "scheduled_flow": ("flow", "schedule", "triggers"),
}


@click.group()
def lineage() -> None:
    """Lineage: what made a prediction or model, and what depends on a feature view."""


def _upstream_command(kind: str, metavar: str, doc: str) -> Callable[..., None]:
    @click.argument("ident", metavar=metavar)
    @project_option
    @out.json_option
    def command(ident: str, project: str | None, as_json: bool) -> None:
        client = Client()
        try:
            if kind == "run":  # a unique prefix will do, as everywhere in the CLI
                ident = out.resolve_run(client, ident).id
            graph = upstream(client.store, kind, ident, project or client.settings.project)
        finally:
            client.close()
        _show(graph, as_json)

    command.__doc__ = doc
    return command


lineage.command("prediction")(
    _upstream_command(
        "prediction",
        "ID",
        "A logged prediction back to its model version, training run and flow task, commit "
        "and diff, training dataset, feature view versions and source data.",
    )
)
lineage.command("model")(
    _upstream_command(
        "model",
        "NAME/VERSION|NAME@ALIAS",
        "A model version back to its run, code, dataset, feature views and source data.",
    )
)
lineage.command("run")(
    _upstream_command(
        "run",
        "ID",
        "A run (or flow task; ID or a unique prefix) back to its flow run, code and the "
        "datasets it used.",
    )
)
lineage.command("dataset")(
    _upstream_command(
        "dataset",
        "[PROJECT/]NAME/VERSION",
        "A saved training set back to the run that saved it, its feature view versions and "
        "the sources they read (with the data fingerprints at the time).",
    )
)
lineage.command("feature-view")(
    _upstream_command(
        "feature-view",
        "NAME[/VERSION]",
        "A feature view (latest version unless given) back to its source.",
    )
)


@lineage.group("impact")
def impact_group() -> None:
    """What depends on a feature view: datasets, model versions, aliases, traffic, monitors."""


@impact_group.command("feature-view")
@click.argument("name")
@project_option
@out.json_option
def impact_feature_view(name: str, project: str | None, as_json: bool) -> None:
    """The datasets, model versions, aliases, served versions, monitors and scheduled flows
    that depend on feature view NAME (on-demand views computed from it included)."""
    client = Client()
    try:
        graph = impact(client.store, "feature-view", name, project or client.settings.project)
    finally:
        client.close()
    if as_json:
        out.print_json({**graph.to_dict(), "dependents": dependents(graph)})
        return
    _show(graph, False)
    if not dependents(graph):
        out.console().print("nothing depends on it yet")


def _show(graph: Graph, as_json: bool) -> None:
    if as_json:
        out.print_json(graph.to_dict())
        return
    root = graph.nodes[graph.root]
    tree = Tree(_node_text(graph, root.key, {}))
    _grow(graph, root.key, tree, {root.key})
    console = out.console()
    console.print(tree)
    for note in graph.notes:
        console.print(f"[yellow]note:[/] {note}", markup=True, highlight=False)


# Impact trees list what depends on a view before the views and services in between.
_IMPACT_ORDER = ("dataset", "model_version", "alias", "served", "monitor", "scheduled_flow")


def _grow(graph: Graph, key: str, tree: Tree, seen: set[str]) -> None:
    edges = graph.children(key)
    if graph.direction == "impact":
        rank = {kind: i for i, kind in enumerate(_IMPACT_ORDER)}
        edges.sort(key=lambda e: rank.get(graph.nodes[e.target].kind, len(rank)))
    for edge in edges:
        if edge.target in seen:
            node = graph.nodes[edge.target]
            tree.add(f"[dim]{edge.relation}[/] {_escape(node.label)} [dim](shown above)[/]")
            continue
        seen.add(edge.target)
        branch = tree.add(f"[dim]{edge.relation}[/] " + _node_text(graph, edge.target, edge.attrs))
        _grow(graph, edge.target, branch, seen)


def _node_text(graph: Graph, key: str, edge_attrs: dict[str, Any]) -> str:
    node = graph.nodes[key]
    facts = [(k, node.attrs.get(k)) for k in _SHOWN.get(node.kind, ())]
    facts += list(edge_attrs.items())
    shown = [f"{k}={_short(v)}" for k, v in facts if v not in (None, "", [], {}, False)]
    text = f"[bold]{_escape(node.label)}[/]"
    if shown:
        text += "\n[dim]" + _escape("  ".join(shown)) + "[/]"
    return text


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return ",".join(_short(v) for v in value)
    text = " ".join(str(value).split())
    return text if len(text) <= 120 else text[:117] + "..."


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
