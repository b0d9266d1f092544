"""The prediction server: a FastAPI app over one PredictionService.

Endpoints: native ``POST /predict``; MLflow's ``POST /invocations`` (+ ``/ping``,
``/version``); the Open Inference Protocol v2 under ``/v2``; ``/health``, ``/ready``,
``/metrics`` (Prometheus) and ``GET /`` (what is served). Hot endpoints parse the body
with orjson themselves: faster than a pydantic model, and every error names its field.
Errors are JSON ``{"error": {"code", "message"[, "field"]}}`` with a 4xx status.
"""

from __future__ import annotations

import gc
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from shipyard.errors import InvalidArgument, InvalidInput, NotFound, ShipyardError
from shipyard.serving import payloads
from shipyard.serving.protocols import v2
from shipyard.serving.service import Prediction, PredictionService

log = logging.getLogger("shipyard.serving")
DEFAULT_MAX_BODY = 16 * 1024 * 1024
CLIENT_CLOSED = 499  # nginx's "client closed request": the client hung up, not our failure
_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body, option=_OPTIONS), status, media_type="application/json")


def error_response(exc: ShipyardError) -> Response:
    status = exc.http_status if exc.http_status < 500 or exc.code == "STORE_UNAVAILABLE" else 500
    return json_response(exc.to_json(), status)


class PayloadTooLarge(InvalidArgument):
    code = "PAYLOAD_TOO_LARGE"
    http_status = 413


def create_app(service: PredictionService, *, max_body_bytes: int = DEFAULT_MAX_BODY) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # the libraries and models loaded so far live as long as the server: keep the
        # garbage collector from walking them again and again (full-collection pauses)
        gc.collect()
        gc.freeze()
        service.start()
        try:
            yield
        finally:
            service.close()
            gc.unfreeze()

    app = FastAPI(
        title=f"Shipyard: {service.deployment.model_name}",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.service = service
    endpoints = _Endpoints(app, service, max_body_bytes)
    _native_routes(endpoints)
    _mlflow_routes(endpoints)
    _v2_routes(endpoints)
    _operations_routes(app, service)
    _json_errors(app)
    return app


class _Endpoints:
    """What the prediction endpoints share: the body reader and the request metrics."""

    def __init__(self, app: FastAPI, service: PredictionService, max_body_bytes: int) -> None:
        self.app, self.service, self.max_body_bytes = app, service, max_body_bytes
        self.metrics = service.metrics

    async def body(self, request: Request) -> bytes:
        """The body, refused (413) past the limit, checked while it streams in."""
        limit = self.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(_too_large(int(declared), limit))
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise PayloadTooLarge(_too_large(len(body), limit))
        return bytes(body)

    async def json(self, request: Request) -> Any:
        return payloads.parse_json(await self.body(request))

    def post(self, path: str, endpoint: str, handler: Callable[..., Any]) -> None:
        """Route POST ``path`` to ``handler``, counting and timing every request, errors
        included."""
        latency = self.metrics.request_latency.labels(endpoint)
        requests = self.metrics.requests

        async def wrapper(request: Request, **kw: Any) -> Response:
            started = time.perf_counter()
            try:
                response: Response = await handler(request, **kw)
            except ClientDisconnect:
                # the client's doing: counted under its own status, no latency (it measures
                # the client), logged at info; nobody is left to read the answer
                _client_closed(request, endpoint)
                requests.labels(endpoint, str(CLIENT_CLOSED)).inc()
                return Response(status_code=CLIENT_CLOSED)
            except ShipyardError as exc:
                response = error_response(exc)
                self.service.log_unrouted_failure(exc, started)
            except Exception as exc:  # a bug: answer in JSON, keep serving
                log.exception("%s failed", endpoint)
                response = json_response(
                    {"error": {"code": "INTERNAL_ERROR", "message": "internal server error"}},
                    500,
                )
                self.service.log_unrouted_failure(exc, started)
            latency.observe(time.perf_counter() - started)
            requests.labels(endpoint, str(response.status_code)).inc()
            return response

        wrapper.__name__ = handler.__name__
        wrapper.__doc__ = handler.__doc__
        wrapper.__signature__ = inspect.signature(handler)  # type: ignore[attr-defined]
        self.app.add_api_route(path, wrapper, methods=["POST"])


def _client_closed(request: Request, endpoint: str) -> None:
    client = f"{request.client.host}:{request.client.port}" if request.client else "a client"
    log.info(
        "%s: %s closed the connection before sending the whole request body (counted as %d)",
        endpoint,
        client,
        CLIENT_CLOSED,
    )


def _native_routes(e: _Endpoints) -> None:
    async def predict(request: Request) -> Response:
        """Predict records ({"records": [...]}), columns ({"columns": {...}}) or one record
        ({"record": {...}}); optional "method" (predict_proba...) and "variant"."""
        payload = await e.json(request)
        columns, n = payloads.native(payload)
        method = payload.get("method", "predict")
        variant = payload.get("variant")
        slot = e.service.slot(str(variant)) if variant is not None else None
        result = e.service.predict(columns, n, method, slot=slot)
        return json_response(_native_body(result, n))

    e.post("/predict", "predict", predict)


def _mlflow_routes(e: _Endpoints) -> None:
    async def invocations(request: Request) -> Response:
        """MLflow scoring protocol: dataframe_split, dataframe_records, inputs, instances
        (JSON) or a CSV body (Content-Type: text/csv)."""
        if request.headers.get("content-type", "").startswith("text/csv"):
            columns, n = _csv_columns(await e.body(request))
        else:
            names = e.service.slots[0].current.schema.names
            columns, n = payloads.mlflow(await e.json(request), names)
        result = e.service.predict(columns, n)
        return json_response({"predictions": result.outputs, "prediction_ids": result.ids})

    e.post("/invocations", "invocations", invocations)


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

    async def v2_infer(request: Request, name: str, version: str | None = None) -> Response:
        """Open Inference Protocol v2 inference."""
        slot = v2_slot(name, version)
        payload = await e.json(request)
        model = (slot or service.slots[0]).current
        columns, n = v2.parse(payload, model.schema.names)
        result = service.predict(columns, n, slot=slot)
        served = result.first.model
        body: dict[str, Any] = {
            "model_name": served.name,
            "model_version": str(served.version),
            "outputs": v2.output_tensors(result.outputs, served.output_names),
            "parameters": {"prediction_ids": result.ids, "variant": result.first.slot.name},
        }
        if isinstance(payload.get("id"), str):
            body["id"] = payload["id"]
        return json_response(body)

    async def v2_infer_version(request: Request, name: str, version: str) -> Response:
        return await v2_infer(request, name, version)

    e.post("/v2/models/{name}/infer", "v2_infer", v2_infer)
    e.post("/v2/models/{name}/versions/{version}/infer", "v2_infer", v2_infer_version)

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


def _too_large(size: int, limit: int) -> str:
    return (
        f"the request body is {size:,} bytes; this server takes at most {limit:,} "
        "(start it with a larger --max-body-mb, or send smaller batches)"
    )


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
