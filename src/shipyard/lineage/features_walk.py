"""The feature store's part of an upstream walk: feature view, on-demand view, feature
service and source versions (the ones a dataset recorded, else the ones in effect at a
time), and the online features a served prediction read."""

from __future__ import annotations

from typing import Any

from shipyard.errors import NotFound
from shipyard.lineage import graph as g
from shipyard.lineage.refs import iso
from shipyard.store.base import FeatureObject, TrackingStore


class FeatureLinks:
    """Adds feature objects to ``graph``, each once, with the links between them."""

    def __init__(self, store: TrackingStore, graph: g.Graph) -> None:
        self.store = store
        self.graph = graph

    def feature_object(
        self,
        project: str,
        name: str,
        version: int | None,
        kind: str = "feature_view",
        missing_ok: bool = False,
    ) -> FeatureObject | None:
        try:
            return self.store.features.get_feature_object(project, kind, name, version)
        except NotFound:
            if not missing_ok:
                raise NotFound(
                    f"{kind.replace('_', ' ')} {name!r}"
                    f"{f' version {version}' if version else ''} is not in project "
                    f"{project!r}: see `shipyard features ls --project {project}`"
                ) from None
            self.graph.note(f"{kind} {project}/{name} v{version} is no longer recorded")
            return None

    def as_of(
        self, project: str, kind: str, name: str, as_of_ms: int | None
    ) -> FeatureObject | None:
        """The version of an object in effect at ``as_of_ms`` (the latest when None)."""
        try:
            history = self.store.features.feature_object_history(project, kind, name)
        except NotFound:
            history = []
        live = [o for o in history if as_of_ms is None or o.created_ms <= as_of_ms]
        if not live:
            self.graph.note(f"{kind} {project}/{name} is not recorded")
            return None
        return max(live, key=lambda o: o.version)

    def view(
        self,
        view: FeatureObject,
        as_of_ms: int | None,
        data_fingerprint: str | None = None,
        source_version: int | None = None,
    ) -> g.Node:
        """The view and its source: the version the dataset recorded (datasets saved since
        lineage record it), else the one in effect at ``as_of_ms`` (None: the latest)."""
        node = self.object_node(g.FEATURE_VIEW, view, {
            "entities": view.spec.get("entities"),
            "features": [f.get("name") for f in view.spec.get("schema", [])],
            "transformation": view.spec.get("transformation"),
            "ttl_seconds": view.spec.get("ttl_seconds"),
        })  # fmt: skip
        source_name = view.spec.get("source")
        source = (
            self.feature_object(view.project, str(source_name), source_version, "source", True)
            if source_version
            else self.as_of(view.project, "source", str(source_name), as_of_ms or None)
        )
        if source_name and source is not None:
            attrs = {"data_fingerprint": data_fingerprint} if data_fingerprint else {}
            self.graph.link(node, self.source(source), "reads", **attrs)
        return node

    def on_demand(
        self, od: FeatureObject, as_of_ms: int | None, views: dict[str, Any] | None = None
    ) -> g.Node:
        """The on-demand view and the views it computes from: the versions a dataset
        recorded in ``views``, else the ones in effect at ``as_of_ms``."""
        node = self.object_node(g.ON_DEMAND_VIEW, od, {
            "features": [f.get("name") for f in od.spec.get("schema", [])],
            "udf": (od.spec.get("udf") or {}).get("name"),
        })  # fmt: skip
        for src in od.spec.get("sources", []):
            name = str(src.get("view"))
            info = (views or {}).get(name) or {}
            view = (
                self.feature_object(od.project, name, info["version"], missing_ok=True)
                if info.get("version")
                else self.as_of(od.project, "feature_view", name, as_of_ms)
            )
            if view is None:
                continue
            fingerprint, version = info.get("source_fingerprint"), info.get("source_version")
            target = self.view(view, as_of_ms, fingerprint, version)
            self.graph.link(node, target, "computed from", features=src.get("features"))
        return node

    def source(self, source: FeatureObject) -> g.Node:
        spec = source.spec
        shown = ("kind", "path", "file_format", "query", "connection", "data", "batch_source")
        attrs = {k: spec[k] for k in shown if spec.get(k) is not None}
        attrs["timestamp_field"] = spec.get("timestamp_field")
        return self.object_node(g.SOURCE, source, attrs)

    def link_service(self, node: g.Node, project: str, name: str, as_of_ms: int | None) -> None:
        service = self.as_of(project, "feature_service", name, as_of_ms)
        if service is None:
            return
        target = self.object_node(g.FEATURE_SERVICE, service, {
            "features": service.spec.get("features"),
        })  # fmt: skip
        self.graph.link(node, target, "feature service")

    def object_node(self, kind: str, obj: FeatureObject, attrs: dict[str, Any]) -> g.Node:
        ident = f"{obj.project}/{obj.name}/{obj.version}"
        label = f"{kind.replace('_', ' ')} {obj.project}/{obj.name} v{obj.version}"
        return self.graph.add(g.Node(kind, ident, label, {
            **attrs, "definition_fingerprint": obj.fingerprint, "created": iso(obj.created_ms),
            "created_by": obj.created_by, "owner": obj.spec.get("owner"), "deleted": obj.deleted,
        }))  # fmt: skip

    def online_views(
        self, node: g.Node, project: str, service: str, ts_ms: int, features: set[str]
    ) -> None:
        """The views of ``service`` whose features a served prediction read online, each
        at the version of its last write into the online store before the prediction."""
        found = self.as_of(project, "feature_service", service, ts_ms)
        if found is None:
            return
        for ref in found.spec.get("features", []):
            name = str(ref.get("view"))
            used = [f for f in ref.get("features", []) if f in features]
            if not used:
                continue
            writes = [
                m for m in self.store.features.materializations(project, name, limit=1000)
                if m.created_ms <= ts_ms
            ]  # fmt: skip
            if not writes:
                continue  # an on-demand view (computed in the request) or never written
            last = max(writes, key=lambda m: m.created_ms)
            view = self.feature_object(project, name, last.view_version, missing_ok=True)
            if view is not None:
                self.graph.link(
                    node, self.view(view, ts_ms), "online features from",
                    features=used, written=iso(last.created_ms), write=last.kind,
                )  # fmt: skip
