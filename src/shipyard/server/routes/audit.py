"""/api/v1/audit: who changed what, when and from where, newest first. Read-only: the
server records the entries of the changes it makes; no route edits or deletes one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from shipyard._clock import from_millis, since_millis
from shipyard.governance import Need
from shipyard.server.authz import rule
from shipyard.server.deps import client_of

router = APIRouter(prefix="/api/v1", tags=["audit"])


class AuditEntryOut(BaseModel):
    id: int
    time: datetime
    user: str = Field(description='who: a user name, or "local:<os user>"')
    action: str = Field(description="run.create, model.alias.move, ...")
    object: str = Field(description="run:<id>, model:churn/3, model:churn@champion, ...")
    summary: dict[str, Any] = Field(description="what changed: before/after, counts")
    request_id: str | None
    source: str = Field(description='the client\'s address, or "local"')

    @classmethod
    def of(cls, e: Any) -> AuditEntryOut:
        return cls(
            id=e.id, time=from_millis(e.ts_ms), user=e.actor, action=e.action, object=e.object,
            summary=e.summary, request_id=e.request_id, source=e.source,
        )  # fmt: skip


Text = Annotated[str | None, Query(max_length=1024)]


@router.get("/audit", response_model=list[AuditEntryOut])
@rule(Need.MANAGE)  # every project's history: admins of every project (or server admins)
def list_audit(
    request: Request,
    object: Annotated[
        str | None, Query(max_length=1024, description="exact, or a prefix ending in *")
    ] = None,
    user: Text = None,
    action: Annotated[
        str | None, Query(max_length=64, description="exact, or a prefix ending in *")
    ] = None,
    since: Annotated[
        str | None, Query(max_length=64, description="7d, 2026-12-01, or ISO 8601 with offset")
    ] = None,
    until: Annotated[str | None, Query(max_length=64, description="as since; exclusive")] = None,
    limit: int = Query(100, ge=1, le=10_000),
    before_id: int | None = Query(None, ge=1, le=2**63 - 1, description="page back from here"),
) -> list[AuditEntryOut]:
    """Audit entries, newest first, filtered by object, user, action and time."""
    client = client_of(request)
    now = client.clock.now()
    found = client.store.audit.list_audit(
        object=object,
        actor=user,
        action=action,
        since_ms=None if since is None else since_millis(since, now, "since"),
        until_ms=None if until is None else since_millis(until, now, "until"),
        limit=limit,
        before_id=before_id,
    )
    return [AuditEntryOut.of(e) for e in found]
