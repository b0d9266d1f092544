"""The reference a model version is monitored against.

At registration the training rows (``reference=``, or the saved ``dataset=``) are profiled —
the model's inputs, the model's own predictions on them as ``prediction``, and the labels as
``label`` when their column is named — and the profile is stored with the version as a small
JSON blob. The raw rows stay where they are (the dataset's blob); monitoring compares live
traffic with the profile, or with the rows when a test needs them.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from shipyard.errors import InvalidArgument, NotFound
from shipyard.features import FeatureStore
from shipyard.tracking import Client

PREDICTION, LABEL = "prediction", "label"
log = logging.getLogger(__name__)


def reference_frame(client: Client, reference: Any, dataset: Any) -> Any:
    """The reference rows as a DataFrame: ``reference`` itself, else the dataset's rows, else
    None (nothing to profile)."""
    import pandas as pd

    if reference is not None:
        if isinstance(reference, pd.DataFrame):
            return reference
        to_pandas = getattr(reference, "to_pandas", None)  # a pyarrow Table
        if callable(to_pandas):
            return to_pandas()
        raise InvalidArgument(
            f"reference= takes a pandas DataFrame or a pyarrow Table, not "
            f"{type(reference).__name__}"
        )
    if dataset is None:
        return None
    to_df = getattr(dataset, "to_df", None)
    if callable(to_df):
        return to_df()
    return dataset_rows(client, str(dataset))


def dataset_rows(client: Client, uri: str) -> Any:
    """The rows of ``dataset:PROJECT/NAME/VERSION``; None when that dataset is gone or the
    reference is to data outside Shipyard (``s3://...``), which is recorded, not read."""
    if not uri.startswith("dataset:"):
        return None
    parts = uri.removeprefix("dataset:").split("/")
    if len(parts) != 3 or not parts[2].isdigit():
        raise InvalidArgument(f"{uri!r} is not a dataset URI (dataset:PROJECT/NAME/VERSION)")
    project, name, version = parts
    try:
        return FeatureStore(project, client=client).get_dataset(name, int(version)).to_df()
    except NotFound as exc:  # the version still records it; the card shows it missing
        log.warning("no reference profile for the model: %s", exc)
        return None


def profile_bytes(
    model: Any, signature: dict[str, Any], frame: Any, label: str | None
) -> bytes | None:
    """The JSON profile of ``frame``: the model's input columns, its predictions on them,
    and ``label``'s column; None for an empty frame."""
    from shipyard.monitoring import profile

    if len(frame) == 0:
        return None
    if label is not None and label not in frame.columns:
        raise InvalidArgument(
            f"label={label!r} is not a column of the reference rows; columns are: "
            f"{', '.join(map(str, frame.columns))}"
        )
    named = [c["name"] for c in signature.get("inputs", [])]
    inputs = [c for c in named if c in frame.columns] or [c for c in frame.columns if c != label]
    missing = sorted(set(named) - set(inputs))
    if missing:
        raise InvalidArgument(
            f"the reference rows lack the model's input column(s) {', '.join(missing)}"
        )
    features = frame[inputs]
    try:
        predicted = model.predict(features)
    except Exception as exc:
        raise InvalidArgument(
            f"the model failed to predict on its reference rows: {type(exc).__name__}: {exc}"
        ) from exc
    profiled = features.assign(**{PREDICTION: _one_column(predicted, len(features))})
    if label is not None:
        profiled[LABEL] = frame[label].to_numpy()
    return json.dumps(profile(profiled).to_json(), allow_nan=False).encode()


def _one_column(predicted: Any, rows: int) -> Any:
    """A model's output as one column: a frame's or matrix's first column (a classifier's
    label or a regressor's value), a vector as it is."""
    import numpy as np

    values = predicted.to_numpy() if hasattr(predicted, "to_numpy") else np.asarray(predicted)
    if values.ndim == 2:
        values = values[:, 0]
    if len(values) != rows:
        raise InvalidArgument(
            f"the model returned {len(values)} predictions for {rows} reference rows"
        )
    return values
