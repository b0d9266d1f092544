"""Online stores: the latest feature row per entity key, for serving.

``open_online_store("sqlite:///PATH", project)`` or ``("redis://HOST:PORT/DB", project)``;
backends load lazily by URI scheme (entry point group ``shipyard.online_stores``).
"""

from shipyard.features.online.base import OnlineRow, OnlineStore, open_online_store

__all__ = ["OnlineRow", "OnlineStore", "open_online_store"]
