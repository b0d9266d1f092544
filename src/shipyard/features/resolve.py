"""Resolve a feature request (references "view:feature", a service, or a service's name)
against the applied definitions into per-view requests, for training sets and lookups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shipyard.errors import InvalidFeature
from shipyard.features.applied import Definitions
from shipyard.features.definitions import FeatureService, FeatureView, FeatureViewProjection
from shipyard.features.offline import OnDemandRequest, ViewRequest

FeatureRequest = str | Sequence[str] | FeatureService


def feature_service(defs: Definitions, name: str) -> FeatureService:
    if name not in defs.services:
        known = ", ".join(sorted(defs.services)) or "none applied"
        raise InvalidFeature(f"no feature service {name!r} (known: {known})")
    return defs.services[name]


def resolve(
    defs: Definitions, features: FeatureRequest
) -> tuple[list[ViewRequest], list[OnDemandRequest], str | None]:
    """Feature references ("view:feature"), a service, or a service name -> requests."""
    service: str | None = None
    projections: list[FeatureViewProjection]
    if isinstance(features, FeatureService):
        service, projections = features.name, features.projections()
    elif isinstance(features, str) and ":" not in features:
        service = features
        projections = feature_service(defs, features).projections()
    else:
        refs = [features] if isinstance(features, str) else list(features)
        if not refs:
            raise InvalidFeature("no features requested")
        projections = []
        for ref in refs:
            if not isinstance(ref, str) or ref.count(":") != 1:
                raise InvalidFeature(f"feature reference {ref!r} must look like 'view:feature'")
            view_name, feature = ref.split(":")
            projections.append(defs.view(view_name)[feature])
    return (*_group(projections, defs), service)


def request_key(features: FeatureRequest) -> Any:
    """A hashable key for a request, to cache what it resolves to."""
    if isinstance(features, FeatureService):
        return ("service", features.name)
    return features if isinstance(features, str) else tuple(features)


def _group(
    projections: list[FeatureViewProjection], defs: Definitions
) -> tuple[list[ViewRequest], list[OnDemandRequest]]:
    """Merge projections per view, keep first-seen order, and add what on-demand views
    read as hidden features of their source views."""
    views: dict[str, ViewRequest] = {}
    on_demand: dict[str, OnDemandRequest] = {}
    for p in projections:
        if isinstance(p.view, FeatureView):
            req = views.setdefault(
                p.name, ViewRequest(p.view, [], defs.version("feature_view", p.name))
            )
            req.features += [f for f in p.features if f not in req.features]
        else:
            odr = on_demand.setdefault(
                p.name,
                OnDemandRequest(p.view, [], defs.version("on_demand_feature_view", p.name)),
            )
            odr.features += [f for f in p.features if f not in odr.features]
    for odr in on_demand.values():
        for source in odr.view.source_views():
            assert isinstance(source.view, FeatureView)
            req = views.setdefault(
                source.name,
                ViewRequest(source.view, [], defs.version("feature_view", source.name)),
            )
            req.hidden += [
                f for f in source.features if f not in req.features and f not in req.hidden
            ]
    return list(views.values()), list(on_demand.values())
