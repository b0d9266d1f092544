"""The flows pages: flows with their runs, a run's graph and tasks, a task's logs and
artifacts, and a failed run's resume command."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shipyard.store import RunStatus
from tests.ui.conftest import PageErrors, Server, sign_in

pytestmark = pytest.mark.ui

BROKEN_FLOW = '''
from shipyard.flows import FlowSpec, Parameter, step


class UiBrokenFlow(FlowSpec):
    """Step b fails; a, its sibling branch, finishes."""

    rate = Parameter("rate", help="a number", default=0.25)

    @step
    def start(self):
        self.items = [1, 2, 3]
        self.next(self.a, self.b)

    @step
    def a(self):
        self.a_value = 1
        self.next(self.join)

    @step
    def b(self):
        print("b starts")
        raise ValueError("b is broken on purpose")
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    UiBrokenFlow()
'''


def _quickstart_run(ui: Server) -> Any:
    return ui.client.store.flows.get_flow_run("QuickstartFlow", 1)


def test_flows_list(ui: Server, browser_page: Any, screenshot: Callable[[Any, str], Path]) -> None:
    record = _quickstart_run(ui)
    info = ui.client.store.get_run(record.run_id)
    page = browser_page
    page.goto(f"{ui.url}/ui/flows")
    card = page.locator("[data-testid=flow-QuickstartFlow]")
    assert card.locator("a", has_text="QuickstartFlow/1").count() == 1
    assert info.status.value in card.inner_text()
    assert info.user in card.inner_text()
    screenshot(page, "flows")
    card.locator("h2 a").click()  # the flow: all its runs
    page.wait_for_url("**/ui/flows/QuickstartFlow")
    runs = page.locator("[data-testid=flow-runs] tbody tr")
    assert runs.count() == len(ui.client.store.flows.list_flow_runs("QuickstartFlow"))
    runs.locator("a", has_text="QuickstartFlow/1").click()
    page.wait_for_url("**/ui/flows/QuickstartFlow/1")


def test_flow_run_graph_and_tasks(
    ui: Server, browser_page: Any, screenshot: Callable[[Any, str], Path]
) -> None:
    record = _quickstart_run(ui)
    graph = json.loads(record.graph)
    tasks = ui.client.store.flows.tasks(record.run_id)
    page = browser_page
    page.goto(f"{ui.url}/ui/flows/QuickstartFlow/1")
    nodes = page.locator("[data-testid=flow-graph] g.node")
    assert sorted(nodes.evaluate_all("ns => ns.map(n => n.dataset.step)")) == sorted(graph)
    assert set(nodes.evaluate_all("ns => ns.map(n => n.dataset.state)")) == {"succeeded"}
    foreach = next(name for name, node in graph.items() if node["type"] == "foreach")
    child = graph[foreach]["next"][0]
    fanned = len({t.foreach_path for t in tasks if t.step == child})
    assert fanned > 1
    assert (
        page.locator("[data-testid=fanout]").first.text_content()
        == f"\N{MULTIPLICATION SIGN}{fanned}"
    )
    summary = page.locator("[data-testid=steps] tbody tr")
    assert summary.count() == len(graph)
    assert f"{fanned} succeeded" in summary.nth(list(graph).index(child)).inner_text()
    rows = page.locator("[data-testid=tasks] tbody tr")
    assert rows.count() == len(tasks)
    durations = page.locator("[data-testid=task-duration]").all_inner_texts()
    timing = re.compile(r"\d+ ms|[\d.]+ s|\d+ min \d+ s|\d+ h \d+ min")
    assert durations and all(timing.fullmatch(d) for d in durations), durations
    link = page.locator("[data-testid=tracking-run]")
    assert link.get_attribute("href") == f"/ui/runs/{record.run_id}"
    assert page.locator("[data-testid=resume]").count() == 0  # it finished
    screenshot(page, "flow-run")
    page.locator(f"[data-testid=step-{child}] a").click()  # a foreach step: its tasks
    page.wait_for_url(f"**?step={child}#tasks")
    assert page.locator("[data-testid=tasks] tbody tr").count() == len(
        [t for t in tasks if t.step == child]
    )


def test_task_logs_and_artifacts(
    ui: Server, browser_page: Any, screenshot: Callable[[Any, str], Path]
) -> None:
    record = _quickstart_run(ui)
    logged = [t for t in ui.client.store.flows.tasks(record.run_id) if t.stdout_hash]
    assert logged, "the quickstart flow prints something"
    task = logged[0]
    stdout = ui.client.blobs.get_bytes(task.stdout_hash).decode()
    names = [
        a.path.removeprefix("data/") for a in ui.client.store.list_artifacts(task.run_id, "data/")
    ]
    page = browser_page
    page.goto(f"{ui.url}/ui/flows/QuickstartFlow/1/{task.step}/{task.run_id}")
    shown = page.locator("[data-testid=stdout]").inner_text()
    assert stdout.strip().splitlines()[-1].strip() in shown
    table = page.locator("[data-testid=artifacts]").inner_text()
    assert all(f"self.{name}" in table for name in names)
    screenshot(page, "task")


def test_failed_flow_run_shows_failed_step_and_resume(
    ui: Server, browser_page: Any, tmp_path: Path
) -> None:
    flow_file = tmp_path / "broken_flow.py"
    flow_file.write_text(textwrap.dedent(BROKEN_FLOW))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(ui.client.settings.home)
    done = subprocess.run(
        [sys.executable, "broken_flow.py", "run"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0, done.stdout + done.stderr
    number = ui.client.store.flows.list_flow_runs("UiBrokenFlow")[0].number
    record = ui.client.store.flows.get_flow_run("UiBrokenFlow", number)
    assert ui.client.store.get_run(record.run_id).status is RunStatus.FAILED
    page = browser_page
    page.goto(f"{ui.url}/ui/flows/UiBrokenFlow/{number}")
    assert page.locator("[data-testid=step-b]").get_attribute("data-state") == "failed"
    assert page.locator("[data-testid=step-a]").get_attribute("data-state") == "succeeded"
    assert page.locator("[data-testid=step-join]").get_attribute("data-state") == "notrun"
    command = page.locator("[data-testid=resume-command]").inner_text()
    assert command == f"python broken_flow.py resume --origin-run-id {number}"
    assert "b is broken on purpose" in page.locator("[data-testid=resume]").inner_text()
    copy = page.locator("button[data-copy=resume-cmd]")
    copy.click()
    page.wait_for_function(
        "document.querySelector('button[data-copy=resume-cmd]').textContent !== 'Copy'"
    )
    assert copy.inner_text() in ("Copied", "Selected: Ctrl+C")
    page.locator("[data-testid=step-b] a").click()
    page.wait_for_url(f"**/ui/flows/UiBrokenFlow/{number}/b/*")
    assert "b is broken on purpose" in page.locator("[data-testid=task-error]").inner_text()
    assert "b starts" in page.locator("[data-testid=stdout]").inner_text()


def test_resume_command_from_the_flow_file_or_python() -> None:
    from shipyard.server.ui.flows import resume_command

    assert resume_command("F", 3, "python my\\ flow.py run --alpha 0.1") == (
        "python 'my flow.py' resume --origin-run-id 3",
        "F.resume(origin=3)",
    )
    assert resume_command("F", 4, "python3 flows/f.py resume train") == (
        "python3 flows/f.py resume --origin-run-id 4",
        "F.resume(origin=4)",
    )
    started_by_a_program = "python /x/shipyard/cli/__main__.py quickstart"
    assert resume_command("F", 5, started_by_a_program) == (None, "F.resume(origin=5)")


def test_flows_follow_the_readers_roles(
    ui_auth: Server, browser_page: Any, page_errors: PageErrors
) -> None:
    """A flow run belongs to its tracking run's project: quinn, a viewer of quickstart
    only, neither sees QuickstartFlow's runs (project QuickstartFlow) nor opens one."""
    project = ui_auth.client.store.get_run(_quickstart_run(ui_auth).run_id).project
    assert project != "quickstart"
    page = browser_page
    sign_in(page, ui_auth, "quinn")
    page.goto(f"{ui_auth.url}/ui/flows")
    assert page.locator("[data-testid=flow-QuickstartFlow]").count() == 0
    page_errors.allowed.append("403")
    answer = page.goto(f"{ui_auth.url}/ui/flows/QuickstartFlow/1")
    assert answer.status == 403
