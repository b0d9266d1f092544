"""Run the prediction server under uvicorn (uvloop + httptools), in one process or
several workers. Workers rebuild the app from an environment variable, because uvicorn
starts them from an import string."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from shipyard.serving.deployment import Deployment

CONFIG_ENV = "SHIPYARD_SERVE_CONFIG"


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    log_predictions: bool = True
    max_body_mb: float = 16.0
    poll_interval: float = 5.0
    access_log: bool = False


def build_app(deployment: Deployment, options: ServeOptions) -> Any:
    from shipyard.serving.app import create_app
    from shipyard.serving.service import PredictionService

    service = PredictionService(
        deployment, log_predictions=options.log_predictions, poll_interval=options.poll_interval
    )
    return create_app(service, max_body_bytes=int(options.max_body_mb * 1024 * 1024))


def app_from_env() -> Any:
    """uvicorn's factory in each worker process."""
    config = json.loads(os.environ[CONFIG_ENV])
    return build_app(Deployment.from_dict(config["deployment"]), ServeOptions(**config["options"]))


def serve(
    deployment: Deployment,
    options: ServeOptions,
    announce: Callable[[Any], None] = lambda app: None,
) -> None:
    """Load every model, then ``announce(app)`` and serve until interrupted."""
    import uvicorn

    common: dict[str, Any] = {
        "host": options.host,
        "port": options.port,
        "log_level": "warning",
        "access_log": options.access_log,
        "loop": "uvloop" if _has("uvloop") else "asyncio",
        "http": "httptools" if _has("httptools") else "h11",
        "timeout_graceful_shutdown": 10,
    }
    app = build_app(deployment, options)  # with workers: fail here, before forking them
    announce(app)
    if options.workers == 1:
        uvicorn.run(app, **common)
        return
    app.state.service.close()
    os.environ[CONFIG_ENV] = json.dumps(
        {"deployment": deployment.to_dict(), "options": asdict(options)}
    )
    with tempfile.TemporaryDirectory(prefix="shipyard-metrics-") as folder:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder  # metrics summed over workers
        uvicorn.run(
            "shipyard.serving.server:app_from_env",
            factory=True,
            workers=options.workers,
            **common,
        )


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
