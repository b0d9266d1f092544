"""/api/v1/store/{area}/{method}: any method of the store's protocols, called by name.

This is what lets every capability work against a remote store without a route of its
own: ``RestStore`` sends the arguments in the wire form (``shipyard.store.wire``) and gets
``{"result": ...}`` back. Only the methods the protocol classes in ``shipyard.store.base``
declare can be called (``shipyard.store.rpc``). A request carrying an ``Idempotency-Key``
seen before gets the first answer again.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Request, Response
from starlette.concurrency import run_in_threadpool

from shipyard.errors import InvalidArgument
from shipyard.governance import Need
from shipyard.server.authz import readable_projects, rule
from shipyard.server.authz_scope import narrowed_call, narrowed_result
from shipyard.server.deps import client_of, idempotent
from shipyard.store import rpc, wire

router = APIRouter(prefix="/api/v1", tags=["store"])

_BODY = {
    "type": "object",
    "properties": {
        "args": {"type": "array", "items": {}},
        "kwargs": {"type": "object", "additionalProperties": True},
    },
    "additionalProperties": False,
}
_RESULT = {"type": "object", "properties": {"result": {}}, "required": ["result"]}


@router.post(
    "/store/{area}/{method}",
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": _BODY}}}},
    responses={200: {"content": {"application/json": {"schema": _RESULT}}}},
)
@rule(Need.READ, "rpc")
async def store_call(
    area: str,
    method: str,
    request: Request,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """Call ``method`` of the store area (``tracking`` or a capability's sub-store)."""
    rpc.methods(area)  # 404 for an unknown area before the body is read
    args, kwargs = _arguments(await request.body())
    store = client_of(request).store
    readable = readable_projects(request)
    if readable is not None:  # a listing for a user with roles on some projects only
        args, kwargs = narrowed_call(method, args, kwargs, readable)

    def apply() -> bytes:
        result = rpc.call(store, area, method, args, kwargs)
        if readable is not None:
            result = narrowed_result(method, result, readable)
        return orjson.dumps({"result": wire.encode(result)})

    payload, _ = await run_in_threadpool(idempotent, request, idempotency_key, apply)
    return Response(payload, media_type="application/json")


def _arguments(body: bytes) -> tuple[list[Any], dict[str, Any]]:
    data = wire.loads(body or b"{}")
    if not isinstance(data, dict) or set(data) - {"args", "kwargs"}:
        raise InvalidArgument('the body must be {"args": [...], "kwargs": {...}}')
    args, kwargs = data.get("args", []), data.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise InvalidArgument('"args" must be a list and "kwargs" an object')
    return args, kwargs
