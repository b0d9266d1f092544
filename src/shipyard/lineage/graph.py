"""The lineage graph: nodes (a kind, an id, a label and JSON-able attributes) and the
edges between them, with the walk's notes about links the store does not hold."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Node kinds, upstream order: what a prediction was made by, down to the code and the data.
PREDICTION = "prediction"
MODEL_VERSION = "model_version"
ALIAS = "alias"
RUN = "run"
FLOW_RUN = "flow_run"
CODE = "code"
DATASET = "dataset"
FEATURE_SERVICE = "feature_service"
FEATURE_VIEW = "feature_view"
ON_DEMAND_VIEW = "on_demand_feature_view"
SOURCE = "source"
ENTITY = "entity"
SERVED = "served"  # a model version's traffic in the prediction log
MONITOR = "monitor"
SCHEDULE = "scheduled_flow"  # a scheduler deployment of a flow


@dataclass(frozen=True)
class Node:
    kind: str
    id: str
    label: str
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "id": self.id, "label": self.label,
                "attrs": self.attrs}  # fmt: skip


@dataclass(frozen=True)
class Edge:
    """``source`` depends on ``target`` (upstream) or ``target`` depends on ``source``
    (impact): always drawn from the walk's root outwards."""

    source: str  # node keys
    target: str
    relation: str
    attrs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "relation": self.relation,
                "attrs": self.attrs}  # fmt: skip


@dataclass
class Graph:
    """What one walk found: ``direction`` is upstream (what the root was made from) or
    impact (what depends on the root)."""

    direction: str
    root: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, node: Node) -> Node:
        """The node, added once (the first one added under a key is kept)."""
        return self.nodes.setdefault(node.key, node)

    def link(self, source: Node, target: Node, relation: str, **attrs: Any) -> None:
        """Add the edge unless one between the same nodes already says as much."""
        same = (source.key, target.key, relation)
        for edge in self.edges:
            if (
                edge.source,
                edge.target,
                edge.relation,
            ) == same and attrs.items() <= edge.attrs.items():
                return
        self.edges.append(Edge(source.key, target.key, relation, attrs))

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def children(self, key: str) -> list[Edge]:
        return [e for e in self.edges if e.source == key]

    def of_kind(self, kind: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "root": self.root,
            "nodes": [n.to_dict() for n in self.nodes.values()],
            "edges": [e.to_dict() for e in self.edges],
            "notes": list(self.notes),
        }
