"""Lineage: which training data, features and code produced a prediction, model version,
run or dataset (``upstream``), and what depends on a feature view (``impact``).

- graph: the records (Node, Edge, Graph) a walk returns, JSON-able with ``to_dict()``
- refs: the references users give (``churn/3``, ``churn@production``, ``project/name/3``)
- upstream_walk: the walk back to sources, fingerprints and commits
- impact_walk: the walk forward to datasets, model versions, aliases, traffic and monitors

Both walks read the metadata store's interfaces only, so they run on every backend.
"""

from shipyard.lineage import graph as node_kinds  # the kinds of node: MODEL_VERSION, ...
from shipyard.lineage.graph import Edge, Graph, Node
from shipyard.lineage.impact_walk import IMPACT_KINDS, dependents, impact
from shipyard.lineage.refs import KINDS, dataset_ref, model_ref
from shipyard.lineage.upstream_walk import upstream

__all__ = [
    "IMPACT_KINDS", "KINDS", "Edge", "Graph", "Node", "dataset_ref", "dependents", "impact",
    "model_ref", "node_kinds", "upstream",
]  # fmt: skip
