"""@schedule and @trigger on a FlowSpec, and current.trigger."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shipyard import FlowSpec, current, step
from shipyard.errors import InvalidArgument, InvalidFlow
from shipyard.flows import schedule, trigger
from shipyard.flows.decorators import flow_decorators
from shipyard.flows.decorators.trigger import matches
from shipyard.flows.triggered import ENV, Trigger, TriggerEvent


def _flow(*decorators):
    class Flow(FlowSpec):
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    for d in reversed(decorators):
        Flow = d(Flow)
    return Flow


@pytest.mark.parametrize(
    ("kwargs", "cron"),
    [
        ({}, "0 0 * * *"),  # Metaflow's default: daily
        ({"hourly": True}, "0 * * * *"),
        ({"weekly": True}, "0 0 * * 0"),
        ({"cron": "*/5 * * * *"}, "*/5 * * * *"),
    ],
)
def test_schedule_takes_metaflows_arguments(kwargs, cron):
    found = flow_decorators(_flow(schedule(**kwargs)))["schedule"]
    assert found.cron == cron and found.timezone is None


def test_schedule_bare_and_with_a_timezone():
    assert flow_decorators(_flow(schedule))["schedule"].cron == "0 0 * * *"
    zoned = flow_decorators(_flow(schedule(cron="0 3 * * *", timezone="Europe/Paris")))
    assert zoned["schedule"].timezone == "Europe/Paris"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cron": "61 * * * *"}, "not a valid cron expression"),
        ({"cron": "every day"}, "not a valid cron expression"),
        ({"cron": "0 * * * *", "hourly": True}, "not both"),
        ({"hourly": True, "weekly": True}, "one of"),
        ({"timezone": "Mars/Olympus"}, "not a known time zone"),
        ({"every": 5}, "has no argument every"),
    ],
)
def test_bad_schedules_are_refused_when_the_class_is_decorated(kwargs, message):
    with pytest.raises(InvalidFlow, match=message):
        _flow(schedule(**kwargs))


def test_trigger_normalises_names_filters_and_parameters():
    one = flow_decorators(_flow(trigger(event="alert.fired")))["trigger"]
    assert one.specs == [{"name": "alert.fired", "filters": {}, "parameters": {}}]
    many = flow_decorators(_flow(trigger(events=["model.registered", "dataset.saved"])))
    assert [s["name"] for s in many["trigger"].specs] == ["model.registered", "dataset.saved"]
    rich = trigger(
        event={"name": "alert.fired", "filters": {"model": "churn"}, "parameters": ["alert_id"]}
    )
    spec = flow_decorators(_flow(rich))["trigger"].specs[0]
    assert spec["parameters"] == {"alert_id": "alert_id"}
    assert matches(spec, "alert.fired", {"model": "churn", "alert_id": 3})
    assert not matches(spec, "alert.fired", {"model": "fraud"})
    assert not matches(spec, "alert.resolved", {"model": "churn"})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "one of them"),
        ({"event": "a", "events": ["b"]}, "one of them"),
        ({"events": []}, "non-empty list"),
        ({"event": "has space"}, "not an event name"),
        ({"event": {"name": "a", "when": 1}}, "no key 'when'"),
        ({"event": {"name": "a", "filters": ["model"]}}, "filters"),
    ],
)
def test_bad_triggers_are_refused(kwargs, message):
    with pytest.raises(InvalidFlow, match=message):
        _flow(trigger(**kwargs))


def test_flow_decorators_go_on_flow_classes_once_and_are_inherited():
    with pytest.raises(InvalidFlow, match="goes on a FlowSpec class"):
        schedule(hourly=True)(object)
    with pytest.raises(InvalidFlow, match="given twice"):
        _flow(schedule(hourly=True), schedule(daily=True))
    parent = _flow(schedule(hourly=True))

    @trigger(event="dataset.saved")
    class Child(parent):  # type: ignore[valid-type,misc]
        pass

    assert sorted(flow_decorators(Child)) == ["schedule", "trigger"]
    assert sorted(flow_decorators(parent)) == ["schedule"]


def test_current_trigger_reads_the_environment(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert current.trigger is None
    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    sent = Trigger("event", "nightly", 9, (TriggerEvent("alert.fired", 4, {"alert_id": 2}, stamp),))
    monkeypatch.setenv(ENV, sent.to_json())
    got = current.trigger
    assert got == sent and got.event.name == "alert.fired" and got.event.timestamp == stamp
    assert got.tags()["shipyard.trigger.alert_id"] == "2"
    monkeypatch.setenv(ENV, "{not json")
    with pytest.raises(InvalidArgument, match="SHIPYARD_TRIGGER"):
        _ = current.trigger
