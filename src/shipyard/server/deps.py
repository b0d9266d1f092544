"""What a route needs from the app: the client the server was created with."""

from __future__ import annotations

from fastapi import Request

from shipyard.tracking import Client


def client_of(request: Request) -> Client:
    """The server's client (its settings, clock, metadata store and blob store)."""
    client: Client = request.app.state.client
    return client
