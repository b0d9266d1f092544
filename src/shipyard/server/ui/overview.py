"""The overview: what is in production and is it healthy, what is stale, recent runs."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from shipyard.governance import Need
from shipyard.server.authz import readable_projects, rule
from shipyard.server.ui.render import page

router = APIRouter(include_in_schema=False)


@router.get("/ui/")
@rule(Need.READ, lists=True)
def overview(request: Request) -> Response:
    client = request.app.state.client
    readable = readable_projects(request)
    projects = sorted(readable) if readable is not None else None
    recent = client.store.search_runs(projects, "", ["start_time DESC"], 20, 0, False)
    return page(request, "overview.html", section="overview", recent=recent)
