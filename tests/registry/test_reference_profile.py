"""A version registered with its training rows carries their profile: inputs, the model's
own predictions and the labels, stored as a small blob the store keeps (gc, doctor)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from shipyard.errors import InvalidArgument
from shipyard.features import DataFrameSource, Entity, FeatureView, Field
from shipyard.registry import ModelRegistry
from shipyard.store.gc import collect


def _training(rows: int = 500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"age": rng.normal(40, 10, rows), "spend": rng.gamma(2, 50, rows)})
    frame["churned"] = (frame["spend"] < 80).astype(int)
    return frame


def test_registering_with_reference_rows_stores_their_profile(shipyard_client) -> None:  # type: ignore[no-untyped-def]
    rows = _training()
    model = LogisticRegression().fit(rows[["age", "spend"]], rows["churned"])
    registry = ModelRegistry(shipyard_client)
    version = registry.register_model(
        "churn", model, input_example=rows[["age", "spend"]].head(3), reference=rows,
        label="churned",
    )  # fmt: skip
    assert version.profile_hash is not None
    profile = registry.reference_profile("churn/1")
    assert profile.rows == len(rows)
    assert set(profile.columns) == {"age", "spend", "prediction", "label"}
    # its blob is in use: gc keeps it
    report = collect(shipyard_client.store, shipyard_client.blobs, dry_run=True, min_age_s=0)
    assert version.profile_hash not in report.blobs


def test_a_version_without_reference_has_no_profile(shipyard_client) -> None:  # type: ignore[no-untyped-def]
    rows = _training()
    model = LogisticRegression().fit(rows[["age", "spend"]], rows["churned"])
    registry = ModelRegistry(shipyard_client)
    registry.register_model("churn", model)
    assert registry.reference_profile("churn/1") is None


def test_the_training_dataset_is_profiled_when_no_reference_is_given(shipyard_client) -> None:  # type: ignore[no-untyped-def]
    from shipyard.features import FeatureStore

    now = datetime(2026, 1, 1, tzinfo=UTC)
    rows = _training(50).assign(customer_id=range(50), ts=now)
    fs = FeatureStore("shop", client=shipyard_client)
    customer = Entity(name="customer", join_keys=["customer_id"])
    view = FeatureView(
        name="stats", entities=[customer], ttl=timedelta(days=1),
        schema=[Field(name="age", dtype="float64"), Field(name="spend", dtype="float64")],
        source=DataFrameSource(name="stats_df", df=rows, timestamp_field="ts"),
    )  # fmt: skip
    fs.apply([customer, view])
    entity_df = pd.DataFrame({"customer_id": range(50), "event_timestamp": now})
    dataset = fs.get_training_set(entity_df, ["stats:age", "stats:spend"]).save_dataset("train")
    frame = dataset.to_df()
    model = LogisticRegression().fit(frame[["age", "spend"]], rows["churned"])
    registry = ModelRegistry(shipyard_client)
    registry.register_model(
        "churn", model, input_example=frame[["age", "spend"]].head(2), dataset=dataset.uri
    )
    profile = registry.reference_profile("churn/1")
    assert profile.rows == 50
    assert {"age", "spend", "prediction"} <= set(profile.columns)
    assert "customer_id" not in profile.columns  # only the model's inputs


def test_bad_reference_input_is_refused_and_nothing_is_registered(shipyard_client) -> None:  # type: ignore[no-untyped-def]
    rows = _training()
    model = LogisticRegression().fit(rows[["age", "spend"]], rows["churned"])
    registry = ModelRegistry(shipyard_client)
    example = rows[["age", "spend"]].head(2)
    with pytest.raises(InvalidArgument, match="label='nope' is not a column"):
        registry.register_model("churn", model, input_example=example, reference=rows, label="nope")
    with pytest.raises(InvalidArgument, match="lack the model's input column"):
        registry.register_model("churn", model, input_example=example, reference=rows[["age"]])
    with pytest.raises(InvalidArgument, match="reference= takes a pandas DataFrame"):
        registry.register_model("churn", model, reference=[[1, 2]])
    with pytest.raises(InvalidArgument, match="not a dataset URI"):
        registry.register_model("churn", model, dataset="dataset:train/1")
    assert registry.list_models() == []
    # data outside Shipyard, or a dataset since purged, is recorded but cannot be profiled
    for ref in ("s3://lake/train.parquet", "dataset:shop/gone/3"):
        version = registry.register_model("churn", model, dataset=ref)
        assert version.dataset == ref and version.profile_hash is None
