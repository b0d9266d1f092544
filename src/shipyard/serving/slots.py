"""The loaded model behind each variant, swapped in place when its alias moves.

A request takes ``slot.current`` once and uses that model to the end, so a swap never
drops or mixes a request: the new version is loaded completely before the reference
changes, and in-flight requests finish on the old one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from shipyard.registry import LoadedModel, ModelRegistry
from shipyard.serving.deployment import ModelRef, Variant
from shipyard.serving.fastpath import direct_methods, matrix_order, row_independent
from shipyard.serving.schema import InputSchema

log = logging.getLogger("shipyard.serving")


class Loaded:
    """A model version ready to serve: the model, its input schema and its metric labels."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.name = model.name
        self.version = model.version
        self.schema = InputSchema(model.signature)
        self.output_names = [c["name"] for c in model.signature.get("outputs", [])] or [
            "prediction"
        ]
        self.feature_service: str | None = model.record.feature_service
        self.matrix_order = matrix_order(model.record.flavor, model.model, model.signature)
        # whether concurrent requests may share one predict call (serving.coalesce)
        self.coalesce = self.matrix_order is not None and row_independent(
            model.model, self.matrix_order, model.signature
        )
        # a pipeline's methods as its steps called directly (fastpath.direct_methods)
        self.direct: dict[str, Any] = (
            direct_methods(model.model, self.matrix_order, model.signature)
            if self.matrix_order is not None
            else {}
        )


class Slot:
    def __init__(self, variant: Variant, registry: ModelRegistry, shadow: bool = False) -> None:
        self.variant = variant
        self.name = variant.name
        self.ref: ModelRef = variant.model
        self.shadow = shadow
        self.registry = registry
        self.current = Loaded(self._load(self.ref.uri))

    def _load(self, uri: str) -> LoadedModel:
        if self.ref.folder:
            from shipyard.registry import load_model_dir

            return load_model_dir(self.ref.folder)
        return self.registry.load_model(uri)

    def refresh(self) -> bool:
        """Follow the alias: load the version it points at now, if that changed."""
        if self.ref.alias is None:
            return False
        version = self.registry.get_version(self.ref.uri).version
        if version == self.current.version:
            return False
        loaded = Loaded(self._load(f"models:/{self.ref.name}/{version}"))
        previous, self.current = self.current.version, loaded
        log.warning(
            "variant %s: %s@%s moved, now serving v%s (was v%s)",
            self.name,
            self.ref.name,
            self.ref.alias,
            version,
            previous,
        )
        return True


class AliasWatcher:
    """Polls the registry for alias moves in a background thread."""

    def __init__(
        self,
        slots: Sequence[Slot],
        interval: float,
        on_swap: Callable[[Slot], Any] = lambda slot: None,
    ) -> None:
        self.slots = [s for s in slots if s.ref.alias is not None]
        self.interval = interval
        self.on_swap = on_swap
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.slots and self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="shipyard-alias-watch", daemon=True
            )
            self._thread.start()

    def check(self) -> None:
        for slot in self.slots:
            try:
                if slot.refresh():
                    self.on_swap(slot)
            except Exception:  # a registry hiccup must not stop serving the current model
                log.exception("variant %s: could not check %s", slot.name, slot.ref.uri)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
