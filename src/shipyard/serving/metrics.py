"""Prometheus metrics of a prediction server: requests, latency and errors by model
version and variant. With several workers, prometheus-client's multiprocess mode
(PROMETHEUS_MULTIPROC_DIR, set by `shipyard serve`) sums them across processes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.5,
    1.0,
    2.0,
    5.0,
)
VARIANT = ("model", "version", "variant")


@dataclass(frozen=True)
class VariantMetrics:
    latency: Any  # the labelled children of ServerMetrics.prediction_latency, .predictions
    predictions: Any


class ServerMetrics:
    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self._variants: dict[tuple[str, str, str], VariantMetrics] = {}
        # in multiprocess mode values live in files and are collected from there, so the
        # metrics join no registry; otherwise one registry per app keeps apps apart
        self.registry = None if self.multiprocess else CollectorRegistry()
        reg = self.registry
        self.requests = Counter(
            "shipyard_requests",
            "HTTP requests by endpoint and status",
            ["endpoint", "status"],
            registry=reg,
        )
        self.request_latency = Histogram(
            "shipyard_request_latency_seconds",
            "request latency by endpoint",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.predictions = Counter(
            "shipyard_predictions",
            "rows predicted by model version and variant",
            VARIANT,
            registry=reg,
        )
        self.prediction_latency = Histogram(
            "shipyard_prediction_latency_seconds",
            "time to predict one request (feature lookup included) by model version and variant",
            VARIANT,
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.errors = Counter(
            "shipyard_prediction_errors",
            "failed predictions by model version, variant and code",
            [*VARIANT, "code"],
            registry=reg,
        )
        self.shadow_dropped = Counter(
            "shipyard_shadow_dropped",
            "shadow requests dropped because shadows fell behind",
            ["variant"],
            registry=reg,
        )
        self.log_dropped = Counter(
            "shipyard_prediction_log_dropped",
            "predictions not logged (log buffer full)",
            registry=reg,
        )
        self.serving_version = Gauge(
            "shipyard_serving_version",
            "model version each variant serves",
            ["variant", "model"],
            multiprocess_mode="max",
            registry=reg,
        )

    def variant(self, model: str, version: int, variant: str) -> VariantMetrics:
        """The metrics of one model version behind one variant, labelled once."""
        key = (model, str(version), variant)
        found = self._variants.get(key)
        if found is None:
            found = self._variants[key] = VariantMetrics(
                self.prediction_latency.labels(*key), self.predictions.labels(*key)
            )
        return found

    def render(self) -> tuple[bytes, str]:
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        assert self.registry is not None
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
