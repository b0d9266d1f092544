"""The runs pages in a browser: projects, a project's runs (filter, sort, select to
compare), one run with its charts, the artifact browser, a comparison, and who may see what.

Values are read from the store the pages show (``ui.client``); runs of our own go to the
project ``ui-runs-test`` so the quickstart's data stays as other tests expect it.
"""

from __future__ import annotations

import math
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from shipyard.store.base import RunRecord, RunStatus
from tests.ui.conftest import QUICKSTART_PROJECTS, PageErrors, Server, charts_drawn, sign_in

PROJECT = "ui-runs-test"
Shot = Callable[[Any, str], Path]


def _png(width: int = 320, height: int = 160) -> bytes:
    """A small gradient PNG, made without an imaging library."""
    raw = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (x * 255 // width, y * 255 // height, 160))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@dataclass
class OwnRuns:
    ids: list[str]  # three finished runs with loss curves; the first has artifacts


@pytest.fixture(scope="module")
def own(ui: Server, tmp_path_factory: pytest.TempPathFactory) -> OwnRuns:
    client = ui.client
    ids = []
    for i, lr in enumerate((0.1, 0.03, 0.01)):
        run = client.create_run(
            PROJECT,
            f"sgd-lr{lr}",
            params={"lr": lr, "optimizer": "sgd", "epochs": 40},
            tags={"team": "ui"},
            capture_code=False,
        )
        for step in range(40):
            client.log_metric(run.id, "loss", math.exp(-lr * 3 * step) + 0.05 * i, step=step)
            client.log_metric(run.id, "val_acc", 1 - math.exp(-lr * 2 * step) * 0.5, step=step)
        client.log_metric(run.id, "final_auc", 0.7 + lr)
        ids.append(run.id)
    first = ids[0]
    client.log_text(first, "hello from the ui tests\nsecond line\n", "notes/readme.txt")
    client.log_dict(first, {"lr": 0.1, "layers": [64, 32], "ok": True}, "config/params.json")
    client.log_text(first, "id,score,label\n1,0.9,yes\n2,0.4,no\n3,0.7,yes\n", "eval/scores.csv")
    image = tmp_path_factory.mktemp("art") / "curve.png"
    image.write_bytes(_png())
    client.log_artifact(first, image, "plots")
    for run_id in ids:
        client.end_run(run_id)
    return OwnRuns(ids)


def _main_project(ui: Server) -> tuple[str, list[RunRecord]]:
    """The quickstart project with the most runs that log params and metrics."""
    runs = ui.client.store.search_runs(None, "", ["start_time DESC"], 1000, 0, False)
    useful = [r for r in runs if r.params and r.metrics and r.project != PROJECT]
    counts: dict[str, int] = {}
    for run in useful:
        counts[run.project] = counts.get(run.project, 0) + 1
    project = max(counts, key=lambda p: counts[p])
    return project, ui.client.store.search_runs([project], "", ["start_time DESC"], 50, 0, False)


def _numbers(page: Any, column: str) -> list[float]:
    cells = page.locator(f"[data-testid=runs] tbody td[data-column='{column}']")
    return [float(v) for v in cells.evaluate_all("cs => cs.map(c => c.dataset.value)") if v]


def test_projects_page_counts_runs(ui: Server, own: OwnRuns, browser_page: Any) -> None:
    browser_page.goto(ui.url + "/ui/")
    browser_page.click("header nav >> text=Runs")
    browser_page.wait_for_url("**/ui/projects")
    table = browser_page.locator("[data-testid=projects]")
    for project in ui.client.store.list_projects():
        row = table.locator("tr", has=browser_page.locator(f"a:text-is('{project.name}')"))
        count = len(ui.client.store.search_runs([project.name], "", [], 100_000, 0, False))
        assert row.locator("[data-testid=run-count]").inner_text() == f"{count:,}"
    assert table.locator(f"a:text-is('{PROJECT}')").count() == 1


def test_runs_table_filters_and_sorts(ui: Server, browser_page: Any, screenshot: Shot) -> None:
    project, runs = _main_project(ui)
    browser_page.goto(f"{ui.url}/ui/projects/{project}/runs")
    rows = browser_page.locator("[data-testid=runs] tbody tr[data-run]")
    assert rows.count() == len(runs)
    first = runs[0]  # newest first by default
    assert rows.first.get_attribute("data-run") == first.id
    for key, value in first.params.items():
        cell = rows.first.locator(f"td[data-column='params.{key}']")
        if cell.count():
            assert cell.inner_text() == value
    screenshot(browser_page, "runs")

    metric = max(  # a metric the runs logged, not a flow run's system/ usage
        {k for r in runs for k in r.metrics if not k.startswith("system/")},
        key=lambda k: sum(k in r.metrics for r in runs),
    )
    values = sorted(r.metrics[metric] for r in runs if metric in r.metrics)
    threshold = values[len(values) // 2 - 1] if len(values) > 1 else values[0] - 1
    text = f"metrics.{metric} > {threshold!r}"
    browser_page.fill("input[name=filter]", text)
    browser_page.click("[data-testid=filter-form] button[type=submit]")
    browser_page.wait_for_url(re.compile(r".*filter=.*"))
    expected = ui.client.store.search_runs([project], text, [], 1000, 0, False)
    assert 0 < len(expected) < len(runs)
    assert rows.count() == len(expected)
    assert {rows.nth(i).get_attribute("data-run") for i in range(rows.count())} == {
        r.id for r in expected
    }
    if browser_page.locator(f"th[data-column='metrics.{metric}']").count() == 0:
        browser_page.fill("input[name=columns]", f"metrics.{metric}")
        browser_page.click("[data-testid=filter-form] button[type=submit]")
    assert all(v > threshold for v in _numbers(browser_page, f"metrics.{metric}"))

    header = browser_page.locator(f"th[data-column='metrics.{metric}'] a")
    header.click()  # first click: highest first
    browser_page.wait_for_url(re.compile(r".*order_by=.*DESC.*"))
    shown = _numbers(browser_page, f"metrics.{metric}")
    assert shown == sorted(shown, reverse=True) and len(shown) == len(expected)
    browser_page.locator(f"th[data-column='metrics.{metric}'] a").click()
    browser_page.wait_for_url(re.compile(r".*order_by=.*ASC.*"))
    shown = _numbers(browser_page, f"metrics.{metric}")
    assert shown == sorted(shown)
    assert "filter=" in browser_page.url  # sorting keeps the filter


def test_an_invalid_filter_shows_its_message(ui: Server, browser_page: Any) -> None:
    project, _ = _main_project(ui)
    browser_page.goto(f"{ui.url}/ui/projects/{project}/runs")
    browser_page.fill("input[name=filter]", "metrics.auc >> 0.5")
    browser_page.click("[data-testid=filter-form] button[type=submit]")
    flash = browser_page.locator(".flash.error")
    try:
        ui.client.store.search_runs([project], "metrics.auc >> 0.5", [], 1, 0, False)
    except Exception as exc:  # the store's own message is what the page shows
        assert flash.inner_text() == str(exc)
    else:
        pytest.fail("the store accepted an invalid filter")
    assert browser_page.locator("[data-testid=runs] tbody tr[data-run]").count() == 0
    assert browser_page.locator("input[name=filter]").input_value() == "metrics.auc >> 0.5"


def test_pages_of_runs(ui: Server, own: OwnRuns, browser_page: Any) -> None:
    browser_page.goto(f"{ui.url}/ui/projects/{PROJECT}/runs?limit=2")
    rows = browser_page.locator("[data-testid=runs] tbody tr[data-run]")
    newest = ui.client.store.search_runs([PROJECT], "", ["start_time DESC"], 4, 0, False)
    assert [rows.nth(i).get_attribute("data-run") for i in range(2)] == [r.id for r in newest[:2]]
    browser_page.click("[data-testid=next]")
    browser_page.wait_for_url(re.compile(r".*offset=2.*"))
    assert rows.first.get_attribute("data-run") == newest[2].id
    browser_page.click("[data-testid=prev]")
    browser_page.wait_for_url(re.compile(r".*limit=2$"))
    assert rows.first.get_attribute("data-run") == newest[0].id


def test_run_page_shows_the_run(ui: Server, browser_page: Any, screenshot: Shot) -> None:
    _, runs = _main_project(ui)
    store = ui.client.store
    histories = store.get_metric_histories([r.id for r in runs[:10]], ["test_auc_by_stage"])
    charted = [r for r in runs[:10] if len(histories[r.id]["test_auc_by_stage"]) > 1]
    run = charted[0] if charted else runs[0]
    browser_page.goto(f"{ui.url}/ui/runs/{run.id}")
    assert browser_page.locator("[data-testid=run-name]").inner_text() == run.name
    assert browser_page.locator("[data-testid=run-status]").inner_text() == run.status.value
    for key, value in run.params.items():
        assert browser_page.locator(f"[data-param='{key}']").inner_text() == value
    assert browser_page.locator("[data-metric]").count() == len(run.metrics)
    assert charts_drawn(browser_page) > 0
    if run.parent_id:
        assert browser_page.locator("[data-testid=parent]").get_attribute("href") == (
            f"/ui/runs/{run.parent_id}"
        )
    if run.kind == "task":
        flow = store.flows.flow_run_of(run.parent_id)
        link = browser_page.locator("[data-testid=flow-run]")
        assert link.inner_text() == f"{flow.flow_name}/{flow.number}"
        step = run.tags["step"]
        assert browser_page.locator("[data-testid=task-page]").get_attribute("href") == (
            f"/ui/flows/{flow.flow_name}/{flow.number}/{step}/{run.id}"
        )
    environment = ui.client.get_environment(run.id)
    if environment.get("python"):
        assert (
            environment["python"] in browser_page.locator("[data-testid=environment]").inner_text()
        )
    browser_page.locator("[data-testid=smoothing]").fill("0.8")  # redraws, no error
    smoothing = browser_page.locator("[data-chart]").first.get_attribute("data-smoothing")
    assert smoothing == "0.8"
    screenshot(browser_page, "run")
    browser_page.click("[data-testid=axis-time]")
    browser_page.wait_for_url("**?x=time")
    assert charts_drawn(browser_page) > 0


def test_run_page_of_a_flow_run_lists_its_tasks(ui: Server, browser_page: Any) -> None:
    flows = ui.client.store.search_runs(None, "kind = 'flow'", [], 1, 0, False)
    if not flows:
        pytest.skip("the quickstart made no flow run")
    flow = flows[0]
    browser_page.goto(f"{ui.url}/ui/runs/{flow.id}")
    tasks = ui.client.store.flows.tasks(flow.id)
    children = browser_page.locator("[data-testid=children] a")
    assert children.count() == len(tasks) > 0


def test_run_page_lists_model_versions_registered_from_it(ui: Server, browser_page: Any) -> None:
    models = ui.client.store.models
    versions = [
        mv for m in models.list_models() for mv in models.list_model_versions(m.name) if mv.run_id
    ]
    if not versions:
        pytest.skip("the quickstart registered no model version from a run")
    mv = versions[0]
    browser_page.goto(f"{ui.url}/ui/runs/{mv.run_id}")
    assert f"{mv.name} v{mv.version}" in browser_page.locator("[data-testid=models]").inner_text()


def test_comparison_charts_and_diff(
    ui: Server, own: OwnRuns, browser_page: Any, screenshot: Shot
) -> None:
    browser_page.goto(f"{ui.url}/ui/projects/{PROJECT}/runs")
    button = browser_page.locator("[data-testid=compare]")
    assert button.is_disabled()
    for run_id in own.ids:
        browser_page.check(f"input[name=run][value='{run_id}']")
    assert button.is_enabled()
    button.click()
    browser_page.wait_for_url("**/ui/compare?**")
    assert charts_drawn(browser_page) == 2  # loss, val_acc (final_auc was logged once)
    assert browser_page.locator("[data-testid=latest] .latest-row").count() == 3
    diff = browser_page.locator("[data-testid=diff]")
    lr_row = diff.locator("tr[data-key='params.lr']")
    shown = parse_qs(urlparse(browser_page.url).query)["run"]  # in the table's order
    assert sorted(shown) == sorted(own.ids)
    runs = [ui.client.store.get_run(i) for i in shown]
    assert lr_row.locator("td").all_inner_texts()[1:] == [r.params["lr"] for r in runs]
    assert "differs" in (lr_row.get_attribute("class") or "")
    assert "differs" not in (
        diff.locator("tr[data-key='params.optimizer']").get_attribute("class") or ""
    )
    screenshot(browser_page, "compare")
    browser_page.click("[data-testid=only-diff]")
    browser_page.wait_for_url("**only_diff=1**")
    assert diff.locator("tr[data-key='params.optimizer']").count() == 0
    assert diff.locator("tr[data-key='params.lr']").count() == 1
    assert charts_drawn(browser_page) == 2
    browser_page.click("text=Relative time")
    browser_page.wait_for_url("**x=time**")
    assert charts_drawn(browser_page) == 2
    spec = browser_page.evaluate("Shipyard.readJson('c0')")
    assert 0 <= spec["x"][0] < 5  # seconds since each run started
    assert diff.locator("tr[data-key='params.optimizer']").count() == 0  # still only diffs
    browser_page.goto(browser_page.url + "&metric=loss")  # pick what to chart
    assert charts_drawn(browser_page) == 1
    assert browser_page.locator(".chart-box h3").all_inner_texts() == ["loss"]


def test_artifact_browser_previews(
    ui: Server, own: OwnRuns, browser_page: Any, screenshot: Shot
) -> None:
    run_id = own.ids[0]
    base = f"{ui.url}/ui/runs/{run_id}/artifacts"
    browser_page.goto(f"{ui.url}/ui/runs/{run_id}")
    browser_page.click("[data-testid=artifacts-link]")
    browser_page.wait_for_url(base)
    listed = browser_page.locator("[data-testid=artifacts] [data-artifact]").all_inner_texts()
    assert {t.split()[-1].rstrip("/") for t in listed} == {"config", "eval", "notes", "plots"}

    browser_page.click("[data-artifact='notes']")
    browser_page.click("[data-artifact='notes/readme.txt']")
    assert (
        "hello from the ui tests" in browser_page.locator("[data-testid=text-preview]").inner_text()
    )

    browser_page.goto(base + "?path=config/params.json")
    pretty = browser_page.locator("[data-testid=text-preview]").inner_text()
    assert '"layers": [' in pretty and pretty.count("\n") > 3

    browser_page.goto(base + "?path=eval/scores.csv")
    table = browser_page.locator("[data-testid=table-preview]")
    assert table.locator("th").all_inner_texts() == ["id", "score", "label"]
    assert table.locator("tbody tr").count() == 3

    browser_page.goto(base + "?path=plots/curve.png")
    image = browser_page.locator("[data-testid=image-preview]")
    image.wait_for()
    browser_page.wait_for_function(
        "document.querySelector('[data-testid=image-preview]').naturalWidth > 0"
    )
    screenshot(browser_page, "artifacts")

    raw = httpx.get(f"{ui.url}/ui/runs/{run_id}/artifact", params={"path": "plots/curve.png"})
    assert raw.headers["content-type"] == "image/png" and raw.content == _png()
    assert "sandbox" in raw.headers["content-security-policy"]
    text = httpx.get(f"{ui.url}/ui/runs/{run_id}/artifact", params={"path": "notes/readme.txt"})
    assert text.headers["content-type"] == "application/octet-stream"
    assert text.headers["content-disposition"].startswith("attachment")


def test_a_viewer_sees_only_their_projects(
    ui_auth: Server, own: OwnRuns, browser_page: Any, page_errors: PageErrors
) -> None:
    sign_in(browser_page, ui_auth, "victor")
    browser_page.goto(ui_auth.url + "/ui/projects")
    names = browser_page.locator("[data-testid=project-link]").all_inner_texts()
    assert sorted(names) == sorted(QUICKSTART_PROJECTS)  # not ui-runs-test
    browser_page.goto(ui_auth.url + "/ui/projects/QuickstartFlow/runs")
    assert browser_page.locator("h1").first.inner_text() == "QuickstartFlow"
    count = len(ui_auth.client.store.search_runs(["QuickstartFlow"], "", [], 50, 0, False))
    assert count > 0
    assert browser_page.locator("[data-testid=runs] tbody tr[data-run]").count() == count

    page_errors.allowed.append("403")
    for path in (
        f"/ui/projects/{PROJECT}/runs",
        f"/ui/runs/{own.ids[0]}",
        f"/ui/runs/{own.ids[0]}/artifacts",
        f"/ui/compare?run={own.ids[0]}&run={own.ids[1]}",
    ):
        answer = browser_page.goto(ui_auth.url + path)
        assert answer.status == 403, path
        assert "victor" in browser_page.locator("[data-testid=error]").inner_text()


def test_columns_can_be_chosen(ui: Server, own: OwnRuns, browser_page: Any) -> None:
    browser_page.goto(f"{ui.url}/ui/projects/{PROJECT}/runs?columns=params.lr")
    headers = browser_page.locator("[data-testid=runs] th[data-column]")
    assert headers.evaluate_all("hs => hs.map(h => h.dataset.column)") == ["params.lr"]
    browser_page.click("[data-testid=more-columns] summary")
    browser_page.click("[data-testid=more-columns] a:text-is('metrics.loss')")
    browser_page.wait_for_url(re.compile(r".*columns=params.lr%2Cmetrics.loss.*"))
    assert headers.evaluate_all("hs => hs.map(h => h.dataset.column)") == [
        "params.lr",
        "metrics.loss",
    ]
    run = ui.client.store.get_run(own.ids[0])
    cell = browser_page.locator(f"tr[data-run='{run.id}'] td[data-column='metrics.loss']")
    assert float(cell.get_attribute("data-value") or "nan") == run.metrics["loss"]


def test_a_run_with_little_recorded_still_shows(ui: Server, browser_page: Any) -> None:
    import uuid

    from shipyard.store.base import NewRun

    now = int(ui.client.clock.now().timestamp() * 1000)
    bare = ui.client.store.create_run(NewRun(uuid.uuid4().hex, PROJECT, "bare", now))
    browser_page.goto(f"{ui.url}/ui/runs/{bare.id}")
    assert browser_page.locator("[data-testid=run-status]").inner_text() == "RUNNING"
    assert "Not recorded" in browser_page.locator("[data-testid=environment]").inner_text()
    assert "Not recorded" in browser_page.locator("[data-testid=code]").inner_text()
    assert browser_page.locator("[data-chart]").count() == 0
    ui.client.store.set_run_status(bare.id, RunStatus.KILLED, now + 1)


def test_status_quick_filter(ui: Server, own: OwnRuns, browser_page: Any) -> None:
    browser_page.goto(f"{ui.url}/ui/projects/{PROJECT}/runs")
    browser_page.click(".quick a:text-is('finished')")
    browser_page.wait_for_url(re.compile(r".*filter=status.*"))
    finished = ui.client.store.search_runs([PROJECT], "status = 'FINISHED'", [], 100, 0, False)
    rows = browser_page.locator("[data-testid=runs] tbody tr[data-run]")
    assert rows.count() == len(finished) >= 3
    assert set(browser_page.locator("[data-testid=runs] .badge").all_inner_texts()) == {"FINISHED"}
