"""A real uvicorn server on a free loopback port, serving models registered in a temporary
store, plus the models and data the serving tests use."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import shipyard
from shipyard.serving import Deployment
from shipyard.serving.app import create_app
from shipyard.serving.background import BackgroundServer, free_port  # noqa: F401
from shipyard.serving.service import PredictionService
from shipyard.tracking import Client
from tests.cli.conftest import cli  # noqa: F401  (the `shipyard` command in-process)


class LiveServer(BackgroundServer):
    """Real HTTP on loopback, with the service inspectable and a client at hand."""

    def __init__(self, service: PredictionService, max_body_bytes: int = 1 << 20) -> None:
        super().__init__(create_app(service, max_body_bytes=max_body_bytes))
        self.service = service
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def __exit__(self, *exc: object) -> None:
        self.http.close()
        super().__exit__(*exc)

    def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        if body is not None:
            return self.http.post(path, json=body, **kw)
        return self.http.post(path, **kw)


@pytest.fixture
def customers() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 300
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "spend": rng.normal(50, 20, n),
            "plan": rng.choice(["basic", "pro", "team"], n),
        }
    )


def labels_for(frame: pd.DataFrame) -> np.ndarray:
    return ((frame["spend"] > 50) ^ (frame["plan"] == "team")).astype(int).to_numpy()


@pytest.fixture
def churn_model(shipyard_client: Client, customers: pd.DataFrame) -> Any:
    """churn v1: a pipeline with a one-hot string column, aliased production."""
    encode = ColumnTransformer(
        [("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"])], remainder="passthrough"
    )
    model = make_pipeline(encode, LogisticRegression(max_iter=500)).fit(
        customers, labels_for(customers)
    )
    version = shipyard.register_model("churn", model, input_example=customers.head(5))
    shipyard.set_model_alias("churn", "production", version.version)
    return model


@pytest.fixture
def numeric_model(shipyard_client: Client, customers: pd.DataFrame) -> Any:
    """score v1: numeric inputs only (the server's matrix fast path), aliased production."""
    X = customers[["age", "spend"]]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, labels_for(customers))
    version = shipyard.register_model("score", model, input_example=X.head(5))
    shipyard.set_model_alias("score", "production", version.version)
    return model


@pytest.fixture
def serve(shipyard_client: Client) -> Iterator[Callable[..., LiveServer]]:
    """serve("churn@production", split=..., log_predictions=..., max_body_bytes=...)."""
    started: list[LiveServer] = []

    def start(
        model: str | None = None,
        *,
        deployment: Deployment | None = None,
        max_body_bytes: int = 1 << 20,
        **kw: Any,
    ) -> LiveServer:
        flags = {k: kw.pop(k) for k in ("split", "shadow", "sticky_key") if k in kw}
        spec = deployment or Deployment.from_flags(str(model), **flags)
        service = PredictionService(spec, client=shipyard_client, **kw)
        server = LiveServer(service, max_body_bytes).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__()


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]
