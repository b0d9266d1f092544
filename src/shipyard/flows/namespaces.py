"""Namespaces, as in Metaflow: the client sees the runs of one namespace at a time.

A namespace is a tag: ``user:<name>`` (the default: your own runs), ``project:<name>``,
``project_branch:<branch>``, or any tag given with ``--tag``. ``namespace(None)`` sees
every run. The choice is process-wide (like Metaflow's), so that a notebook cell that
calls ``namespace(None)`` changes what the next cells see.
"""

from __future__ import annotations

_DEFAULT = "<default>"
_chosen: list[str | None] = [_DEFAULT]  # one slot, replaced by namespace()


def default_namespace() -> str:
    """Go back to the default namespace (``user:<you>``) and return it."""
    _chosen[0] = _DEFAULT
    return _user_namespace()


def namespace(ns: str | None) -> str | None:
    """See only the runs tagged ``ns`` (e.g. ``"user:alice"``, ``"project:churn"``);
    ``None`` sees every run. Returns the namespace now in force."""
    if ns is not None and (not isinstance(ns, str) or not ns):
        from shipyard.errors import InvalidArgument

        raise InvalidArgument(f"a namespace is a tag such as 'user:alice' or None, not {ns!r}")
    _chosen[0] = ns
    return ns


def get_namespace() -> str | None:
    """The namespace in force: ``user:<you>`` unless ``namespace()`` chose another."""
    chosen = _chosen[0]
    return _user_namespace() if chosen == _DEFAULT else chosen


def _user_namespace() -> str:
    from shipyard.tracking import current_user

    return f"user:{current_user()}"
