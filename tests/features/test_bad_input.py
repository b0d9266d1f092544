"""Bad definitions and bad data: a clear error naming the view, the column and the fix,
and nothing applied."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from shipyard.errors import InvalidArgument, InvalidFeature
from shipyard.features import (
    DataFrameSource,
    Entity,
    FeatureService,
    FeatureStore,
    FeatureView,
    Field,
    FileSource,
    Float64,
    Int64,
    OnDemandFeatureView,
    PushSource,
    RequestSource,
    SqlSource,
    load_repo,
)

from .conftest import BASE

customer = Entity("customer", join_keys=["customer_id"])


def _view(df: pd.DataFrame, **kwargs: object) -> FeatureView:
    return FeatureView(
        "stats",
        source=DataFrameSource(name="stats_source", df=df, **kwargs),  # type: ignore[arg-type]
        entities=[customer],
        schema=[Field("spend", Float64)],
        ttl=timedelta(days=1),
    )


def _frame(**overrides: object) -> pd.DataFrame:
    data: dict[str, object] = {
        "customer_id": [1, 2],
        "event_timestamp": [BASE, BASE],
        "spend": [1.0, 2.0],
    }
    data.update(overrides)
    return pd.DataFrame(data)


def _nothing_applied(fs: FeatureStore) -> None:
    assert fs.meta.latest_feature_objects(fs.project) == []


def test_missing_timestamp_column_names_view_and_columns(fs: FeatureStore) -> None:
    df = _frame().rename(columns={"event_timestamp": "when"})
    with pytest.raises(
        InvalidFeature, match=r"'stats' has no timestamp column 'event_timestamp'.*when"
    ):
        fs.apply([_view(df)])
    _nothing_applied(fs)


def test_naive_timestamps_are_refused_with_the_fix(fs: FeatureStore) -> None:
    df = _frame(event_timestamp=[pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02")])
    with pytest.raises(
        InvalidFeature, match=r"'event_timestamp' holds naive timestamps.*tz_localize"
    ):
        fs.apply([_view(df)])
    _nothing_applied(fs)


def test_dtype_mismatch_names_field_declared_and_found(fs: FeatureStore) -> None:
    df = _frame(spend=["1.0", "2.0"])
    with pytest.raises(
        InvalidFeature, match=r"'spend' is declared float64 but the data has VARCHAR"
    ):
        fs.apply([_view(df)])
    _nothing_applied(fs)


def test_missing_feature_column(fs: FeatureStore) -> None:
    df = _frame().drop(columns=["spend"])
    with pytest.raises(InvalidFeature, match=r"feature 'spend' is not a column of its source"):
        fs.apply([_view(df)])


def test_one_bad_view_applies_nothing_of_the_batch(fs: FeatureStore) -> None:
    good = _view(_frame())
    bad = FeatureView(
        "other",
        source=DataFrameSource(name="other_source", df=_frame(spend=["x", "y"])),
        entities=[customer],
        schema=[Field("spend", Float64)],
    )
    with pytest.raises(InvalidFeature, match="'other'"):
        fs.apply([good, bad])
    _nothing_applied(fs)


def test_unknown_feature_reference(fs: FeatureStore) -> None:
    fs.apply([_view(_frame())])
    entity_df = pd.DataFrame({"customer_id": [1], "event_timestamp": [BASE]})
    with pytest.raises(InvalidFeature, match=r"no feature 'spent'.*spend"):
        fs.get_training_set(entity_df, ["stats:spent"])
    with pytest.raises(InvalidFeature, match=r"no feature view 'nope'.*stats"):
        fs.get_training_set(entity_df, ["nope:spend"])
    with pytest.raises(InvalidFeature, match="must look like 'view:feature'"):
        fs.get_training_set(entity_df, ["stats.spend"])


def test_entity_df_without_join_key(fs: FeatureStore) -> None:
    fs.apply([_view(_frame())])
    entity_df = pd.DataFrame({"user": [1], "event_timestamp": [BASE]})
    with pytest.raises(
        InvalidFeature, match=r"no column 'customer_id', the join key of feature view 'stats'"
    ):
        fs.get_training_set(entity_df, ["stats:spend"])


def test_entity_df_with_naive_or_missing_timestamps(fs: FeatureStore) -> None:
    fs.apply([_view(_frame())])
    naive = pd.DataFrame({"customer_id": [1], "event_timestamp": [pd.Timestamp("2024-01-01")]})
    with pytest.raises(InvalidFeature, match=r"entity dataframe.*naive.*tz_localize"):
        fs.get_training_set(naive, ["stats:spend"])
    none = pd.DataFrame({"customer_id": [1]})
    with pytest.raises(InvalidFeature, match="timestamp_column"):
        fs.get_training_set(none, ["stats:spend"])


def test_entity_key_type_mismatch(fs: FeatureStore) -> None:
    fs.apply([_view(_frame())])
    entity_df = pd.DataFrame({"customer_id": ["1"], "event_timestamp": [BASE]})
    with pytest.raises(InvalidFeature, match=r"'customer_id' is VARCHAR.*int64"):
        fs.get_training_set(entity_df, ["stats:spend"])


def test_definition_errors_at_construction() -> None:
    src = DataFrameSource(name="s", df=_frame())
    with pytest.raises(InvalidFeature, match="not valid"):
        FeatureView("bad name", source=src, entities=[customer], schema=[Field("spend", Float64)])
    with pytest.raises(InvalidFeature, match="no features"):
        FeatureView("v", source=src, entities=[customer], schema=[Field("customer_id", Int64)])
    with pytest.raises(InvalidFeature, match="timestamp column of the source"):
        FeatureView("v", source=src, entities=[customer], schema=[Field("event_timestamp", Int64)])
    with pytest.raises(InvalidFeature, match="ttl must be a positive timedelta"):
        FeatureView("v", source=src, schema=[Field("spend", Float64)], ttl=timedelta(0))
    with pytest.raises(InvalidFeature, match="unknown dtype 'float128'"):
        Field("x", "float128")
    with pytest.raises(InvalidFeature, match="join keys must be one of"):
        Entity("e", join_keys=["k"], value_type="float64")


def test_missing_file_names_the_path(fs: FeatureStore, tmp_path: Path) -> None:
    view = FeatureView(
        "stats",
        source=FileSource(name="missing", path=str(tmp_path / "nope.parquet")),
        entities=[customer],
        schema=[Field("spend", Float64)],
    )
    with pytest.raises(InvalidFeature, match=r"no parquet data at .*nope\.parquet"):
        fs.apply([view])


def test_repo_with_a_broken_file_names_it(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(InvalidFeature, match=r"broken\.py failed to load: RuntimeError: boom"):
        load_repo(tmp_path)


def test_two_definitions_with_one_name(fs: FeatureStore) -> None:
    a = _view(_frame())
    b = FeatureView(
        "stats",
        source=DataFrameSource(name="stats_source", df=_frame()),
        entities=[customer],
        schema=[Field("spend", Float64)],
        ttl=timedelta(days=9),
    )
    with pytest.raises(
        InvalidFeature, match="two different feature view definitions are named 'stats'"
    ):
        fs.plan([a, b])


BAD_NAMES = [".", "..", "-x", "--help", "ok\n", "a.b", "a/b", ""]
RULE = "is not valid: use letters, digits and underscores, not starting with a digit"


def _named(kind: str, name: str) -> object:
    """One definition of ``kind`` called ``name``, otherwise valid."""
    df = _frame()
    view = _view(df)
    builders = {
        "entity": lambda: Entity(name, join_keys=["customer_id"]),
        "entity 'customer' join key": lambda: Entity("customer", join_keys=[name]),
        "source": lambda: FileSource(name=name, path="x.parquet"),
        "sql source": lambda: SqlSource(name=name, query="SELECT 1"),
        "dataframe source": lambda: DataFrameSource(name=name, df=df),
        "push source": lambda: PushSource(
            name=name, batch_source=FileSource(name="b", path="x.parquet")
        ),
        "feature view": lambda: FeatureView(
            name, source=view.source, entities=[customer], schema=[Field("spend", Float64)]
        ),
        "request source": lambda: RequestSource(name, schema=[Field("amount", Float64)]),
        "on-demand feature view": lambda: OnDemandFeatureView(
            name=name, sources=[view], schema=[Field("r", Float64)], udf=lambda d: d
        ),
        "feature service": lambda: FeatureService(name, features=[view]),
    }
    return builders[kind]()


@pytest.mark.parametrize("name", BAD_NAMES)
@pytest.mark.parametrize(
    "kind",
    [
        "entity",
        "entity 'customer' join key",
        "source",
        "sql source",
        "dataframe source",
        "push source",
        "feature view",
        "request source",
        "on-demand feature view",
        "feature service",
    ],
)
def test_names_that_are_not_plain_are_refused_with_the_rule(kind: str, name: str) -> None:
    if kind == "source" and not name:  # a file source without a name is named by its file
        assert FileSource(name=name, path="data/x.parquet").name == "x"
        return
    with pytest.raises(InvalidFeature) as caught:
        _named(kind, name)
    what = "source" if kind.endswith(" source") and kind != "request source" else kind
    assert str(caught.value) == f"{what} name {name!r} {RULE}"


@pytest.mark.parametrize("kind", ["entity", "feature view", "feature service"])
def test_names_longer_than_the_registry_holds_are_refused(kind: str) -> None:
    assert _named(kind, "n" * 256)
    with pytest.raises(InvalidFeature, match="is 257 characters; the limit is 256"):
        _named(kind, "n" * 257)
    with pytest.raises(InvalidFeature, match="is 257 characters; the limit is 256"):
        Field("f" * 257, Float64)


@pytest.mark.parametrize("name", [".", "..", "-x", " ", "a:b", "a,b", "a\nb", "a\x00b", ""])
def test_feature_names_that_cannot_be_referred_to_are_refused_with_the_rule(name: str) -> None:
    with pytest.raises(InvalidFeature) as caught:
        Field(name, Float64)
    message = str(caught.value)
    assert message.startswith(f"feature name {name!r} is not valid: ")
    assert "must not be empty, '.' or '..', start with '-', or contain ':', ','" in message
    for ok in ("spend", "spend 30d", "Spend.30d", "r\u00e9sum\u00e9"):  # any other column name
        assert Field(ok, Float64).name == ok


def test_dataset_names_are_refused_with_the_rule(fs: FeatureStore) -> None:
    fs.apply([_view(_frame())])
    job = fs.get_training_set(_frame()[["customer_id", "event_timestamp"]], ["stats:spend"])
    for name in (".", "..", "-x", "ok\n"):
        with pytest.raises(InvalidFeature, match=f"^dataset name {re.escape(repr(name))} {RULE}$"):
            job.save_dataset(name)
    assert fs.list_datasets() == []


def test_a_feature_project_name_follows_the_project_rule(shipyard_home) -> None:  # type: ignore[no-untyped-def]
    for bad in (".", "..", "-rf", "a/b"):
        with pytest.raises(InvalidArgument, match="invalid project name"):
            FeatureStore(project=bad)
    assert FeatureStore(project="churn-2.0").project == "churn-2.0"
