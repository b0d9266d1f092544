"""Which variant serves a row: by weight, sticky on a request key.

With a sticky key, a row's variant is a hash of its key value, so the same customer sees
the same model on every request (an A/B test needs that) and the split holds across
server processes and restarts. Without one, each request draws a variant at random.
"""

from __future__ import annotations

import bisect
import random
import zlib
from collections.abc import Sequence
from typing import Any

from shipyard.errors import InvalidInput

BUCKETS = 10_000


class Router:
    def __init__(self, weights: Sequence[float], sticky_key: str | None) -> None:
        total = float(sum(weights))
        edges, running = [], 0.0
        for w in weights:
            running += w
            edges.append(round(running / total * BUCKETS))
        edges[-1] = BUCKETS
        self.edges = edges
        self.sticky_key = sticky_key
        self.single = len(weights) == 1

    def assign(self, columns: dict[str, list[Any]], n: int) -> list[tuple[int, list[int] | None]]:
        """(variant index, row indices or None for all rows), one entry per variant used."""
        if self.single:
            return [(0, None)]
        if self.sticky_key is None:
            return [(bisect.bisect_right(self.edges, random.randrange(BUCKETS)), None)]
        keys = columns.get(self.sticky_key)
        if keys is None:
            raise InvalidInput(
                f"this deployment routes by {self.sticky_key!r}; send it with every row",
                self.sticky_key,
            )
        groups: dict[int, list[int]] = {}
        for i, key in enumerate(keys):
            bucket = zlib.crc32(str(key).encode()) % BUCKETS
            groups.setdefault(bisect.bisect_right(self.edges, bucket), []).append(i)
        if len(groups) == 1:
            return [(next(iter(groups)), None)]
        return sorted(groups.items())
