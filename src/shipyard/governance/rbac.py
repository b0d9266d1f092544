"""Who may do what: roles per project, and what each role allows.

A user holds at most one role per project, or on ``*`` (every project). ``viewer`` reads,
``editor`` also writes (runs, models, features, aliases), a project ``admin`` also deletes
and purges; a server admin (``users.is_admin``) does everything, including managing users,
tokens and roles. What a call needs is checked on every project it touches; a call that
names no project (listing every model, say) needs the role on ``*``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import IntEnum

from shipyard.store.base.identity_store import ALL_PROJECTS, ROLES, UserRecord


class Need(IntEnum):
    """What a call needs, in increasing order."""

    READ = 1  # viewer
    WRITE = 2  # editor
    MANAGE = 3  # project admin
    ADMIN = 4  # server admin


_RANK = {role: Need(i + 1) for i, role in enumerate(ROLES)}


def role_rank(role: str) -> Need:
    return _RANK[role]


def allowed(
    user: UserRecord, roles: Mapping[str, str], need: Need, projects: Iterable[str]
) -> bool:
    """Whether ``user`` (holding ``roles``: project -> role) may do a ``need`` call on every
    one of ``projects`` (``*`` when the call names none)."""
    if user.disabled_ms is not None:
        return False
    if user.is_admin:
        return True
    if need is Need.ADMIN:
        return False
    everywhere = _RANK.get(roles.get(ALL_PROJECTS, ""), 0)
    wanted = set(projects) or {ALL_PROJECTS}
    return all(max(everywhere, _RANK.get(roles.get(p, ""), 0)) >= need for p in wanted)
