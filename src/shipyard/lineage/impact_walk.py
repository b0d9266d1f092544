"""Impact: what depends on a feature view — on-demand views and feature services built on
it, the datasets saved from it, the model versions trained on those datasets or reading
through those services, their aliases, their traffic in the prediction log, the monitors
watching them and the scheduled flows that rebuild the datasets.

Like the upstream walk it reads only the metadata store's interfaces.
"""

from __future__ import annotations

from typing import Any

from shipyard.errors import NotFound, ShipyardError
from shipyard.lineage import graph as g
from shipyard.lineage.refs import check_text, dataset_ref, dataset_uri, iso
from shipyard.store.base import DatasetRecord, FeatureObject, ModelVersionRecord, TrackingStore

IMPACT_KINDS = ("feature-view",)


class Impact:
    def __init__(self, store: TrackingStore, project: str) -> None:
        self.store = store
        self.project = project
        self.graph = g.Graph("impact", "")

    def feature_view(self, name: str) -> g.Graph:
        view = self._latest(name)
        root = self._object_node(view)
        self.graph.root = root.key
        views = {view.name: root}  # the view and the on-demand views computed from it
        for od in self._objects("on_demand_feature_view"):
            if any(src.get("view") == view.name for src in od.spec.get("sources", [])):
                node = self._object_node(od)
                self.graph.link(root, node, "computes")
                views[od.name] = node
        for service in self._objects("feature_service"):
            used = {ref.get("view") for ref in service.spec.get("features", [])} & set(views)
            if used:
                node = self._object_node(service)
                for name_used in sorted(used):
                    self.graph.link(views[name_used], node, "in service")
        datasets = self._datasets(views)
        self._models(datasets)
        return self.graph

    # -- walk -----------------------------------------------------------------------

    def _latest(self, name: str) -> FeatureObject:
        for kind in ("feature_view", "on_demand_feature_view"):
            try:
                found = self.store.features.get_feature_object(self.project, kind, name)
            except NotFound:
                continue
            return found
        raise NotFound(
            f"feature view {name!r} is not in project {self.project!r}: "
            f"see `shipyard features ls --project {self.project}`"
        )

    def _objects(self, kind: str) -> list[FeatureObject]:
        return self.store.features.latest_feature_objects(self.project, kind)

    def _datasets(self, views: dict[str, g.Node]) -> dict[str, g.Node]:
        """What a model version may depend on through ``views``, by the name its record
        uses: the datasets that joined them (``project/name/version``) and the services
        that include them (``service:project/name``)."""
        found: dict[str, g.Node] = {}
        for ds in self.store.features.list_datasets(self.project):
            lineage = ds.lineage or {}
            recorded = {
                **{
                    k: (v or {}).get("version")
                    for k, v in (lineage.get("feature_views") or {}).items()
                },
                **(lineage.get("on_demand_feature_views") or {}),
            }
            used = sorted(set(recorded) & set(views))
            if not used:
                continue
            node = self._dataset_node(ds)
            found[node.id] = node
            for name in used:
                self.graph.link(views[name], node, "used by", version=recorded[name])
            self._schedules(ds, node)
        for service in self.graph.of_kind(g.FEATURE_SERVICE):
            found[f"service:{service.attrs['project']}/{service.attrs['name']}"] = service
        return found

    def _models(self, dependencies: dict[str, g.Node]) -> None:
        logged = self.store.predictions.logged_versions()
        last = self.store.predictions.last_prediction_ms()
        for model in self.store.models.list_models():
            for mv in self.store.models.list_model_versions(model.name):
                via = [dependencies.get(_dataset_id(mv.dataset)),
                       dependencies.get(f"service:{mv.feature_service}")]  # fmt: skip
                via_nodes = [n for n in via if n is not None]
                if not via_nodes:
                    continue
                node = self._model_node(mv, model.aliases)
                for dep in via_nodes:
                    relation = "trained" if dep.kind == g.DATASET else "serves features to"
                    self.graph.link(dep, node, relation)
                for alias, version in sorted(model.aliases.items()):
                    if version == mv.version:
                        target = self.graph.add(g.Node(g.ALIAS, f"{mv.name}@{alias}",
                                                       f"alias {mv.name}@{alias}"))  # fmt: skip
                        self.graph.link(node, target, "aliased as")
                calls = logged.get((mv.name, mv.version), 0)
                if calls:
                    served = self.graph.add(g.Node(
                        g.SERVED, f"{mv.name}/{mv.version}",
                        f"served: {calls:,} call(s) of {mv.name}/{mv.version} logged",
                        {"calls": calls, "model_last_prediction": iso(last.get(mv.name))},
                    ))  # fmt: skip
                    self.graph.link(node, served, "serving")
                self._monitors(mv, model.aliases, model.latest_version, node)

    def _monitors(
        self, mv: ModelVersionRecord, aliases: dict[str, int], latest: int, node: g.Node
    ) -> None:
        for monitor in self.store.monitors.list_monitors(mv.name):
            target = monitor.target
            watches = (
                (target.startswith("@") and aliases.get(target[1:]) == mv.version)
                or target == str(mv.version)
                or (target == "" and latest == mv.version)
            )
            if watches:
                found = self.graph.add(g.Node(
                    g.MONITOR, f"{mv.name}/{monitor.name}", f"monitor {monitor.name}",
                    {"model": mv.name, "target": target or "latest", "check": monitor.check_kind,
                     "schedule": monitor.schedule},
                ))  # fmt: skip
                self.graph.link(node, found, "watched by")

    def _schedules(self, ds: DatasetRecord, node: g.Node) -> None:
        """The scheduler deployments of the flow whose run saved the dataset."""
        if not ds.run_id:
            return
        try:
            run = self.store.get_run(ds.run_id)
            flow = self.store.flows.flow_run_of(run.parent_id or run.id)
        except NotFound:
            return
        for deployment in self.store.events.list_deployments():
            if deployment.flow_name == flow.flow_name:
                target = self.graph.add(g.Node(
                    g.SCHEDULE, deployment.name, f"scheduled flow {deployment.name}",
                    {"flow": deployment.flow_name, "schedule": deployment.schedule,
                     "triggers": [t.get("name") for t in deployment.triggers]},
                ))  # fmt: skip
                self.graph.link(node, target, "rebuilt by")

    # -- nodes ----------------------------------------------------------------------

    def _object_node(self, obj: FeatureObject) -> g.Node:
        kind = g.FEATURE_VIEW if obj.kind == "feature_view" else obj.kind
        return self.graph.add(g.Node(
            kind, f"{obj.project}/{obj.name}/{obj.version}",
            f"{kind.replace('_', ' ')} {obj.project}/{obj.name} v{obj.version}",
            {"project": obj.project, "name": obj.name, "version": obj.version,
             "owner": obj.spec.get("owner"), "definition_fingerprint": obj.fingerprint},
        ))  # fmt: skip

    def _dataset_node(self, ds: DatasetRecord) -> g.Node:
        ident = f"{ds.project}/{ds.name}/{ds.version}"
        return self.graph.add(g.Node(
            g.DATASET, ident, f"dataset {ident}",
            {"uri": dataset_uri(ds.project, ds.name, ds.version), "rows": ds.rows,
             "created": iso(ds.created_ms), "created_by": ds.created_by,
             "run_id": ds.run_id},
        ))  # fmt: skip

    def _model_node(self, mv: ModelVersionRecord, aliases: dict[str, int]) -> g.Node:
        return self.graph.add(g.Node(
            g.MODEL_VERSION, f"{mv.name}/{mv.version}", f"model {mv.name}/{mv.version}",
            {"status": mv.status, "owner": mv.owner, "created": iso(mv.created_ms),
             "aliases": sorted(a for a, v in aliases.items() if v == mv.version)},
        ))  # fmt: skip


def _dataset_id(uri: str | None) -> str:
    """``project/name/version`` of a model version's recorded training set, else ""."""
    try:
        ref = dataset_ref(uri or "")
    except ShipyardError:
        return ""
    return f"{ref.project}/{ref.name}/{ref.version}" if ref.project and ref.version else ""


def _views_of(lineage: dict[str, Any]) -> dict[str, Any]:
    return lineage.get("feature_views") or {}


def impact(store: TrackingStore, kind: str, name: str, project: str) -> g.Graph:
    """What depends on ``kind`` ``name`` (today: a feature view, on-demand ones included)."""
    if kind not in IMPACT_KINDS:
        raise NotFound(
            f"no impact analysis for kind {kind!r}: use one of {', '.join(IMPACT_KINDS)}"
        )
    name = check_text("feature view name", name)
    return Impact(store, check_text("project", project)).feature_view(name)


def dependents(graph: g.Graph) -> list[str]:
    """One line per dataset, model version, alias, served version, monitor and scheduled
    flow of an impact graph, for `shipyard features plan`."""
    kinds = (g.DATASET, g.MODEL_VERSION, g.ALIAS, g.SERVED, g.MONITOR, g.SCHEDULE)
    return [n.label for kind in kinds for n in graph.of_kind(kind)]
