"""A counter of changes to users, tokens and roles made by this process, so that what a
server remembers about recent sign-ins is forgotten the moment one of them changes."""

from __future__ import annotations

import itertools
import threading

_counter = itertools.count(1)
_generation = 0
_lock = threading.Lock()


def identity_changes() -> int:
    return _generation


def identity_changed() -> None:
    global _generation
    with _lock:
        _generation = next(_counter)
