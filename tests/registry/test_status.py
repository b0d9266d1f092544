"""`models ls` answers "is it stale?": idle past model_stale_after (no version, no
prediction) or its owner marked gone."""

from __future__ import annotations

import pytest
from sklearn.dummy import DummyClassifier

from shipyard._clock import FakeClock, to_millis
from shipyard.registry import ModelRegistry, mark_owner_gone, model_statuses
from shipyard.store.base import PredictionCall
from shipyard.tracking import Client
from tests.cli.conftest import cli  # noqa: F401

DAY = 86_400


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(shipyard_home, clock):
    client = Client(clock=clock)
    yield client
    client.close()


def register(client: Client, name: str, owner: str = "ana") -> None:
    model = DummyClassifier().fit([[0], [1]], [0, 1])
    ModelRegistry(client).register_model(name, model, owner=owner)


def status(client, name, **kw):
    return next(s for s in model_statuses(client, **kw) if s.model.name == name)


def predicted(client: Client, name: str, at_ms: int) -> None:
    client.store.predictions.append(
        [
            PredictionCall(
                f"{at_ms:012x}" + "0" * 14, name, 1, "main", False, at_ms, 1.0, 1, {"x": [0]}, [1]
            )
        ]
    )


def test_idle_models_turn_stale_and_predictions_keep_them_fresh(client, clock):
    register(client, "churn")
    register(client, "fraud")
    assert not status(client, "churn").stale and status(client, "churn").last_prediction_ms is None
    clock.advance(29 * DAY)
    predicted(client, "fraud", to_millis(clock.now()))
    clock.advance(2 * DAY)
    churn, fraud = status(client, "churn"), status(client, "fraud")
    assert churn.stale_reason == "no new version or prediction for 31 days"
    assert not fraud.stale and fraud.last_prediction_ms == to_millis(clock.now()) - 2 * DAY * 1000
    assert status(client, "fraud", stale_after_days=1).stale  # the threshold is configurable
    register(client, "churn")  # a new version makes it fresh again
    assert not status(client, "churn").stale


def test_a_gone_owner_makes_every_model_of_theirs_stale(client):
    register(client, "churn", owner="ana")
    register(client, "fraud", owner="bob")
    mark_owner_gone(client, "ana")
    assert status(client, "churn").stale_reason == "owner ana is gone"
    assert not status(client, "fraud").stale
    mark_owner_gone(client, "ana", gone=False)
    assert not status(client, "churn").stale


def test_ls_owners_and_set_owner_from_the_cli(cli, shipyard_client):  # noqa: F811
    register(shipyard_client, "churn", owner="ana")
    code, stdout, _ = cli("models", "ls")
    assert code == 0 and "churn" in stdout and "never" in stdout
    assert cli("models", "owners", "--gone", "ana")[1] == "ana marked gone\n"
    code, stdout, _ = cli("models", "ls", "--stale")
    assert "owner ana is gone" in stdout
    code, stdout, _ = cli("models", "owners")
    assert "gone (marked by" in stdout
    assert cli("models", "set-owner", "churn", "bob")[1] == "churn is now owned by bob\n"
    code, stdout, _ = cli("models", "ls", "--stale")
    assert "churn" not in stdout
