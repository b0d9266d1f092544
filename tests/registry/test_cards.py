"""Model cards: lineage, signature and alias history in Markdown and in valid HTML, and
missing pieces shown as missing rather than failing the card."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard
from shipyard.features import (
    DataFrameSource,
    Entity,
    FeatureService,
    FeatureStore,
    FeatureView,
    Field,
    Float64,
)
from shipyard.registry import ModelRegistry, model_card
from shipyard.tracking import Client

VOID = {"meta", "br", "hr", "img", "link", "input"}


class StrictParser(HTMLParser):
    """Fails on a closing tag that does not match the innermost open one."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> StrictParser:
    assert page.startswith("<!DOCTYPE html>")
    parser = StrictParser()
    parser.feed(page)
    parser.close()
    assert parser.open == [], f"unclosed: {parser.open}"
    return parser


@pytest.fixture
def registry(shipyard_client: Client) -> ModelRegistry:
    return ModelRegistry(shipyard_client)


def _training_set(client: Client) -> shipyard.features.Dataset:
    """A real saved dataset: one view over an in-memory frame, behind a feature service."""
    base = pd.Timestamp("2024-01-01", tz="UTC")
    stats = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 1, 2, 3],
            "event_timestamp": [base + timedelta(days=d) for d in (0, 0, 0, 5, 5, 5)],
            "spend": [10.0, 20.0, 30.0, 15.0, 25.0, 35.0],
        }
    )
    customer = Entity("customer", join_keys=["customer_id"])
    view = FeatureView(
        "customer_stats",
        source=DataFrameSource(name="stats_source", df=stats),
        entities=[customer],
        schema=[Field("spend", Float64)],
        ttl=timedelta(days=30),
    )
    fs = FeatureStore("shop", client=client)
    fs.apply([customer, view, FeatureService("churn_features", features=[view])])
    entities = pd.DataFrame(
        {"customer_id": [1, 2, 3], "event_timestamp": [base + timedelta(days=6)] * 3}
    )
    dataset = fs.get_training_set(entities, "churn_features").save_dataset("churn_train")
    fs.close()
    return dataset


def test_the_card_shows_lineage_signature_and_gated_history(registry: ModelRegistry) -> None:
    client = registry.client
    with shipyard.start_run(project="shop", client=client) as run:
        dataset = _training_set(client)
        frame = dataset.to_df()
        X, y = frame[["spend"]], (frame["spend"] > 20).astype(int)
        shipyard.log_param("C", 0.5)
        shipyard.log_metric("auc", 0.91)
        version = registry.register_model(
            "churn",
            LogisticRegression(C=0.5).fit(X, y),
            input_example=X.head(2),
            dataset=dataset,
            feature_service="shop/churn_features",
            owner="ana",
            description="Who will leave <soon> & why <script>alert(1)</script>",
            tags={"team": "growth"},
        )
    registry.promote("churn", version.version, "production", ["metrics.auc > 0.8"])
    card = model_card(registry, "churn", version.version)
    md = card.markdown
    view = dataset.lineage["feature_views"]["customer_stats"]
    for expected in (
        "# Model card: churn version 1",
        "| aliases | production |",
        "| owner | ana |",
        "| status | READY |",
        "team=growth",
        "Who will leave <soon> & why",
        f"| run | {run.id} |",
        "| C | 0.5 |",
        "| auc | 0.91 |",
        f"| dataset | {dataset.uri} |",
        f"| customer_stats | {view['version']} | spend | stats_source | "
        f"{view['source_fingerprint']} |",
        "Feature service: shop/churn_features.",
        "| spend | double |",
        "| prediction | long |",
        "- scikit-learn==",
        "| production | unset | v1 |",
        "metrics.auc > 0.8: passed (0.91 > 0.8)",
    ):
        assert expected in md, expected
    parsed = _parse(card.html)
    text = "".join(parsed.text)
    assert "script" not in parsed.tags and "soon" not in parsed.tags  # user text is escaped
    assert "Who will leave <soon> & why <script>alert(1)</script>" in text
    assert run.id in text and view["source_fingerprint"] in text
    assert "metrics.auc > 0.8: passed (0.91 > 0.8)" in text
    assert parsed.tags.count("table") >= 6 and "style" in parsed.tags


def test_a_flow_task_that_produced_the_model_is_named_by_its_pathspec(
    registry: ModelRegistry,
) -> None:
    client = registry.client
    flow_run = client.create_run("shop", "TrainFlow", kind="flow", capture_code=False)
    client.store.flows.create_flow_run(flow_run.id, "TrainFlow", "{}")
    task = client.create_run(
        "shop", "train", parent_id=flow_run.id, kind="task", capture_code=False,
        tags={"step": "train", "attempt": 0},
    )  # fmt: skip
    X, y = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]}), [0, 0, 1, 1]
    version = registry.register_model("churn", LogisticRegression().fit(X, y), run_id=task.id)
    number = client.store.flows.flow_run_of(flow_run.id).number
    assert f"| flow | TrainFlow/{number}/train/{task.id} |" in (
        model_card(registry, "churn", version.version).markdown
    )


def test_missing_pieces_are_shown_as_missing(registry: ModelRegistry) -> None:
    X, y = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]}), [0, 0, 1, 1]
    model = LogisticRegression().fit(X, y)
    bare = registry.register_model("churn", model, dataset="dataset:shop/gone/3")
    md = model_card(registry, "churn", bare.version).markdown
    assert "No run recorded" in md
    assert "Dataset dataset:shop/gone/3 no longer exists." in md
    assert "No signature" in md and "No metrics recorded." in md
    assert "No alias has pointed" in md
    outside = registry.register_model("churn", model, dataset="s3://lake/train.parquet")
    assert "s3://lake/train.parquet (not a saved Shipyard dataset" in (
        model_card(registry, "churn", outside.version).markdown
    )


def test_a_deleted_run_is_marked_and_a_purged_one_is_gone(registry: ModelRegistry) -> None:
    client = registry.client
    X, y = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]}), [0, 0, 1, 1]
    with shipyard.start_run(project="shop", client=client) as run:
        registry.register_model("churn", LogisticRegression().fit(X, y))
    client.delete_run(run.id)
    assert "| status | FINISHED (deleted) |" in model_card(registry, "churn", 1).markdown
    client.store.purge_deleted_runs()
    card = model_card(registry, "churn", 1)
    assert "No run recorded" in card.markdown
    _parse(card.html)
