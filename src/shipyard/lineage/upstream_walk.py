"""Upstream lineage: from a prediction, model version, run, dataset or feature view back to
what made it — model version, training run and flow task, code commit and diff, training
dataset, feature view versions, their sources and the data fingerprints read.

The walk reads the metadata store's interfaces only (``TrackingStore`` and the stores it
holds), so it works the same on SQLite, PostgreSQL and through a server (``RestStore``).
Where the store holds no link (a run outside a git checkout, a model registered without
its dataset), the walk says so in ``Graph.notes`` instead of guessing.
"""

from __future__ import annotations

from typing import Any

from shipyard.errors import NotFound, ShipyardError
from shipyard.lineage import graph as g
from shipyard.lineage.features_walk import FeatureLinks
from shipyard.lineage.refs import (
    KINDS,
    DatasetRef,
    ViewRef,
    check_text,
    dataset_ref,
    dataset_uri,
    iso,
    model_ref,
    view_ref,
)
from shipyard.store.base import DatasetRecord, RunRecord, TrackingStore

DIFF_ARTIFACT = "code/uncommitted.diff"  # where tracking keeps a run's uncommitted changes
DATASET_TAG = "shipyard.dataset."  # a run's tag per dataset it saved or used: name -> version
GIT_REPO_TAG = "shipyard.git.repo"


class Upstream:
    """One walk: each node is added (and its own upstream walked) once."""

    def __init__(self, store: TrackingStore, project: str | None = None) -> None:
        self.store = store
        self.project = project
        self.graph: g.Graph = g.Graph("upstream", "")
        self.features = FeatureLinks(store, self.graph)

    # -- entry points -----------------------------------------------------------------

    def start(self, kind: str, ident: str) -> g.Graph:
        walk = {
            "prediction": self.prediction,
            "model": self.model,
            "run": self.run,
            "dataset": self.dataset_by_ref,
            "feature-view": self.view_by_ref,
        }.get(kind)
        if walk is None:
            raise NotFound(f"no lineage for kind {kind!r}: use one of {', '.join(KINDS)}")
        node = walk(ident)
        self.graph.root = node.key
        return self.graph

    def prediction(self, prediction_id: str) -> g.Node:
        found = self.store.predictions.get([prediction_id.strip()])
        if not found:
            raise NotFound(
                f"prediction {prediction_id!r} is not in the prediction log: "
                "see `shipyard predictions ls MODEL` for ids"
            )
        p = found[0]
        node = self.graph.add(g.Node(g.PREDICTION, p.id, f"prediction {p.id}", {
            "model": p.model, "version": p.version, "variant": p.variant, "shadow": p.shadow,
            "time": iso(p.ts_ms), "inputs": p.inputs, "features": p.features,
            "output": p.output, "label": p.label, "error": p.error,
        }))  # fmt: skip
        model = self._model_version(p.model, p.version)
        if model is not None:
            self.graph.link(node, model, "made by")
            service = model.attrs.get("feature_service")
            if p.features and service and "/" in service:
                project, name = service.split("/", 1)
                self.features.online_views(node, project, name, p.ts_ms, set(p.features))
        return node

    def model(self, text: str) -> g.Node:
        ref = model_ref(text)
        models = self.store.models
        if ref.alias is not None:
            version = models.resolve_alias(ref.name, ref.alias)
        elif ref.version is not None:
            version = ref.version
        else:
            version = models.get_model(ref.name).latest_version
        node = self._model_version(ref.name, version, missing_ok=False)
        assert node is not None
        return node

    def run(self, run_id: str) -> g.Node:
        return self._run(self.store.get_run(run_id.strip()))

    def dataset_by_ref(self, text: str) -> g.Node:
        ref = dataset_ref(text)
        project = ref.project or self.project
        if project is None:
            raise NotFound(f"dataset {text!r}: give it as PROJECT/NAME/VERSION")
        return self._dataset(self.store.features.get_dataset(project, ref.name, ref.version))

    def view_by_ref(self, text: str) -> g.Node:
        ref: ViewRef = view_ref(text)
        project = self.project
        if project is None:
            raise NotFound(f"feature view {text!r}: give its project (--project)")
        try:
            view = self.features.feature_object(project, ref.name, ref.version)
        except NotFound:  # an on-demand view, else the error naming it as a view
            found = self.features.feature_object(
                project, ref.name, ref.version, g.ON_DEMAND_VIEW, missing_ok=True
            )
            if found is None:
                raise
            return self.features.on_demand(found, None)
        assert view is not None  # missing_ok=False raises instead
        return self.features.view(view, None)

    # -- model versions and runs ----------------------------------------------------------

    def _model_version(self, name: str, version: int, missing_ok: bool = True) -> g.Node | None:
        key = f"{g.MODEL_VERSION}:{name}/{version}"
        if key in self.graph.nodes:
            return self.graph.nodes[key]
        try:
            mv = self.store.models.get_model_version(name, version)
            aliases = self.store.models.get_model(name).aliases
        except NotFound:
            if not missing_ok:
                raise
            self.graph.note(f"model version {name}/{version} is no longer in the registry")
            return None
        label = f"model {name}/{version}"
        node = self.graph.add(g.Node(g.MODEL_VERSION, f"{name}/{version}", label, {
            "flavor": mv.flavor, "status": mv.status, "created": iso(mv.created_ms),
            "created_by": mv.created_by, "owner": mv.owner, "model_blob": mv.blob_hash,
            "metrics": mv.metrics, "run_id": mv.run_id, "dataset": mv.dataset,
            "feature_service": mv.feature_service,
            "aliases": sorted(a for a, v in aliases.items() if v == version),
        }))  # fmt: skip
        if mv.run_id:
            self._link_run(node, mv.run_id, "trained by")
        else:
            self.graph.note(f"model {name}/{version} was registered without the run that made it")
        if mv.dataset:
            self._link_dataset(node, mv.dataset)
        else:
            self.graph.note(f"model {name}/{version} was registered without its training dataset")
        if mv.feature_service and "/" in mv.feature_service:
            project, service = mv.feature_service.split("/", 1)
            self.features.link_service(node, project, service, None)
        return node

    def _link_run(self, node: g.Node, run_id: str, relation: str) -> None:
        try:
            run = self.store.get_run(run_id)
        except NotFound:
            self.graph.note(f"run {run_id} ({node.label}) no longer exists")
            return
        self.graph.link(node, self._run(run), relation)

    def _run(self, run: RunRecord) -> g.Node:
        key = f"{g.RUN}:{run.id}"
        if key in self.graph.nodes:
            return self.graph.nodes[key]
        node = self.graph.add(g.Node(g.RUN, run.id, f"{run.kind} {run.name} ({run.id[:8]})", {
            "project": run.project, "name": run.name, "kind": run.kind,
            "status": run.status.value, "user": run.user, "host": run.host,
            "command": run.command, "started": iso(run.start_ms), "ended": iso(run.end_ms),
            "code_version": run.code_version, "environment_hash": run.environment_hash,
            "step": run.tags.get("step"),
        }))  # fmt: skip
        parent = None
        if run.kind == "task" and run.parent_id:  # tasks run the code their flow run recorded
            parent = self._flow_run(run.parent_id)
            if parent is not None:
                self.graph.link(node, parent, "task of", step=run.tags.get("step"))
        if parent is None or run.code_version:
            self._link_code(node, run)
        self._link_used_datasets(node, run)
        return node

    def _flow_run(self, run_id: str) -> g.Node | None:
        key = f"{g.FLOW_RUN}:{run_id}"
        if key in self.graph.nodes:
            return self.graph.nodes[key]
        try:
            run = self.store.get_run(run_id)
            flow = self.store.flows.flow_run_of(run_id)
        except NotFound:
            self.graph.note(f"flow run {run_id} no longer exists")
            return None
        label = f"flow run {flow.flow_name}/{flow.number}"
        node = self.graph.add(g.Node(g.FLOW_RUN, run.id, label, {
            "flow": flow.flow_name, "number": flow.number, "status": run.status.value,
            "started": iso(run.start_ms), "ended": iso(run.end_ms), "user": run.user,
            "command": run.command, "params": run.params,
            "resumed_from": flow.origin_run_id,
        }))  # fmt: skip
        self._link_code(node, run)
        return node

    def _link_code(self, node: g.Node, run: RunRecord) -> None:
        if not run.code_version:
            self.graph.note(
                f"{node.label}: no code version recorded (it did not run from a git checkout)"
            )
            return
        commit, _, dirty = run.code_version.partition("-")
        diff = [a for a in self.store.list_artifacts(run.id, "code/") if a.path == DIFF_ARTIFACT]
        attrs: dict[str, Any] = {
            "commit": commit, "dirty": bool(dirty), "repo": run.tags.get(GIT_REPO_TAG),
            "recorded_by_run": run.id,
        }  # fmt: skip
        if diff:
            attrs["diff"] = {"run_id": run.id, "artifact": diff[0].path,
                             "blob_hash": diff[0].blob_hash, "size": diff[0].size}  # fmt: skip
        elif dirty:
            self.graph.note(f"commit {commit[:12]} had uncommitted changes, but no diff is stored")
        code = self.graph.add(g.Node(g.CODE, run.code_version, f"commit {commit}", attrs))
        self.graph.link(node, code, "code")

    def _link_used_datasets(self, node: g.Node, run: RunRecord) -> None:
        """The datasets a run tagged itself with (``shipyard.dataset.NAME``: version); the
        tag holds no project, so the one dataset of that name and version saved by this
        run or in its flow run is taken, else any single match."""
        for key, version in sorted(run.tags.items()):
            if not key.startswith(DATASET_TAG) or not version.isdigit():
                continue
            name = key[len(DATASET_TAG) :]
            found = self._find_dataset(name, int(version), run)
            if found is not None and found.run_id != run.id:  # not the run that saved it
                self.graph.link(node, self._dataset(found), "used dataset")

    def _find_dataset(self, name: str, version: int, run: RunRecord) -> DatasetRecord | None:
        matches = []
        for project in self.store.list_projects():
            for ds in self.store.features.list_datasets(project.name, name):
                if ds.version == version:
                    matches.append(ds)
        near = [ds for ds in matches if ds.run_id and self._same_flow(ds.run_id, run)]
        chosen = near or matches
        if len(chosen) == 1:
            return chosen[0]
        uri = f"{name}/{version}"
        if not chosen:
            self.graph.note(f"run {run.id[:8]} used dataset {uri}, which no longer exists")
        else:
            self.graph.note(f"run {run.id[:8]} used dataset {uri}: found in several projects")
        return None

    def _same_flow(self, run_id: str, run: RunRecord) -> bool:
        if run_id == run.id:
            return True
        try:
            other = self.store.get_run(run_id)
        except NotFound:
            return False
        return bool(run.parent_id) and other.parent_id == run.parent_id

    # -- datasets ---------------------------------------------------------------------

    def _link_dataset(self, node: g.Node, uri: str) -> None:
        try:
            ref: DatasetRef = dataset_ref(uri)
        except ShipyardError:  # any text a user registered
            ref = DatasetRef(None, uri, None)
        if ref.project is None or ref.version is None:
            self.graph.note(f"{node.label}: training data {uri!r} is not a saved Shipyard dataset")
            return
        try:
            ds = self.store.features.get_dataset(ref.project, ref.name, ref.version)
        except NotFound:
            self.graph.note(f"{node.label}: dataset {uri} no longer exists")
            return
        self.graph.link(node, self._dataset(ds), "trained on")

    def _dataset(self, ds: DatasetRecord) -> g.Node:
        ident = f"{ds.project}/{ds.name}/{ds.version}"
        key = f"{g.DATASET}:{ident}"
        if key in self.graph.nodes:
            return self.graph.nodes[key]
        lineage = ds.lineage or {}
        node = self.graph.add(g.Node(g.DATASET, ident, f"dataset {ident}", {
            "uri": dataset_uri(ds.project, ds.name, ds.version),
            "rows": ds.rows, "size": ds.size, "blob_hash": ds.blob_hash,
            "created": iso(ds.created_ms), "created_by": ds.created_by,
            "entity_df_hash": lineage.get("entity_df_hash"),
            "timestamp_column": lineage.get("timestamp_column"),
            "columns": lineage.get("columns"),
        }))  # fmt: skip
        if ds.run_id:
            self._link_run(node, ds.run_id, "saved by")
        project = str(lineage.get("project") or ds.project)
        views = lineage.get("feature_views") or {}
        if not views:
            self.graph.note(f"{node.label}: no feature views recorded with it")
        for name, info in sorted(views.items()):
            view = self.features.feature_object(project, name, info.get("version"), missing_ok=True)
            if view is None:
                continue
            view_node = self.features.view(
                view, ds.created_ms, info.get("source_fingerprint"), info.get("source_version")
            )
            self.graph.link(node, view_node, "features", features=info.get("features"))
        for name, version in sorted((lineage.get("on_demand_feature_views") or {}).items()):
            od = self.features.feature_object(
                project, name, version, "on_demand_feature_view", True
            )
            if od is not None:
                self.graph.link(node, self.features.on_demand(od, ds.created_ms, views), "features")
        if lineage.get("feature_service"):
            self.features.link_service(
                node, project, str(lineage["feature_service"]), ds.created_ms
            )
        return node


def upstream(store: TrackingStore, kind: str, ident: str, project: str | None = None) -> g.Graph:
    """What ``kind`` ``ident`` was made from, back to source data and code. ``kind`` is
    prediction, model (NAME/VERSION, NAME@ALIAS, NAME), run, dataset ([PROJECT/]NAME/VERSION)
    or feature-view (NAME[/VERSION] in ``project``)."""
    ident = check_text(f"{kind} reference", ident)
    project = None if project is None else check_text("project", project)
    return Upstream(store, project).start(kind, ident)
