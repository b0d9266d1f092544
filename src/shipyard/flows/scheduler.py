"""The scheduler: starts deployed flows on their cron schedule and on platform events.

Each pass (``tick``) looks at every deployment:

- **cron**: the latest due time at or before now (croniter, in the deployment's time zone)
  fires if it fell after the deployment was first deployed. Catch-up after downtime: only
  that latest missed due time runs, once; earlier ones are skipped, never replayed.
- **events**: each event named by a ``@trigger`` (and matching its filters) after the
  deployment's cursor, not yet fired for it, fires once. The cursor moves past events only
  once they are older than ``SETTLE_MS``, so an event committed late is still seen.

Every firing is first **claimed** in the store under a unique key (``NAME:cron:DUE`` or
``NAME:event:ID``): of two schedulers on one store exactly one gets it, so no run starts
twice. Then the flow file runs as ``python FILE run [--param value]`` in its own folder
with the trigger in ``SHIPYARD_TRIGGER`` (read by the runtime as ``current.trigger`` and
recorded as run tags); its output goes to a log file. A claim is a lease the scheduler
renews while the run goes on; a claim never started whose lease lapsed is taken over, a run
whose scheduler vanished is marked ``lost`` (never started again). A missing file, a flow
that cannot start or fails is recorded on its firing (`shipyard scheduler history`) and
never stops the scheduler.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from shipyard._clock import from_millis, to_millis
from shipyard.errors import ShipyardError
from shipyard.flows.decorators.trigger import matches
from shipyard.flows.deploy import file_hash
from shipyard.flows.triggered import ENV, Trigger, TriggerEvent
from shipyard.store.base import DeploymentRecord, EventRecord, FiringRecord
from shipyard.tracking import Client

SETTLE_MS = 60_000  # events younger than this stay before the cursor (late commits)
FINISHED = ("succeeded", "failed", "error", "lost")


def latest_due(cron: str, timezone: str | None, now: datetime) -> datetime:
    """The latest time at or before ``now`` the cron expression names (in ``timezone``)."""
    from zoneinfo import ZoneInfo

    from croniter import croniter

    local = now.astimezone(ZoneInfo(timezone or "UTC")).replace(microsecond=0)
    due: datetime = croniter(cron, local + timedelta(seconds=1)).get_prev(datetime)
    return due


@dataclass
class _Running:
    firing: FiringRecord
    process: subprocess.Popen[bytes]
    log: IO[bytes]


class Scheduler:
    def __init__(
        self,
        client: Client | None = None,
        *,
        lease_seconds: float = 120.0,
        python: str | None = None,
        log_dir: Path | None = None,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client or Client()
        self.store = self.client.store.events
        self.lease_ms = int(lease_seconds * 1000)
        self.python = python or sys.executable
        self.log_dir = log_dir or Path(self.client.settings.home) / "scheduler" / "logs"
        self.echo = echo or (lambda _line: None)
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self.running: dict[int, _Running] = {}

    def _now_ms(self) -> int:
        return to_millis(self.client.clock.now())

    # -- one pass ---------------------------------------------------------------------

    def tick(self) -> list[FiringRecord]:
        """Claim and start what is due now; returns the firings this pass claimed."""
        self.poll()
        self.store.expire_leases(self._now_ms())
        started: list[FiringRecord] = []
        for deployment in self.store.list_deployments():
            try:
                started += self._deployment(deployment)
            except Exception as exc:  # one broken deployment must not stop the others
                self.echo(f"error: deployment {deployment.name}: {_describe(exc)}")
        return started

    def _deployment(self, d: DeploymentRecord) -> list[FiringRecord]:
        now = self.client.clock.now()
        fired: list[FiringRecord] = []
        if d.schedule:
            due = latest_due(d.schedule, d.timezone, now)
            due_ms = to_millis(due)
            if due_ms > d.created_ms:
                key = f"{d.name}:cron:{due_ms}"
                trigger_for = lambda f: Trigger("schedule", d.name, f.id, due=due)  # noqa: E731
                firing = self._fire(d, key, "schedule", due_ms, None, trigger_for, {})
                fired += [firing] if firing else []
        if d.triggers:
            fired += self._events(d, to_millis(now))
        return fired

    def _events(self, d: DeploymentRecord, now_ms: int) -> list[FiringRecord]:
        names = sorted({t["name"] for t in d.triggers})
        fired: list[FiringRecord] = []
        settled = d.event_cursor
        for event in self.store.unclaimed_events(d.name, names, d.event_cursor):
            spec = next((t for t in d.triggers if matches(t, event.name, event.payload)), None)
            if spec is not None:
                params = _parameters(spec, event)

                def trigger_for(f: FiringRecord, e: EventRecord = event) -> Trigger:
                    stamp = from_millis(e.created_ms)
                    te = TriggerEvent(e.name, e.id, e.payload, stamp, e.source)
                    return Trigger("event", d.name, f.id, (te,))

                key = f"{d.name}:event:{event.id}"
                firing = self._fire(
                    d, key, "event", event.created_ms, event.id, trigger_for, params
                )
                fired += [firing] if firing else []
            if event.created_ms <= now_ms - SETTLE_MS:
                settled = max(settled, event.id)
        if settled > d.event_cursor:
            self.store.advance_cursor(d.name, settled)
        return fired

    # -- one firing -------------------------------------------------------------------

    def _fire(
        self,
        d: DeploymentRecord,
        key: str,
        kind: str,
        due_ms: int,
        event_id: int | None,
        trigger_for: Callable[[FiringRecord], Trigger],
        params: dict[str, str],
    ) -> FiringRecord | None:
        now = self._now_ms()
        firing = self.store.claim(
            d.name, key, kind, due_ms, event_id, self.owner, now, self.lease_ms
        )
        if firing is None:
            return None  # another scheduler has it
        try:
            return self._start(d, firing, trigger_for(firing), params)
        except Exception as exc:  # recorded on the firing, never raised
            message = (
                exc.message if isinstance(exc, ShipyardError) else f"{type(exc).__name__}: {exc}"
            )
            return self._finish(firing, "error", message)

    def _start(
        self, d: DeploymentRecord, firing: FiringRecord, trigger: Trigger, params: dict[str, str]
    ) -> FiringRecord:
        path = Path(d.path)
        if not path.is_file():
            return self._finish(
                firing, "error",
                f"flow file {path} is missing; deploy it again from its new place or "
                f"`shipyard scheduler undeploy {d.name}`",
            )  # fmt: skip
        note = "" if file_hash(path) == d.file_hash else " (the file changed since deployed)"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{firing.id}.log"
        args = [self.python, str(path), "run"]
        for name, value in params.items():
            args += [f"--{name}", value]
        log = open(log_path, "ab")  # noqa: SIM115 - closed when the run ends
        try:
            process = subprocess.Popen(
                args, cwd=path.parent, env=self._env(trigger), stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        except OSError as exc:
            log.close()
            return self._finish(firing, "error", f"could not start {args[0]}: {exc}")
        started = self.store.update_firing(
            firing.id, status="running", pid=process.pid, started_ms=self._now_ms(),
            log_path=str(log_path), message=f"started {d.flow_name}{note}",
            lease_until_ms=self._now_ms() + self.lease_ms,
        )  # fmt: skip
        self.running[firing.id] = _Running(started, process, log)
        self.echo(f"{d.name}: started {d.flow_name} ({_why(started)}), firing {firing.id}")
        return started

    def _env(self, trigger: Trigger) -> dict[str, str]:
        settings = self.client.settings
        env = dict(os.environ)
        env.update(
            {
                "SHIPYARD_URI": str(settings.uri),
                "SHIPYARD_ARTIFACT_URI": str(settings.artifact_uri),
                "SHIPYARD_HOME": str(settings.home),
                ENV: trigger.to_json(),
            }
        )
        return env

    def _finish(self, firing: FiringRecord, status: str, message: str) -> FiringRecord:
        done = self.store.update_firing(
            firing.id, status=status, finished_ms=self._now_ms(), message=message
        )
        self.echo(f"{firing.deployment}: firing {firing.id} {status}: {message}")
        return done

    # -- runs in flight ---------------------------------------------------------------

    def poll(self) -> list[FiringRecord]:
        """Record the runs that ended; renew the leases of the others."""
        ended: list[FiringRecord] = []
        for firing_id, r in list(self.running.items()):
            code = r.process.poll()
            if code is None:
                continue
            r.log.close()
            del self.running[firing_id]
            record = self.store.get_firing(firing_id)
            run = f"{record.flow_run} " if record.flow_run else ""
            if code == 0:
                ended.append(self._finish(record, "succeeded", f"{run}finished".strip()))
            else:
                why = _last_line(Path(r.firing.log_path or ""))
                ended.append(self._finish(record, "failed", f"{run}exit {code}: {why}".strip()))
        if self.running:
            self.store.renew_leases(self.owner, list(self.running), self._now_ms() + self.lease_ms)
        return ended

    def wait(self, poll_seconds: float = 0.2) -> None:
        """Until every run this scheduler started has ended."""
        while self.running:
            time.sleep(poll_seconds)
            self.poll()

    def run_once(self) -> list[FiringRecord]:
        """One pass, then wait for its runs: for cron (`shipyard scheduler --once`)."""
        claimed = self.tick()
        self.wait()
        return [self.store.get_firing(f.id) for f in claimed]

    def serve(self, interval: float = 30.0, stop: Callable[[], bool] = lambda: False) -> None:
        """Pass every ``interval`` seconds until ``stop()``; runs go on between passes."""
        while not stop():
            started = time.monotonic()
            self.tick()
            while time.monotonic() - started < interval and not stop():
                time.sleep(min(1.0, interval))
                self.poll()
        self.wait()


def _parameters(spec: dict[str, Any], event: EventRecord) -> dict[str, str]:
    out: dict[str, str] = {}
    for param, field_name in spec.get("parameters", {}).items():
        value = event.payload.get(field_name)
        if value is not None:
            out[param] = value if isinstance(value, str) else json.dumps(value)
    return out


def _why(firing: FiringRecord) -> str:
    if firing.kind == "schedule":
        return f"due {from_millis(firing.due_ms).isoformat()}"
    return f"event {firing.event_id}"


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no output"
    return lines[-1].strip()[:500] if lines else "no output"


def _describe(exc: Exception) -> str:
    return exc.message if isinstance(exc, ShipyardError) else f"{type(exc).__name__}: {exc}"
