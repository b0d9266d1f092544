"""Ray, as the Ray executor and batch scoring on Ray both use it: imported only when
asked for (a missing ``ray`` is a one-line message naming ``pip install 'shipyard[ray]'``)
and connected the same way (``ray.init`` at an address, or a local Ray).
"""

from __future__ import annotations

import logging
from typing import Any

from shipyard.errors import InvalidArgument, MissingExtra


def require_ray(purpose: str) -> Any:
    """The ``ray`` module (partly typed: used untyped), or MissingExtra naming the extra;
    ``purpose`` starts the message ("Batch scoring on Ray needs the 'ray' package…")."""
    try:
        import ray
    except ImportError as exc:
        raise MissingExtra("ray", "ray", purpose) from exc
    return ray


def connect(address: str | None) -> None:
    """``ray.init``: at ``address``, or a local Ray (one found running, else a new one)."""
    import ray

    if not address:
        ray.init(include_dashboard=False, logging_level=logging.WARNING)
        return
    try:
        ray.init(address=address, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
        raise InvalidArgument(
            f"cannot connect to the Ray cluster at {address} ({reason}); check "
            "--ray-address or SHIPYARD_RAY_ADDRESS. A cluster with token authentication "
            "also needs RAY_AUTH_MODE=token here, and its token (~/.ray/auth_token or "
            "RAY_AUTH_TOKEN)"
        ) from exc
