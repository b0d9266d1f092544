"""Task artifacts: stored after a step, deduplicated, loaded lazily; join inputs and merging."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from shipyard.errors import InvalidFlow
from shipyard.flows import FlowSpec, step
from shipyard.flows.artifacts import ArtifactStore, Inputs, TaskView
from shipyard.store.blobs import BlobStore


class TrainFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


@pytest.fixture
def store(tmp_path):
    return ArtifactStore(BlobStore(tmp_path / "blobs"))


def run_task(store, inherited=None, assign=None, read=()):
    """Bind a flow instance like the runtime does, run 'step code', collect artifacts."""
    flow = TrainFlow(use_cli=False)
    flow._bind(inherited or {}, store)
    seen = {name: getattr(flow, name) for name in read}
    for name, value in (assign or {}).items():
        setattr(flow, name, value)
    return flow._artifacts("TrainFlow/1/start/1"), seen


def test_assigned_attributes_become_artifacts_and_identical_values_are_stored_once(store):
    weights = np.arange(1_000_000, dtype="float64")
    first, _ = run_task(store, assign={"weights": weights, "alpha": 0.1})
    second, _ = run_task(store, assign={"weights": weights.copy()})
    assert first["weights"].blob_hash == second["weights"].blob_hash
    assert first["weights"].serializer == "numpy"
    blobs = [b.hash for b in store.blobs.iter_blobs()]
    assert blobs.count(first["weights"].blob_hash) == 1


def test_children_inherit_by_reference_and_load_only_what_they_read(store):
    parent, _ = run_task(store, assign={"big": np.zeros(10_000), "label": "x"})
    store.loads = 0
    child, seen = run_task(store, inherited=parent, read=["label"], assign={"extra": 1})
    assert seen == {"label": "x"}
    assert store.loads == 1  # 'big' was never loaded
    assert child["big"] == parent["big"]  # carried forward untouched
    assert set(child) == {"big", "label", "extra"}


def test_a_loaded_artifact_mutated_in_place_is_stored_again(store):
    parent, _ = run_task(store, assign={"items": [1, 2]})
    flow = TrainFlow(use_cli=False)
    flow._bind(parent, store)
    flow.items.append(3)
    after = flow._artifacts("TrainFlow/1/a/2")
    assert after["items"].blob_hash != parent["items"].blob_hash
    assert store.load(after["items"]) == [1, 2, 3]


def test_unknown_and_reserved_names_are_explained(store):
    flow = TrainFlow(use_cli=False)
    flow._bind({}, store)
    with pytest.raises(AttributeError, match="no artifact or attribute 'missing'"):
        flow.missing  # noqa: B018
    for reserved in ("next", "input", "start"):
        with pytest.raises(InvalidFlow, match="reserved"):
            setattr(flow, reserved, 1)
    with pytest.raises(InvalidFlow, match="only in the steps of a foreach"):
        flow.input  # noqa: B018


def test_foreach_tasks_see_their_item_and_index(store):
    flow = TrainFlow(use_cli=False)
    flow._bind({}, store, item="b", index=1)
    assert (flow.input, flow.index) == ("b", 1)


def test_an_artifact_that_cannot_be_stored_names_itself(store):
    with pytest.raises(InvalidFlow, match=r"TrainFlow/1/start/1: artifact self.lock cannot"):
        run_task(store, assign={"lock": threading.Lock()})


def _branches(store, **branch_values):
    views = []
    for i, (step_name, values) in enumerate(branch_values.items()):
        refs, _ = run_task(store, assign=values)
        views.append(TaskView(step_name, str(i), refs, store))
    return Inputs(views)


def test_join_inputs_by_position_and_by_branch_name(store):
    inputs = _branches(store, a={"x": 1, "shared": "s"}, b={"x": 2, "shared": "s"})
    assert len(inputs) == 2 and [i.x for i in inputs] == [1, 2]
    assert inputs.a.x == 1 and inputs.b.x == 2 and inputs[1].x == 2
    with pytest.raises(AttributeError, match="no branch named 'c'"):
        inputs.c  # noqa: B018
    with pytest.raises(InvalidFlow, match="read-only"):
        inputs.a.x = 5


def test_merge_artifacts_takes_agreeing_values_without_loading_them(store):
    inputs = _branches(
        store, a={"data": np.ones(1000), "x": 1, "only_a": "a"}, b={"data": np.ones(1000), "x": 2}
    )
    flow = TrainFlow(use_cli=False)
    flow._bind({}, store)
    store.loads = 0
    with pytest.raises(InvalidFlow, match=r"differ between branches: 'x' \(a/0, b/1\)"):
        flow.merge_artifacts(inputs)
    flow.x = max(i.x for i in inputs)  # resolved in the join: no longer a conflict
    flow.merge_artifacts(inputs)
    assert store.loads == 2  # only the two x values the join read; merging loaded nothing
    refs = flow._artifacts("TrainFlow/1/join/3")
    assert set(refs) == {"data", "x", "only_a"}
    assert store.load(refs["x"]) == 2 and store.load(refs["only_a"]) == "a"


def test_merge_artifacts_exclude_and_include(store):
    inputs = _branches(store, a={"x": 1, "y": "same"}, b={"x": 2, "y": "same"})
    flow = TrainFlow(use_cli=False)
    flow._bind({}, store)
    flow.merge_artifacts(inputs, exclude=["x"])
    assert set(flow._inherited) == {"y"}
    with pytest.raises(InvalidFlow, match="no branch has z"):
        flow.merge_artifacts(inputs, include=["z"])
    with pytest.raises(InvalidFlow, match="not both"):
        flow.merge_artifacts(inputs, include=["y"], exclude=["x"])
