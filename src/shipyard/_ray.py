"""Ray, as the Ray executor, batch scoring and drift on Ray use it: imported only when
asked for (a missing ``ray`` is a one-line message naming ``pip install 'shipyard[ray]'``),
connected the same way (``ray.init`` at an address, or a local Ray), and with workers that
open the driver's store (its resolved settings, ``sys.path`` and ``SHIPYARD_*`` variables).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from shipyard.config import Settings
from shipyard.errors import InvalidArgument, MissingExtra, ShipyardError


def require_ray(purpose: str) -> Any:
    """The ``ray`` module (partly typed: used untyped), or MissingExtra naming the extra;
    ``purpose`` starts the message ("Batch scoring on Ray needs the 'ray' package…")."""
    try:
        import ray
    except ImportError as exc:
        raise MissingExtra("ray", "ray", purpose) from exc
    return ray


def executor_of(executor: str | None, setting: str, what: str) -> str:
    """``local`` or ``ray``: ``executor`` when given, else ``ray`` if the ``executor``
    setting is ``ray`` (its other flow executors mean ``local`` here). ``what`` starts
    the message for anything else ("batch scoring runs on local or ray, not 'x'")."""
    if executor is None:
        executor = "ray" if setting == "ray" else "local"
    if executor not in ("local", "ray"):
        raise InvalidArgument(f"{what} on local or ray, not {executor!r}")
    return executor


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


def worker_context(settings: Settings) -> dict[str, Any]:
    """What a Ray worker needs to open the driver's store and import its code: the
    driver's resolved settings, ``sys.path`` and ``SHIPYARD_*`` environment."""
    return {
        "settings": dict(settings.values),
        "path": [p for p in sys.path if p],
        "env": {k: v for k, v in os.environ.items() if k.startswith("SHIPYARD_")},
    }


def enter_worker(context: dict[str, Any]) -> Settings:
    """In a Ray worker: take on the driver's ``sys.path`` and ``SHIPYARD_*`` environment,
    and return its settings (for ``Client(settings=...)``)."""
    sys.path.extend(p for p in context["path"] if p not in sys.path)
    for key in [k for k in os.environ if k.startswith("SHIPYARD_") and k not in context["env"]]:
        del os.environ[key]
    os.environ.update(context["env"])
    return Settings(context["settings"])


def raised_by(exc: Exception, what: str) -> ShipyardError:
    """The error a Ray worker raised: its ShipyardError as it was (a user's problem keeps
    its class and message), anything else one line naming ``what`` failed."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, ShipyardError):
        return cause
    reason = cause if isinstance(cause, BaseException) else exc
    first = (str(reason).strip().splitlines() or [""])[0][:300]
    return ShipyardError(f"{what} failed on Ray ({type(reason).__name__}: {first})")
