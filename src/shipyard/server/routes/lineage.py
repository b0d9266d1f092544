"""/api/v1/lineage: what a prediction, model version, run, dataset or feature view was made
from, and what depends on a feature view — the same graphs as `shipyard lineage … --json`."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from shipyard.governance import Need
from shipyard.lineage import dependents, impact, upstream
from shipyard.server.authz import rule
from shipyard.server.deps import client_of

router = APIRouter(prefix="/api/v1", tags=["lineage"])

ProjectQuery = Query(None, description="feature project (default: the server's setting)")


class Kind(StrEnum):
    prediction = "prediction"
    model = "model"
    run = "run"
    dataset = "dataset"
    feature_view = "feature-view"


class NodeOut(BaseModel):
    key: str = Field(description="KIND:ID, what edges name")
    kind: str
    id: str
    label: str
    attrs: dict[str, Any]


class EdgeOut(BaseModel):
    source: str
    target: str
    relation: str
    attrs: dict[str, Any]


class GraphOut(BaseModel):
    direction: str = Field(description="upstream (what made the root) or impact")
    root: str
    nodes: list[NodeOut]
    edges: list[EdgeOut]
    notes: list[str] = Field(description="links the store does not hold")


class ImpactOut(GraphOut):
    dependents: list[str] = Field(description="datasets, model versions, aliases, ... in words")


# before /lineage/{kind}/{ident}, which would take this path
@router.get("/lineage/impact/feature-view/{name}", response_model=ImpactOut)
@rule(Need.READ, "request", names="lineage")
def feature_view_impact(
    request: Request, name: str, project: str | None = ProjectQuery
) -> dict[str, Any]:
    """The datasets, model versions, aliases, logged traffic, monitors and scheduled flows
    that depend on a feature view."""
    client = client_of(request)
    graph = impact(client.store, "feature-view", name, project or client.settings.project)
    return {**graph.to_dict(), "dependents": dependents(graph)}


@router.get("/lineage/{kind}/{ident:path}", response_model=GraphOut)
@rule(Need.READ, "request", names="lineage")
def lineage_of(
    request: Request, kind: Kind, ident: str, project: str | None = ProjectQuery
) -> dict[str, Any]:
    """What ``ident`` was made from: a prediction id, a model ``NAME/VERSION`` or
    ``NAME@ALIAS``, a run id, a dataset ``[PROJECT/]NAME/VERSION`` or a feature view
    ``NAME[/VERSION]`` (in ``project``)."""
    client = client_of(request)
    return upstream(client.store, kind.value, ident, project or client.settings.project).to_dict()
