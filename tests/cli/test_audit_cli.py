"""`shipyard audit ls`: the audit log, filtered by object, user, action and time; --json."""

from __future__ import annotations

import getpass
import json

import pytest

from shipyard.store.actor import Actor, acting_as
from shipyard.store.base import NewModelVersion
from shipyard.tracking import Client


@pytest.fixture
def history(shipyard_home):
    """A run made locally, and a model version and alias move made by ana from afar."""
    client = Client()
    run = client.create_run("churn", "train")
    client.end_run(run.id)
    with acting_as(Actor("ana", "10.0.0.5", "req-1")):
        client.store.models.create_model_version(
            "churn", NewModelVersion("sklearn", "ab" * 32), "ana", 1
        )
        client.store.models.move_alias("churn", "champion", 1, "ana", 2)
    client.close()
    return run


def test_lists_newest_first_and_filters(cli, history):
    code, out, _ = cli("audit", "ls", "--json")
    assert code == 0
    entries = json.loads(out)
    assert [e["action"] for e in entries] == [
        "model.alias.move", "model.version.create", "model.create", "run.status", "run.create",
        "project.create",
    ]  # fmt: skip
    assert entries[0]["object"] == "model:churn@champion"
    assert entries[0]["summary"] == {
        "before": {"version": None},
        "after": {"version": 1},
        "gates": 0,
    }
    assert entries[0]["time"].endswith("+00:00")
    assert (entries[0]["actor"], entries[0]["source"], entries[0]["request_id"]) == (
        "ana", "10.0.0.5", "req-1",
    )  # fmt: skip

    def objects(*args: str) -> list[str]:
        code, out, _ = cli("audit", "ls", "--json", *args)
        assert code == 0
        return [e["object"] for e in json.loads(out)]

    assert objects("--object", "model:churn*") == [
        "model:churn@champion", "model:churn/1", "model:churn",
    ]  # fmt: skip
    assert objects("--object", "model:churn") == ["model:churn"]
    assert objects("--user", "ana", "--limit", "1") == ["model:churn@champion"]
    assert objects("--user", f"local:{getpass.getuser()}", "--action", "run.*") == [
        f"run:{history.id}", f"run:{history.id}",
    ]  # fmt: skip
    assert len(objects("--since", "1h")) == 6
    assert objects("--since", "2999-01-01") == []
    assert len(objects("--until", "2999-01-01T00:00:00Z")) == 6


def test_the_table_shows_who_did_what(cli, history):
    code, out, _ = cli("audit", "ls", "--object", "model:churn*")
    assert code == 0
    assert "3 audit entries" in out
    assert "model.alias.move" in out and "model:churn@champion" in out and "10.0.0.5" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "yesterday"), "--since 'yesterday' is neither a duration"),
        (("--since", "2026-12-01T08:00"), "has no UTC offset"),
        (("--limit", "0"), "--limit"),
    ],
)
def test_bad_options_are_one_line(cli, shipyard_home, args, message):
    code, out, err = cli("audit", "ls", *args)
    assert code != 0 and message in out + err and "Traceback" not in out + err
