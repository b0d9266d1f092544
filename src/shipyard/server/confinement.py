"""What a server reads or calls on a client's word: only what its admin allowed.

A request may name a feature source's file, a SQL query or a webhook; the server must not
become a way to read its own disk, reach its internal network or run a client's code. So:

- a file source is read only inside ``server_data_roots`` (folders, resolved with their
  symbolic links, or URL prefixes such as ``s3://bucket/features/``);
- a SQL source runs only with ``server_sql_sources`` on (DuckDB can read any file);
- pickled code clients stored (transformations, on-demand functions) is never unpickled
  without ``server_trusts_code`` (``FeatureStore(trust_code=False)``);
- a monitor's alert goes only to ``alert_webhooks`` or URLs under ``server_webhooks``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from shipyard.config import Settings
from shipyard.errors import InvalidArgument, InvalidFeature


def check_sources(objects: Iterable[Any], settings: Settings) -> None:
    """Refuse unless every source among ``objects`` (sources, or views over them) may be
    read by this server."""
    for obj in objects:
        source = getattr(obj, "source", None)
        if source is not None and not isinstance(source, str):
            _check_source(source, settings)
        elif any(hasattr(obj, a) for a in ("path", "query", "batch_source")):
            _check_source(obj, settings)


def _check_source(source: Any, settings: Settings) -> None:
    batch = getattr(source, "batch_source", None)
    if batch is not None:
        _check_source(batch, settings)
        return
    name = getattr(source, "name", "?")
    if hasattr(source, "query"):
        if not settings.server_sql_sources:
            raise InvalidFeature(
                f"source {name!r} is a SQL query; this server runs no SQL sent by clients "
                "(its admin can allow it with SHIPYARD_SERVER_SQL_SOURCES=true)"
            )
        return
    path = getattr(source, "path", None)
    if path is not None and not inside_roots(str(path), settings.server_data_roots):
        roots = ", ".join(settings.server_data_roots) or "none are set"
        raise InvalidFeature(
            f"source {name!r} reads {path!r}, outside the folders this server reads "
            f"feature data from (SHIPYARD_SERVER_DATA_ROOTS: {roots})"
        )


def inside_roots(path: str, roots: Iterable[str]) -> bool:
    if "://" in path:
        if ".." in path.split("/"):
            return False
        return any(path.startswith(r.rstrip("/") + "/") for r in roots if "://" in r)
    real = os.path.realpath(path)
    for root in roots:
        if "://" in root:
            continue
        base = os.path.realpath(root)
        if real == base or real.startswith(base.rstrip(os.sep) + os.sep):
            return True
    return False


def webhook_allowed(url: str, settings: Settings) -> bool:
    target = url.split(":", 1)[1] if url.startswith(("json:", "slack:")) else url
    if url in settings.alert_webhooks or target in settings.alert_webhooks:
        return True
    return any(target.startswith(prefix) for prefix in settings.server_webhooks)


def check_webhooks(urls: Iterable[str], settings: Settings) -> None:
    refused = [u for u in urls if not webhook_allowed(u, settings)]
    if refused:
        raise InvalidArgument(
            f"this server sends alerts only to its own webhooks (SHIPYARD_ALERT_WEBHOOKS, or "
            f"URLs under SHIPYARD_SERVER_WEBHOOKS); refused: {', '.join(refused)}"
        )
