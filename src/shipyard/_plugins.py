"""A lazy registry of implementations by name, as dotted paths, plus entry points.

Built-ins register exactly like third-party plugins do. Loading imports the module only
when the name is first asked for, and a missing optional dependency becomes a message
naming the extra to install.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from shipyard.errors import InvalidArgument, MissingExtra


class Registry:
    def __init__(
        self,
        kind: str,
        builtins: dict[str, str],
        entry_point_group: str | None = None,
        extras: dict[str, tuple[str, str]] | None = None,
    ) -> None:
        self.kind = kind
        self._paths = dict(builtins)
        self._group = entry_point_group
        self._extras = extras or {}  # name -> (package, extra)
        self._loaded: dict[str, Any] = {}
        self._scanned = False

    def register(self, name: str, target: str | Any) -> None:
        """Register a dotted path ``module:attr`` or an object under ``name``."""
        if isinstance(target, str):
            self._paths[name] = target
            self._loaded.pop(name, None)
        else:
            self._loaded[name] = target

    def names(self) -> list[str]:
        self._scan()
        return sorted(set(self._paths) | set(self._loaded))

    def load(self, name: str) -> Any:
        if name in self._loaded:
            return self._loaded[name]
        if name not in self._paths:
            self._scan()
        if name not in self._paths:
            raise InvalidArgument(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
        module_name, _, attr = self._paths[name].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            if name in self._extras:
                package, extra = self._extras[name]
                raise MissingExtra(package, extra, f"The {self.kind} {name!r}") from exc
            raise
        obj = getattr(module, attr) if attr else module
        self._loaded[name] = obj
        return obj

    def _scan(self) -> None:
        if self._scanned or not self._group:
            return
        self._scanned = True
        for ep in entry_points(group=self._group):
            self._paths.setdefault(ep.name, ep.value)
