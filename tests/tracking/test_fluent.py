"""The module-level API over the active run."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import shipyard
from shipyard.errors import Conflict, InvalidArgument


def test_with_block_finishes_the_run(shipyard_home):
    with shipyard.start_run(project="p", run_name="r", params={"a": 1}) as run:
        shipyard.log_metric("loss", 0.5)
        shipyard.log_metrics({"acc": 0.9}, step=3)
        shipyard.set_tags({"team": "x"})
        assert shipyard.active_run() is run
    assert shipyard.active_run() is None
    stored = shipyard.get_run(run.id)
    assert stored.status is shipyard.RunStatus.FINISHED
    assert stored.metrics == {"loss": 0.5, "acc": 0.9}
    assert stored.params == {"a": "1"} and stored.tags["team"] == "x"
    assert shipyard.get_metric_history(run.id, "acc")[0].step == 3


def test_an_exception_fails_the_run_and_keeps_its_points(shipyard_home):
    with pytest.raises(ZeroDivisionError), shipyard.start_run(project="p") as run:
        for i in range(100):
            shipyard.log_metric("x", i)
        1 / 0  # noqa: B018
    assert shipyard.get_run(run.id).status is shipyard.RunStatus.FAILED
    assert len(shipyard.get_metric_history(run.id, "x")) == 100


def test_keyboard_interrupt_marks_the_run_killed(shipyard_home):
    with pytest.raises(KeyboardInterrupt), shipyard.start_run(project="p") as run:
        raise KeyboardInterrupt
    assert shipyard.get_run(run.id).status is shipyard.RunStatus.KILLED


def test_nested_runs_need_asking_for(shipyard_home):
    with shipyard.start_run(project="p") as outer:
        with pytest.raises(Conflict, match="nested=True"):
            shipyard.start_run(project="p")
        with shipyard.start_run(project="p", nested=True) as inner:
            shipyard.log_metric("inner_only", 1)
        assert shipyard.active_run() is outer
    assert shipyard.get_run(inner.id).parent_id == outer.id
    assert "inner_only" not in shipyard.get_run(outer.id).metrics


def test_logging_without_a_run_starts_one(shipyard_home):
    shipyard.log_param("alpha", 0.3)
    run = shipyard.active_run()
    assert run is not None
    shipyard.end_run()
    assert shipyard.get_run(run.id).params == {"alpha": "0.3"}
    assert shipyard.active_run() is None


def test_nonfinite_policy_from_settings(shipyard_home, monkeypatch):
    monkeypatch.setenv("SHIPYARD_NONFINITE_METRICS", "error")
    with shipyard.start_run(project="p"), pytest.raises(InvalidArgument, match="nan"):
        shipyard.log_metric("loss", float("nan"))
    monkeypatch.setenv("SHIPYARD_NONFINITE_METRICS", "skip")
    with shipyard.start_run(project="p") as run:
        shipyard.log_metric("loss", float("inf"))
        shipyard.log_metric("loss", 1.0)
    assert [m.value for m in shipyard.get_metric_history(run.id, "loss")] == [1.0]


def _run_script(code: str, home) -> subprocess.CompletedProcess[str]:
    env = {"SHIPYARD_HOME": str(home), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.mark.slow
def test_interpreter_exit_flushes_and_ends_open_runs(shipyard_home):
    done = _run_script(
        """
        import shipyard
        run = shipyard.start_run(project="p", run_name="no-with")
        for i in range(5000):
            shipyard.log_metric("m", i)
        print(run.id)
        """,
        shipyard_home,
    )
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    assert shipyard.get_run(run_id).status is shipyard.RunStatus.FINISHED
    assert len(shipyard.get_metric_history(run_id, "m")) == 5000


@pytest.mark.slow
def test_an_uncaught_exception_marks_an_open_run_failed(shipyard_home):
    done = _run_script(
        """
        import shipyard
        run = shipyard.start_run(project="p")
        shipyard.log_metric("m", 1)
        print(run.id, flush=True)
        raise RuntimeError("boom")
        """,
        shipyard_home,
    )
    assert done.returncode == 1 and "boom" in done.stderr
    run_id = done.stdout.strip()
    assert shipyard.get_run(run_id).status is shipyard.RunStatus.FAILED
    assert len(shipyard.get_metric_history(run_id, "m")) == 1


def test_log_figure_stores_a_rendered_image(shipyard_home):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots()
    axes.plot([0, 1], [0, 1])
    with shipyard.start_run(project="p") as run:
        shipyard.log_figure(figure, "plots/roc.png")
        shipyard.log_figure(figure, "plots/roc.svg")
        with pytest.raises(InvalidArgument, match="matplotlib or plotly"):
            shipyard.log_figure(object(), "x.png")
    plt.close(figure)
    assert shipyard.load_artifact(run.id, "plots/roc.png").startswith(b"\x89PNG")
    assert b"<svg" in shipyard.load_artifact(run.id, "plots/roc.svg")
