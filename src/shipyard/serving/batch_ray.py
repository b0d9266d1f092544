"""Batch scoring on Ray: the driver reads the chunks and writes the output; Ray actors
score them.

The model reference is resolved once, here, to a version (``churn@production`` ->
``churn/3``): every actor scores that version even if the alias moves meanwhile. Each
actor holds a ``PredictionService`` with the driver's settings (its store, blob store,
online store), so checks, feature lookups and the prediction log are as locally; an
actor flushes its log before it returns a chunk. Chunks go to the actors in turn, at
most two per actor in flight, and are written in input order. A chunk that fails ends
the run: no output is written.

Workers must be able to import ``shipyard``, as for the Ray executor.
"""

from __future__ import annotations

import copy
import time
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from typing import TYPE_CHECKING, Any

from shipyard._ray import connect, enter_worker, raised_by, require_ray, worker_context
from shipyard.errors import ShipyardError
from shipyard.registry import ModelRegistry, load_model_dir
from shipyard.serving.deployment import Deployment, ModelRef, Variant
from shipyard.serving.service import PredictionService
from shipyard.tracking import Client

if TYPE_CHECKING:
    from shipyard.serving.batch import BatchResult, Output

IN_FLIGHT_PER_ACTOR = 2


class Scorer:
    """A Ray actor: one PredictionService for a pinned model, with the driver's settings
    (so the same store, blob store and online store)."""

    def __init__(
        self, model: str, context: dict[str, Any], method: str, log_predictions: bool
    ) -> None:
        self.client = Client(settings=enter_worker(context))  # the driver's store, blobs…
        deployment = Deployment((Variant("batch", ModelRef.parse(model)),))
        self.service = PredictionService(
            deployment, client=self.client, log_predictions=log_predictions
        )
        self.method = method

    def score(self, batch: Any) -> tuple[Any, list[str]]:
        result = self.service.predict(batch.to_pydict(), batch.num_rows, self.method)
        if self.service.logger is not None:
            self.service.logger.flush()  # logged before the driver counts the chunk done
        return result.outputs, list(result.ids)

    def close(self) -> None:
        self.service.close()
        self.client.close()


def score_on_ray(
    model: str,
    batches: Iterator[Any],
    out: Output,
    *,
    method: str,
    log_predictions: bool,
    client: Client | None,
    address: str | None,
    workers: int | None,
) -> BatchResult:
    from shipyard.serving.batch import BatchResult

    ray = require_ray("Batch scoring on Ray")
    client = client or Client()
    name, version, pinned = _pin(model, client)
    started = time.perf_counter()
    head = list(islice(batches, 1))  # a file that cannot be read fails before Ray starts
    connected = False
    if not ray.is_initialized():
        connect(address or client.settings.ray_address or None)
        connected = True
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        wanted = workers or max(1, cpus)
        first = head + list(islice(batches, wanted - len(head)))  # no more actors than chunks
        with out:
            if first:
                actors = _start(ray, pinned, client, method, log_predictions, len(first), cpus)
                try:
                    _score(ray, actors, chain(first, batches), out)
                    ray.get([actor.close.remote() for actor in actors])
                finally:
                    for actor in actors:
                        ray.kill(actor)
            out.commit()
    finally:
        if connected:
            ray.shutdown()  # stops only a local Ray this call started
    return BatchResult(out.rows, time.perf_counter() - started, out.path, name, version)


def _pin(model: str, client: Client) -> tuple[str, int, str]:
    """The model's name and version, and the reference the actors load: ``name/version``
    (a folder made by `shipyard models build` is passed as it is)."""
    ref = ModelRef.parse(model)
    if ref.folder:
        loaded = load_model_dir(ref.folder)
        return loaded.name, loaded.version, ref.folder
    version = ModelRegistry(client).get_version(ref.uri)
    return version.name, version.version, f"{version.name}/{version.version}"


def _start(
    ray: Any,
    model: str,
    client: Client,
    method: str,
    log_predictions: bool,
    count: int,
    cpus: int,
) -> list[Any]:
    """``count`` actors; together they ask for no more CPUs than the cluster has, so an
    explicit ``--workers`` above its CPUs shares them instead of waiting forever."""
    actor = ray.remote(Scorer).options(num_cpus=min(1.0, max(cpus, 1) / count), max_restarts=0)
    context = worker_context(client.settings)  # store, blobs, online store, log flushing
    return [actor.remote(model, context, method, log_predictions) for _ in range(count)]


def _score(ray: Any, actors: list[Any], batches: Iterable[Any], out: Output) -> None:
    """Chunks to the actors in turn, at most IN_FLIGHT_PER_ACTOR each; results written in
    input order (the oldest chunk is waited for first)."""
    pending: deque[tuple[int, int, Any, Any]] = deque()
    first_row = 0
    for index, batch in enumerate(batches):
        ref = actors[index % len(actors)].score.remote(batch)
        pending.append((index, first_row, batch, ref))
        first_row += batch.num_rows
        if len(pending) >= IN_FLIGHT_PER_ACTOR * len(actors):
            _write(ray, pending.popleft(), out)
    while pending:
        _write(ray, pending.popleft(), out)


def _write(ray: Any, chunk: tuple[int, int, Any, Any], out: Output) -> None:
    index, first_row, batch, ref = chunk
    try:
        outputs, ids = ray.get(ref)
    except ray.exceptions.RayError as exc:
        raise _failed(exc, index, first_row, batch.num_rows) from exc
    out.write(batch, outputs, ids)


def _failed(exc: Exception, index: int, first_row: int, rows: int) -> ShipyardError:
    """One line naming the chunk; an actor's ShipyardError keeps its class (bad input
    stays InvalidInput, as locally), anything else becomes a ShipyardError."""
    where = f"chunk {index + 1} (rows {first_row + 1}-{first_row + rows})"
    raised = raised_by(exc, where)
    if isinstance(getattr(exc, "cause", None), ShipyardError):
        raised = copy.copy(raised)  # its class and fields, with the chunk in the message
        raised.message = f"{where}: {raised.message}"
        raised.args = (raised.message,)
    return raised
