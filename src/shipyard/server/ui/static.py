"""The UI's scripts, styles and vendored uPlot, served from the installed package."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

from shipyard.errors import NotFound
from shipyard.server.authz import public

STATIC = Path(__file__).parent / "static"
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

router = APIRouter(include_in_schema=False)


@router.get("/ui/static/{path:path}")
@public
def static_file(path: str) -> Response:
    """A file under ``static/`` (nothing outside it), cached for a day: its URL carries
    ``STATIC_VERSION``, so a new release is fetched anew."""
    target = (STATIC / path).resolve()
    if not target.is_relative_to(STATIC.resolve()) or not target.is_file():
        raise NotFound(f"no static file {path!r}")
    kind = TYPES.get(target.suffix)
    if kind is None:
        raise NotFound(f"no static file {path!r}")
    return Response(
        target.read_bytes(),
        media_type=kind,
        headers={"cache-control": "public, max-age=86400"},
    )
