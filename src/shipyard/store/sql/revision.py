"""The schema revision this Shipyard writes: the newest migration in ``migrations/``.

A module of its own, without SQLAlchemy, so that the sqlite3 fast path (``lite``) can
tell cheaply whether a database is at this revision (tests pin it to the scripts).
"""

from __future__ import annotations

HEAD = "0009"
