"""The prediction server: a FastAPI app over one PredictionService.

Endpoints: native ``POST /predict``; MLflow's ``POST /invocations`` (+ ``/ping``,
``/version``); the Open Inference Protocol v2 under ``/v2``; ``/health``, ``/ready``,
``/metrics`` (Prometheus) and ``GET /`` (what is served). The prediction endpoints are
answered as plain ASGI ahead of FastAPI's layers (``serving.asgi``) and parse the body with
orjson themselves: faster than a pydantic model, and every error names its field. Errors
are JSON ``{"error": {"code", "message"[, "field"]}}`` with a 4xx status.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from shipyard.errors import InvalidInput, NotFound, ShipyardError
from shipyard.serving import payloads
from shipyard.serving.asgi import (
    JSON_OPTIONS,
    Endpoint,
    FastRoutes,
    Handler,
    Receive,
    Scope,
    Send,
    error_status,
)
from shipyard.serving.protocols import v2
from shipyard.serving.service import Prediction, PredictionService

log = logging.getLogger("shipyard.serving")
DEFAULT_MAX_BODY = 16 * 1024 * 1024
# a background thread (the prediction log's flusher, the alias watcher, shadows) that
# holds the GIL makes a request wait for it this long at most (Python's default: 5 ms)
SWITCH_INTERVAL_S = 0.0005
# containers allocated (net of those freed) before a young-generation collection (Python's
# default: 700). A 1,000-row request holds ~1,000 row lists while it runs: with the default
# it triggers a few young collections each (and their survivors older ones), which walk
# every row; the request frees them itself when it ends, so most collections find nothing
GC_YOUNG_THRESHOLD = 50_000


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body, option=JSON_OPTIONS), status, media_type="application/json")


def error_response(exc: ShipyardError) -> Response:
    return json_response(exc.to_json(), error_status(exc))


class PredictionApp(FastAPI):
    """FastAPI, with the prediction endpoints answered before its middleware and routing."""

    fast_routes: FastRoutes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            found = self.fast_routes.match(scope)
            if found is not None:
                await found[0](scope, receive, send, found[1])
                return
        await super().__call__(scope, receive, send)


def create_app(
    service: PredictionService, *, max_body_bytes: int = DEFAULT_MAX_BODY
) -> PredictionApp:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # the libraries and models loaded so far live as long as the server: keep the
        # garbage collector from walking them again and again (full-collection pauses)
        gc.collect()
        gc.freeze()
        service.start()
        try:
            with _serving_runtime():
                yield
        finally:
            service.close()
            gc.unfreeze()

    app = PredictionApp(
        title=f"Shipyard: {service.deployment.model_name}",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.service = service
    app.fast_routes = FastRoutes()
    endpoints = _Endpoints(app, service, max_body_bytes)
    _native_routes(endpoints)
    _mlflow_routes(endpoints)
    _v2_routes(endpoints)
    _operations_routes(app, service)
    _json_errors(app)
    return app


# servers running in this process; the switch interval and GC thresholds before the first
_runtime: dict[str, Any] = {"servers": 0, "interval": 0.0, "gc": (700, 10, 10)}
_runtime_lock = threading.Lock()


@contextmanager
def _serving_runtime() -> Iterator[None]:
    """While any server of this process runs: SWITCH_INTERVAL_S and a young-generation GC
    threshold of at least GC_YOUNG_THRESHOLD; then the settings before."""
    with _runtime_lock:
        if _runtime["servers"] == 0:
            _runtime["interval"] = sys.getswitchinterval()
            sys.setswitchinterval(min(_runtime["interval"], SWITCH_INTERVAL_S))
            young, *older = _runtime["gc"] = gc.get_threshold()
            if young:  # 0: collection is off; leave it so
                gc.set_threshold(max(young, GC_YOUNG_THRESHOLD), *older)
        _runtime["servers"] += 1
    try:
        yield
    finally:
        with _runtime_lock:
            _runtime["servers"] -= 1
            if _runtime["servers"] == 0:
                sys.setswitchinterval(_runtime["interval"])
                gc.set_threshold(*_runtime["gc"])


class _Deferred(Response):
    """What a FastAPI route of a prediction path returns: the same Endpoint answers."""

    def __init__(self, endpoint: Endpoint, params: dict[str, str]) -> None:
        self.endpoint, self.params = endpoint, params
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.endpoint(scope, receive, send, self.params)


class _Endpoints:
    """Registers the prediction endpoints: in the fast table, and as FastAPI routes."""

    def __init__(self, app: PredictionApp, service: PredictionService, max_body: int) -> None:
        self.app, self.service, self.max_body_bytes = app, service, max_body

    def endpoint(self, name: str, handler: Handler) -> Endpoint:
        return Endpoint(
            name,
            handler,
            self.service.metrics,
            self.max_body_bytes,
            self.service.log_unrouted_failure,
        )

    def post(self, path: str, endpoint: Endpoint, doc: str) -> None:
        """Answer POST ``path`` with ``endpoint`` (also through FastAPI, for /docs)."""
        self.app.fast_routes.exact[path] = endpoint

        async def route(request: Request) -> Response:
            return _Deferred(endpoint, {})

        self.app.add_api_route(path, route, methods=["POST"], name=endpoint.name, description=doc)


def _native_routes(e: _Endpoints) -> None:
    async def predict(body: bytes, _: bytes, __: dict[str, str]) -> Any:
        payload = payloads.parse_json(body)
        columns, n = payloads.native(payload)
        method = payload.get("method", "predict")
        variant = payload.get("variant")
        slot = e.service.slot(str(variant)) if variant is not None else None
        result = await e.service.predict_async(columns, n, method, slot=slot)
        return _native_body(result, n)

    e.post(
        "/predict",
        e.endpoint("predict", predict),
        'Predict records ({"records": [...]}), columns ({"columns": {...}}) or one record '
        '({"record": {...}}); optional "method" (predict_proba...) and "variant".',
    )


def _mlflow_routes(e: _Endpoints) -> None:
    async def invocations(body: bytes, content_type: bytes, _: dict[str, str]) -> Any:
        if content_type.startswith(b"text/csv"):
            columns, n = _csv_columns(body)
        else:
            names = e.service.slots[0].current.schema.names
            columns, n = payloads.mlflow(payloads.parse_json(body), names)
        result = await e.service.predict_async(columns, n)
        return {"predictions": result.outputs, "prediction_ids": result.ids}

    e.post(
        "/invocations",
        e.endpoint("invocations", invocations),
        "MLflow scoring protocol: dataframe_split, dataframe_records, inputs, instances "
        "(JSON) or a CSV body (Content-Type: text/csv).",
    )


def _v2_routes(e: _Endpoints) -> None:
    service = e.service

    def v2_slot(name: str, version: str | None) -> Any:
        slots = [s for s in service.slots if s.current.name == name]
        if not slots:
            raise NotFound(
                f"this server serves model {service.deployment.model_name!r}, not {name!r}"
            )
        if version is None:
            return None
        for slot in slots:
            if str(slot.current.version) == version:
                return slot
        served = ", ".join(str(s.current.version) for s in slots)
        raise NotFound(f"model {name!r} version {version} is not served here (serving {served})")

    async def v2_infer(body: bytes, _: bytes, params: dict[str, str]) -> Any:
        slot = v2_slot(params["name"], params.get("version"))
        payload = payloads.parse_json(body)
        model = (slot or service.slots[0]).current
        columns, n = v2.parse(payload, model.schema.names)
        result = await service.predict_async(columns, n, slot=slot)
        served = result.first.model
        answer: dict[str, Any] = {
            "model_name": served.name,
            "model_version": str(served.version),
            "outputs": v2.output_tensors(result.outputs, served.output_names),
            "parameters": {"prediction_ids": result.ids, "variant": result.first.slot.name},
        }
        if isinstance(payload.get("id"), str):
            answer["id"] = payload["id"]
        return answer

    endpoint = e.endpoint("v2_infer", v2_infer)
    e.app.fast_routes.v2 = endpoint

    async def infer(request: Request, name: str) -> Response:
        """Open Inference Protocol v2 inference."""
        return _Deferred(endpoint, {"name": name})

    async def infer_version(request: Request, name: str, version: str) -> Response:
        """Open Inference Protocol v2 inference on one served version."""
        return _Deferred(endpoint, {"name": name, "version": version})

    e.app.add_api_route("/v2/models/{name}/infer", infer, methods=["POST"])
    e.app.add_api_route(
        "/v2/models/{name}/versions/{version}/infer", infer_version, methods=["POST"]
    )

    @e.app.get("/v2/models/{name}")
    @e.app.get("/v2/models/{name}/versions/{version}")
    def v2_model_metadata(name: str, version: str | None = None) -> Response:
        """Model metadata: versions served, input and output tensors."""
        slot = v2_slot(name, version) or service.slots[0]
        signature = slot.current.model.signature
        return json_response(
            {
                "name": name,
                "versions": sorted(
                    {str(s.current.version) for s in service.slots if s.current.name == name}
                ),
                "platform": f"shipyard-{slot.current.model.record.flavor}",
                "inputs": v2.tensor_metadata(signature.get("inputs", [])),
                "outputs": v2.tensor_metadata(signature.get("outputs", [])),
            }
        )

    @e.app.get("/v2/models/{name}/ready")
    @e.app.get("/v2/models/{name}/versions/{version}/ready")
    def v2_model_ready(name: str, version: str | None = None) -> Response:
        v2_slot(name, version)
        return json_response({"name": name, "ready": True})

    @e.app.get("/v2")
    def v2_server() -> Response:
        from shipyard import __version__

        return json_response({"name": "shipyard", "version": __version__, "extensions": []})


def _operations_routes(app: FastAPI, service: PredictionService) -> None:
    @app.get("/v2/health/live")
    @app.get("/v2/health/ready")
    @app.get("/health")
    @app.get("/ping")
    def health() -> Response:
        """The process is up."""
        return json_response({"status": "ok"})

    @app.get("/ready")
    def ready() -> Response:
        """Every variant has a model loaded (they are loaded before the server listens)."""
        return json_response({"ready": True, **_info(service)})

    @app.get("/")
    def info() -> Response:
        """What is served: variants, model versions, signatures, feature services."""
        return json_response(_info(service))

    @app.get("/version")
    def version() -> Response:
        from shipyard import __version__

        return Response(__version__, media_type="text/plain")

    @app.get("/metrics")
    def prometheus() -> Response:
        """Prometheus metrics: requests, latency and errors by model version and variant."""
        data, content_type = service.metrics.render()
        return Response(data, media_type=content_type)


def _native_body(result: Prediction, n: int) -> dict[str, Any]:
    first = result.first
    body: dict[str, Any] = {
        "predictions": result.outputs,
        "prediction_ids": result.ids,
        "model": first.model.name,
        "version": first.model.version,
        "variant": first.slot.name,
    }
    per_row = result.variants(n)
    if per_row is not None:
        body["variants"] = per_row
        body["versions"] = _versions(result, n)
    return body


def _versions(result: Prediction, n: int) -> list[int]:
    versions = [0] * n
    for part in result.served:
        for i in part.rows or range(n):
            versions[i] = part.model.version
    return versions


def _info(service: PredictionService) -> dict[str, Any]:
    def describe(slot: Any) -> dict[str, Any]:
        model = slot.current
        return {
            "variant": slot.name,
            "model": model.name,
            "version": model.version,
            "follows": slot.ref.uri,
            "weight": slot.variant.weight,
            "signature": model.model.signature,
            "feature_service": model.feature_service,
        }

    return {
        "variants": [describe(s) for s in service.slots],
        "shadows": [describe(s) for s in service.shadows],
        "sticky_key": service.deployment.sticky_key,
        "logging": service.logger is not None,
    }


def _csv_columns(body: bytes) -> tuple[dict[str, list[Any]], int]:
    import io

    import pandas as pd

    try:
        frame = pd.read_csv(io.BytesIO(body))
    except (ValueError, pd.errors.ParserError) as exc:
        raise InvalidInput(f"the CSV body does not parse: {exc}") from exc
    if frame.empty:
        raise InvalidInput("the CSV body has no rows")
    frame = frame.astype(object).where(frame.notna(), None)
    return {str(c): frame[c].tolist() for c in frame.columns}, len(frame)


def _json_errors(app: FastAPI) -> None:
    """Every error in one JSON shape, never an HTML page or a bare 500."""

    @app.exception_handler(ShipyardError)
    async def shipyard_error(_: Request, exc: ShipyardError) -> Response:
        return error_response(exc)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> Response:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        return json_response({"error": {"code": code, "message": str(exc.detail)}}, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        field = ".".join(str(p) for p in first.get("loc", ()))
        body = {
            "error": {
                "code": "INVALID_INPUT",
                "message": f"{field}: {first.get('msg')}",
                "field": field,
            }
        }
        return json_response(body, 422)
