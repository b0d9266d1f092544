"""One prediction, start to end: route the rows to a variant, fetch missing features from
the online store, check the input against the signature, predict, log, and copy the
request to the shadows. Every protocol (native, MLflow, v2) and batch scoring use it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from shipyard.errors import InvalidInput, NotFound, ShipyardError
from shipyard.registry import ModelRegistry
from shipyard.serving.coalesce import MAX_REQUEST_ROWS, Coalescer
from shipyard.serving.deployment import Deployment
from shipyard.serving.enrich import FeatureLookup
from shipyard.serving.metrics import ServerMetrics
from shipyard.serving.predlog import LoggedBatch, PredictionLogger, describe_failure, new_ids
from shipyard.serving.routing import Router
from shipyard.serving.schema import Columns
from shipyard.serving.sealing import ChildSealer
from shipyard.serving.slots import AliasWatcher, Loaded, Slot
from shipyard.tracking import Client

log = logging.getLogger("shipyard.serving")
METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function")
MAX_SHADOW_BACKLOG = 64  # requests; past that shadows are skipped, never the live path
LOGGED = "_shipyard_logged"  # set on an exception once its failed call is in the log


@dataclass
class Served:
    """The part of a request one variant answered."""

    slot: Slot
    model: Loaded
    rows: list[int] | None  # None: every row


@dataclass
class Prediction:
    outputs: list[Any]
    ids: list[str]
    served: list[Served]

    @property
    def first(self) -> Served:
        return self.served[0]

    def variants(self, n: int) -> list[str] | None:
        """Per-row variant names when the request was split, else None."""
        if len(self.served) == 1:
            return None
        names = [""] * n
        for part in self.served:
            for i in part.rows or range(n):
                names[i] = part.slot.name
        return names


class PredictionService:
    def __init__(
        self,
        deployment: Deployment,
        *,
        client: Client | None = None,
        log_predictions: bool = True,
        poll_interval: float = 5.0,
        coalesce: bool = True,
    ) -> None:
        self.client = client or Client()
        self.deployment = deployment
        registry = ModelRegistry(self.client)
        self.slots = [Slot(v, registry) for v in deployment.variants]
        self.shadows = [Slot(v, registry, shadow=True) for v in deployment.shadows]
        self.router = Router([v.weight for v in deployment.variants], deployment.sticky_key)
        self.metrics = ServerMetrics()
        self.logger = (
            PredictionLogger(
                self.client.store.predictions,
                self.client.settings.prediction_flush_interval,
                on_drop=self.metrics.log_dropped.inc,
                blobs=self.client.blobs,  # the flusher also writes the log's segments
                # a store read from the environment is one a child process can open too
                sealer=ChildSealer() if client is None else None,
            )
            if log_predictions
            else None
        )
        self.watcher = AliasWatcher([*self.slots, *self.shadows], poll_interval, self._swapped)
        self._lookups: dict[str, FeatureLookup] = {}
        self._lookup_lock = threading.Lock()
        self._shadow_pool = ThreadPoolExecutor(1, thread_name_prefix="shipyard-shadow")
        self.coalescer = (
            Coalescer(lambda model, matrix: _run(model, matrix, "predict")) if coalesce else None
        )
        self._shadow_backlog = 0
        for slot in (*self.slots, *self.shadows):
            self._swapped(slot)

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        self.watcher.start()
        if self.logger is not None:
            self.logger.start()

    def close(self) -> None:
        self.watcher.stop()
        self._shadow_pool.shutdown(wait=True)
        if self.logger is not None:
            self.logger.close()

    def _swapped(self, slot: Slot) -> None:
        self.metrics.serving_version.labels(slot.name, slot.current.name).set(slot.current.version)

    # -- predicting -------------------------------------------------------------------

    def slot(self, variant: str) -> Slot:
        for slot in (*self.slots, *self.shadows):
            if slot.name == variant:
                return slot
        names = ", ".join(s.name for s in self.slots)
        raise NotFound(f"no variant {variant!r} in this deployment; variants: {names}")

    def predict(
        self,
        columns: Columns,
        n: int,
        method: str = "predict",
        *,
        slot: Slot | None = None,
    ) -> Prediction:
        """Predict ``n`` rows given as columns; ``slot`` bypasses the traffic split."""
        return self._predict(columns, n, method, slot, self._groups(columns, n, method, slot))

    async def predict_async(
        self,
        columns: Columns,
        n: int,
        method: str = "predict",
        *,
        slot: Slot | None = None,
    ) -> Prediction:
        """``predict``, for the event loop: a small request to one model version that can
        share a call (``Loaded.coalesce``) shares it with the requests ready at the same
        moment (``serving.coalesce``); any other is predicted at once, as ``predict`` does."""
        groups = self._groups(columns, n, method, slot)
        target, rows = groups[0]
        model = target.current  # one model for the whole request, even mid-swap
        if (
            self.coalescer is None
            or len(groups) > 1
            or rows is not None
            or method != "predict"
            or not model.coalesce
            or n > MAX_REQUEST_ROWS
            or (model.feature_service and model.schema.missing(columns))
        ):
            return self._predict(columns, n, method, slot, groups)
        now_ms = time.time_ns() // 1_000_000
        ids = new_ids(n, now_ms)
        started = time.perf_counter()
        try:
            matrix = _model_input(model, columns)
            outputs = _json_list(await self.coalescer.predict(model, matrix))
        except Exception as exc:
            self._failed(target, model, columns, now_ms, started, exc)
            raise
        self._succeeded(target, model, columns, None, outputs, now_ms, started, ids)
        if self.shadows and slot is None:
            self._to_shadows(columns, method, now_ms, n)
        return Prediction(outputs, ids, [Served(target, model, None)])

    def _groups(
        self, columns: Columns, n: int, method: str, slot: Slot | None
    ) -> list[tuple[Slot, list[int] | None]]:
        """Which variant predicts which rows (None: all of them)."""
        if method not in METHODS:
            raise InvalidInput(f"method must be one of {', '.join(METHODS)}, not {method!r}")
        if slot is not None:
            return [(slot, None)]
        return [(self.slots[i], rows) for i, rows in self.router.assign(columns, n)]

    def _predict(
        self,
        columns: Columns,
        n: int,
        method: str,
        slot: Slot | None,
        groups: list[tuple[Slot, list[int] | None]],
    ) -> Prediction:
        now_ms = time.time_ns() // 1_000_000
        outputs: list[Any] = [None] * n if len(groups) > 1 else []
        ids: list[str] = [""] * n if len(groups) > 1 else []
        served = []
        for target, rows in groups:
            part = (
                columns if rows is None else {k: [v[i] for i in rows] for k, v in columns.items()}
            )
            model = target.current  # one model for the whole request, even mid-swap
            part_ids = new_ids(n if rows is None else len(rows), now_ms)  # one call each
            result = self._call(target, model, part, method, now_ms, part_ids)
            if rows is None:
                outputs, ids = result, part_ids
            else:
                for j, i in enumerate(rows):
                    outputs[i], ids[i] = result[j], part_ids[j]
            served.append(Served(target, model, rows))
        if self.shadows and slot is None:
            self._to_shadows(columns, method, now_ms, n)
        return Prediction(outputs, ids, served)

    def _call(
        self,
        slot: Slot,
        model: Loaded,
        columns: Columns,
        method: str,
        now_ms: int,
        ids: list[str],
    ) -> list[Any]:
        started = time.perf_counter()
        try:
            fetched = None
            if model.feature_service and model.schema.missing(columns):
                lookup = self._lookup(model.feature_service)
                response = lookup.fetch(columns)
                fetched = response.values
                columns = {**fetched, **columns}  # values sent with the request win
                try:
                    model_input = _model_input(model, columns)
                except InvalidInput as exc:
                    raise lookup.explain(exc, response) from exc
            else:
                model_input = _model_input(model, columns)
            outputs = _json_list(_run(model, model_input, method))
        except Exception as exc:
            self._failed(slot, model, columns, now_ms, started, exc)
            raise
        self._succeeded(slot, model, columns, fetched, outputs, now_ms, started, ids)
        return outputs

    def _succeeded(
        self,
        slot: Slot,
        model: Loaded,
        columns: Columns,
        fetched: Columns | None,
        outputs: list[Any],
        now_ms: int,
        started: float,
        ids: list[str],
    ) -> None:
        """Count, time and log one variant's call that answered."""
        elapsed = time.perf_counter() - started
        metrics = self.metrics.variant(model.name, model.version, slot.name)
        metrics.latency.observe(elapsed)
        metrics.predictions.inc(len(ids))
        if self.logger is not None:
            self.logger.log(
                LoggedBatch(
                    ids,
                    now_ms,
                    model.name,
                    model.version,
                    slot.name,
                    slot.shadow,
                    elapsed * 1000,
                    columns,
                    fetched,
                    outputs,
                )
            )

    def _failed(
        self,
        slot: Slot,
        model: Loaded,
        columns: Columns,
        now_ms: int,
        started: float,
        exc: BaseException,
    ) -> None:
        """Count and log one variant's call that failed (the caller re-raises ``exc``)."""
        if isinstance(exc, ShipyardError):
            labels = (model.name, str(model.version), slot.name, exc.code)
            self.metrics.errors.labels(*labels).inc()
        if self.logger is not None:
            self._log_failure(slot, model, columns, now_ms, started, exc)

    def _log_failure(
        self,
        slot: Slot,
        model: Loaded,
        columns: Columns,
        now_ms: int,
        started: float,
        exc: BaseException,
    ) -> None:
        """Log the failed call of one variant; never raises (the caller re-raises ``exc``)."""
        assert self.logger is not None
        try:
            self.logger.log_failure(
                model=model.name,
                version=model.version,
                variant=slot.name,
                shadow=slot.shadow,
                ts_ms=now_ms,
                latency_ms=(time.perf_counter() - started) * 1000,
                inputs=columns,
                error=describe_failure(exc),
            )
            _mark_logged(exc)
        except Exception:
            log.exception("could not log a failed prediction call")

    def log_unrouted_failure(self, exc: BaseException, started: float) -> None:
        """Log a request that failed before a variant took it (a body that does not parse,
        an unknown variant…): under the primary variant's model and version, with variant
        ``""``. A failure ``_call`` logged already is not logged twice. Never raises."""
        if self.logger is None or getattr(exc, LOGGED, False):
            return
        try:
            model = self.slots[0].current
            self.logger.log_failure(
                model=model.name,
                version=model.version,
                variant="",
                shadow=False,
                ts_ms=time.time_ns() // 1_000_000,
                latency_ms=(time.perf_counter() - started) * 1000,
                inputs=None,
                error=describe_failure(exc),
            )
        except Exception:
            log.exception("could not log a failed request")

    def _lookup(self, service: str) -> FeatureLookup:
        with self._lookup_lock:
            lookup = self._lookups.get(service)
            if lookup is None:
                lookup = self._lookups[service] = FeatureLookup(service, self.client)
            return lookup

    # -- shadows ----------------------------------------------------------------------

    def _to_shadows(self, columns: Columns, method: str, now_ms: int, n: int) -> None:
        if self._shadow_backlog >= MAX_SHADOW_BACKLOG:
            for shadow in self.shadows:
                self.metrics.shadow_dropped.labels(shadow.name).inc()
            return
        self._shadow_backlog += 1
        self._shadow_pool.submit(self._run_shadows, columns, method, now_ms, n)

    def _run_shadows(self, columns: Columns, method: str, now_ms: int, n: int) -> None:
        try:
            for shadow in self.shadows:
                try:
                    self._call(shadow, shadow.current, columns, method, now_ms, new_ids(n, now_ms))
                except Exception as exc:  # a failing shadow never reaches a client
                    log.debug("shadow %s failed: %s", shadow.name, exc)
        finally:
            self._shadow_backlog -= 1


def _mark_logged(exc: BaseException) -> None:
    with contextlib.suppress(Exception):  # no attributes allowed: logged twice at worst
        setattr(exc, LOGGED, True)


def _model_input(model: Loaded, columns: Columns) -> Any:
    if model.matrix_order is not None:
        return model.schema.matrix(columns, model.matrix_order)
    return model.schema.frame(columns)


def _run(model: Loaded, frame: Any, method: str) -> Any:
    fn: Any = model.direct.get(method)  # a pipeline's steps, called directly
    if fn is None:
        if method == "predict":
            fn = model.model.predict
        else:
            fn = getattr(model.model.model, method, None)
            if fn is None:
                raise InvalidInput(f"model {model.name} v{model.version} has no {method}")
    try:
        return fn(frame)
    except Exception as exc:
        raise InvalidInput(
            f"model {model.name} v{model.version} could not predict on this input: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _json_list(raw: Any) -> list[Any]:
    """Predictions as JSON-ready values, one per row."""
    import numpy as np

    if type(raw) is np.ndarray:  # what most models return
        return raw.tolist()  # type: ignore[no-any-return]
    import pandas as pd

    if isinstance(raw, pd.DataFrame):
        return list(raw.to_dict(orient="records"))
    if isinstance(raw, pd.Series):
        return list(raw.tolist())
    values: list[Any] = np.asarray(raw).tolist()
    return values
