"""Running the server: uvicorn in factory mode (so ``--workers N`` works: each worker
process builds its own app from the settings), or in a thread of this process (tests,
benchmarks)."""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

from shipyard.config import Settings, load_settings
from shipyard.errors import StoreUnavailable
from shipyard.store.sql.engine import redact


def app_from_settings() -> Any:
    """The uvicorn factory: an app over the settings' stores (env, shipyard.toml), with
    authentication as ``shipyard server`` resolved it (SHIPYARD_AUTH on or off)."""
    from shipyard.server.app import create_app

    settings = load_settings()
    return create_app(auth=auth_config(settings, host=None))


def auth_config(settings: Settings, host: str | None) -> Any:
    """Authentication on unless the setting says off, or says auto and ``host`` is a
    loopback address (only this machine can connect)."""
    from shipyard.server.auth import AuthConfig

    mode = settings.auth
    if mode == "auto":
        mode = "off" if host is not None and is_loopback(host) else "on"
    return AuthConfig(enabled=mode == "on", anonymous_read=settings.anonymous_read)


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def describe(settings: Settings) -> list[str]:
    return [
        f"store: {redact(settings.uri)}",
        f"blobs: {redact(settings.artifact_uri)}",
        f"online store: {redact(settings.online_uri)}",
    ]


def serve(host: str, port: int, workers: int = 1, log_level: str = "info") -> None:
    """Run the server in the foreground until interrupted."""
    import uvicorn

    uvicorn.run(
        "shipyard.server.run:app_from_settings",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class ServerThread:
    """An app served by uvicorn in a daemon thread of this process, on loopback."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int | None = None) -> None:
        import uvicorn

        self.host, self.port = host, port or free_port(host)
        config = uvicorn.Config(
            app, host=self.host, port=self.port, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, name="shipyard-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise StoreUnavailable(f"the server at {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)


def settings_for(uri: str | None, artifact_uri: str | None) -> Settings:
    return load_settings({"uri": uri, "artifact_uri": artifact_uri}, env=os.environ)
