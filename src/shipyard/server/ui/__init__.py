"""The web UI: server-rendered pages over the same client and rules as the API.

``install(app)`` adds the pages under ``/ui/`` (and ``/`` sends a browser there). Each page
module has one area (runs, flows, features, models, monitoring, governance) and its routes
carry ``@rule`` like the API's, so a user sees in the UI what their roles let them read.
Errors on UI paths answer as a page (a sign-in redirect for 401), not as JSON.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response

from shipyard.errors import InvalidArgument, ShipyardError, Unauthenticated
from shipyard.server.authz import public
from shipyard.server.errors import status_of
from shipyard.server.ui import (
    artifacts,
    compare,
    features,
    flows,
    governance,
    models,
    monitoring,
    overview,
    run_page,
    runs,
    session,
    static,
)
from shipyard.server.ui.render import page

root = APIRouter(include_in_schema=False)
PAGES = (
    static, session, overview, runs, run_page, artifacts, compare, flows, features, models,
    monitoring, governance,
)  # fmt: skip


@root.get("/")
@public
def home() -> Response:
    return RedirectResponse("/ui/", status_code=307)


def install(app: FastAPI) -> None:
    app.include_router(root)
    for module in PAGES:
        app.include_router(module.router)
    as_json = app.exception_handlers[ShipyardError]

    async def shipyard_error(request: Request, exc: Any) -> Response:
        if not request.url.path.startswith("/ui/"):
            answer: Response = await as_json(request, exc)  # type: ignore[misc]
            return answer
        if isinstance(exc, Unauthenticated):
            return session.login_redirect(request)
        return page(request, "error.html", status=status_of(exc), error=exc)

    app.add_exception_handler(ShipyardError, shipyard_error)
    bad_request = app.exception_handlers[RequestValidationError]

    async def invalid_input(request: Request, exc: Any) -> Response:
        if not request.url.path.startswith("/ui/"):
            answer: Response = await bad_request(request, exc)  # type: ignore[misc]
            return answer
        first = exc.errors()[0] if exc.errors() else {}
        field = ".".join(str(p) for p in first.get("loc", ())[1:])
        why = InvalidArgument(f"{field or 'input'}: {first.get('msg', 'invalid')}")
        return page(request, "error.html", status=422, error=why)

    app.add_exception_handler(RequestValidationError, invalid_input)
