"""The scheduler: deploy, cron with catch-up, events with filters, failures recorded, and
two real `shipyard scheduler --once` processes on one store never starting a run twice."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shipyard._clock import FakeClock, to_millis
from shipyard.errors import InvalidFlow, NotFound
from shipyard.flows.deploy import deploy, undeploy
from shipyard.flows.scheduler import Scheduler, latest_due
from shipyard.tracking import Client

FLOW = """
from shipyard import FlowSpec, Parameter, current, step
from shipyard.flows import schedule, trigger


{decorators}
class {name}(FlowSpec):
    alert = Parameter("alert", default="none")

    @step
    def start(self):
        t = current.trigger
        self.kind = None if t is None else t.type
        self.event_id = None if t is None or t.event is None else t.event.id
        {body}
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    {name}()
"""


def write_flow(folder: Path, name: str, decorators: str, body: str = "pass") -> Path:
    path = folder / f"{name.lower()}.py"
    path.write_text(textwrap.dedent(FLOW.format(name=name, decorators=decorators, body=body)))
    return path


@pytest.fixture
def clients(client, tmp_path):
    """(a client whose clock stands two hours ago, the test's client)"""
    past = FakeClock(datetime.now(UTC) - timedelta(hours=2))
    back = Client(client.settings.uri, client.settings.artifact_uri, clock=past)
    yield back, client
    back.close()


def test_latest_due_is_at_or_before_now_in_the_timezone():
    now = datetime(2026, 3, 10, 12, 30, 15, tzinfo=UTC)
    assert latest_due("0 * * * *", None, now) == datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert latest_due("30 12 * * *", None, now.replace(second=0)) == now.replace(second=0)
    paris = latest_due("0 9 * * *", "Europe/Paris", now)  # 09:00 Paris is 08:00 UTC in March
    assert paris.astimezone(UTC) == datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


def test_deploy_refuses_flows_it_could_not_run(client, tmp_path):
    assert client.store.events.list_deployments() == []
    plain = write_flow(tmp_path, "PlainFlow", "")
    with pytest.raises(InvalidFlow, match="neither @schedule nor @trigger"):
        deploy(plain, client=client)
    with pytest.raises(NotFound, match="does not exist"):
        deploy(tmp_path / "nope.py", client=client)
    bad = write_flow(tmp_path, "BadFlow", "@schedule(cron='99 * * * *')")
    with pytest.raises(InvalidFlow, match="not a valid cron expression"):
        deploy(bad, client=client)
    unknown = write_flow(
        tmp_path, "ParamFlow", "@trigger(event={'name': 'x', 'parameters': {'nope': 'a'}})"
    )
    with pytest.raises(InvalidFlow, match="no such parameter"):
        deploy(unknown, client=client)


def test_cron_catch_up_runs_the_latest_missed_firing_once(clients, tmp_path):
    back, client = clients
    path = write_flow(tmp_path, "HourlyFlow", "@schedule(cron='*/10 * * * *')")
    record = deploy(path, client=back)  # deployed two hours ago; ~12 due times missed since
    assert record.schedule == "*/10 * * * *"
    scheduler = Scheduler(client, log_dir=tmp_path / "logs")
    firings = scheduler.run_once()
    assert len(firings) == 1
    (firing,) = firings
    assert firing.status == "succeeded", firing.message
    assert firing.due_ms == to_millis(latest_due("*/10 * * * *", None, client.clock.now()))
    assert Scheduler(client, log_dir=tmp_path / "logs").run_once() == []  # claimed already
    run = client.get_run(client.store.events.get_firing(firing.id).run_id)
    assert run.tags["shipyard.trigger"] == "schedule"
    assert run.tags["shipyard.trigger.firing"] == str(firing.id)


def test_events_fire_once_per_matching_event_with_parameters(clients, tmp_path):
    _back, client = clients
    decorators = (
        "@trigger(event={'name': 'alert.fired', 'filters': {'model': 'churn'}, "
        "'parameters': {'alert': 'alert_id'}})"
    )
    old = client.store.events.emit("alert.fired", {"model": "churn", "alert_id": 0}, 1)
    deploy(write_flow(tmp_path, "RetrainFlow", decorators), client=client)
    now = to_millis(client.clock.now())
    events = client.store.events
    hit = events.emit("alert.fired", {"model": "churn", "alert_id": 7}, now, "alert:7")
    events.emit("alert.fired", {"model": "fraud", "alert_id": 8}, now)
    events.emit("model.registered", {"model": "churn"}, now)
    (firing,) = Scheduler(client, log_dir=tmp_path / "logs").run_once()
    assert (firing.kind, firing.event_id, firing.status) == ("event", hit.id, "succeeded")
    assert old.id < hit.id  # events from before the deployment never fire it
    run = client.get_run(firing.run_id)
    assert run.tags["shipyard.trigger.event"] == "alert.fired"
    assert run.tags["shipyard.trigger.event_id"] == str(hit.id)
    assert run.tags["shipyard.trigger.alert_id"] == "7"
    assert run.params["alert"] == "7"
    assert Scheduler(client, log_dir=tmp_path / "logs").run_once() == []


def test_failures_are_recorded_and_never_stop_the_scheduler(clients, tmp_path):
    _back, client = clients
    failing = write_flow(
        tmp_path, "FailingFlow", "@trigger(event='go')", body="raise RuntimeError('boom')"
    )
    deploy(failing, client=client)
    moved = write_flow(tmp_path, "MovedFlow", "@trigger(event='go')")
    deploy(moved, client=client)
    fine = write_flow(tmp_path, "FineFlow", "@trigger(event='go')")
    deploy(fine, client=client)
    moved.unlink()
    client.store.events.emit("go", {}, to_millis(client.clock.now()))
    firings = {f.deployment: f for f in Scheduler(client, log_dir=tmp_path / "logs").run_once()}
    assert firings["FineFlow"].status == "succeeded"
    assert firings["FailingFlow"].status == "failed"
    assert "exit 1" in firings["FailingFlow"].message
    assert firings["MovedFlow"].status == "error"
    assert "is missing" in firings["MovedFlow"].message
    undeploy("MovedFlow", client=client)
    assert [d.name for d in client.store.events.list_deployments()] == ["FailingFlow", "FineFlow"]


def test_two_scheduler_processes_never_start_the_same_run_twice(clients, tmp_path):
    back, client = clients
    path = write_flow(tmp_path, "RaceFlow", "@schedule(cron='* * * * *')\n@trigger(event='go')")
    deploy(path, client=back)
    now = to_millis(client.clock.now())
    sent = [client.store.events.emit("go", {"n": i}, now).id for i in range(3)]
    env = {
        **os.environ,
        "SHIPYARD_URI": client.settings.uri,
        "SHIPYARD_ARTIFACT_URI": client.settings.artifact_uri,
    }
    command = [sys.executable, "-m", "shipyard.cli", "scheduler", "--once"]
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=240)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    firings = client.store.events.firings("RaceFlow")
    # the latest cron due time (two when a minute turns while they run) and three events,
    # each fired once: no firing key twice, one run per firing
    cron = [f for f in firings if f.kind == "schedule"]
    assert 1 <= len(cron) <= 2 and len(firings) == len(cron) + 3, outputs
    assert len({f.firing_key for f in firings}) == len(firings)
    assert sorted(f.event_id for f in firings if f.kind == "event") == sorted(sent)
    assert {f.status for f in firings} == {"succeeded"}
    runs = {f.run_id for f in firings}
    assert len(runs) == len(firings) and None not in runs
    assert len(client.store.flows.list_flow_runs("RaceFlow")) == len(firings)
