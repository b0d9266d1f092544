"""Metaflow parity: Metaflow's tutorial flows (episodes 00-05 shapes: hello, playlist with
Parameters and IncludeFile, statistics with a foreach, a flow and a notebook-style script
reading results with the client) run on Shipyard with only their import lines changed.

The flows in ``metaflow_tutorial/`` are Metaflow code (``from metaflow import ...``); each
test copies them with ``from metaflow`` replaced by ``from shipyard`` (or left alone, to
run them under Metaflow itself) and runs them as a user does: ``python flow.py run ...``.
The client script prints what it read; the answers must be Metaflow's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

TUTORIAL = Path(__file__).with_name("metaflow_tutorial")
SRC = Path(__file__).parents[2] / "src"
USER = "tester"
MOVIES = """\
movie_title,title_year,genres,gross
Alien,1979,Horror|Sci-Fi,78900000
Arrival,2016,Drama|Mystery|Sci-Fi,100500000
Blade Runner,1982,Sci-Fi|Thriller,32800000
Casablanca,1942,Drama|Romance,3700000
Groundhog Day,1993,Comedy|Fantasy|Romance,70900000
Heat,1995,Action|Crime|Drama,67400000
Inception,2010,Action|Adventure|Sci-Fi,292500000
Jaws,1975,Adventure|Thriller,260000000
The Matrix,1999,Action|Sci-Fi,171400000
Toy Story,1995,Adventure|Animation|Comedy,191800000
"""
SCI_FI = ["Alien", "Arrival", "Blade Runner", "Inception", "The Matrix"]

# What Metaflow 2.19's client answers for the tutorial (the side-by-side test checks it)
EXPECTED: dict[str, Any] = {
    "artifact_attribute": SCI_FI,
    "back_to_default": True,
    "bonus": ["Casablanca", "Drama|Romance"],
    "end_data_playlist": SCI_FI,
    "end_task_is_end": True,
    "end_task_parent": "end",
    "end_task_successful": True,
    "exception": None,
    "finished": True,
    "finished_after_created": True,
    "flaky_attempt_seen": 1,
    "flaky_caught": True,
    "flaky_risky_exception": None,  # caught: in @catch's var, not here
    "flaky_risky_finished": True,
    "flaky_risky_successful": False,  # as Metaflow: caught is finished, not successful
    "flaky_start_tasks": [True],
    "flaky_steps": ["end", "risky", "start"],
    "flaky_successful": True,
    "flows": [
        "FlakyFlow",
        "HelloFlow",
        "MovieStatsFlow",
        "PlayListFlow",
        "PlayListPlusFlow",
        "ProjectFlow",
    ],
    "foreach_indices": list(range(12)),
    "foreach_tasks": 12,
    "genre": "Sci-Fi",
    "genres_computed": list(
        sorted({g for line in MOVIES.splitlines()[1:] for g in line.split(",")[2].split("|")})
    ),
    "genre_stats": {
        "Action": {"count": 3, "median": 171400000.0},
        "Adventure": {"count": 3, "median": 260000000.0},
        "Animation": {"count": 1, "median": 191800000.0},
        "Comedy": {"count": 2, "median": 131350000.0},
        "Crime": {"count": 1, "median": 67400000.0},
        "Drama": {"count": 3, "median": 67400000.0},
        "Fantasy": {"count": 1, "median": 70900000.0},
        "Horror": {"count": 1, "median": 78900000.0},
        "Mystery": {"count": 1, "median": 100500000.0},
        "Romance": {"count": 2, "median": 37300000.0},
        "Sci-Fi": {"count": 5, "median": 100500000.0},
        "Thriller": {"count": 2, "median": 146400000.0},
    },
    "global_sees_all": True,
    "hello_greeting": "Metaflow says: Hi!",
    "hello_steps": ["end", "hello", "start"],
    "hello_stdout": "Metaflow says: Hi!\n",
    "join_artifacts": ["bonus", "genre", "movie_data", "playlist", "recommendations"],
    "latest_run_id_is_number": True,
    "movie_data_lines": 11,
    "namespace": f"user:{USER}",
    "other_user_sees": "not in namespace",
    "parent": "PlayListFlow",
    "pathspec_seen_by_steps": True,
    "playlist": SCI_FI,
    "plus_read_stats": True,
    "plus_top": {"count": 5, "median": 100500000.0},
    "project_current": ["tutorial", f"user.{USER}", f"tutorial.user.{USER}.ProjectFlow"],
    "project_namespace_sees": ["ProjectFlow"],
    "project_parameters": ["size"],
    "project_production": False,
    "project_tags": ["project:tutorial", f"project_branch:user.{USER}"],
    "project_who": USER,
    "recommendations": 5,
    "run_id_seen_by_steps": True,
    "run_pathspec_is_flow_and_id": True,
    "runs_listed": 2,
    "same_run_by_pathspec": True,
    "stats_steps": ["end", "join", "compute_statistics", "start"],
    "step_by_pathspec": "join",
    "steps": ["end", "join", "genre_movies", "bonus_movie", "start"],
    "successful": True,
    "task_by_pathspec": True,
}


def prepare(folder: Path, framework: str) -> Path:
    """The tutorial in ``folder``, importing from ``framework``, with its CSV file."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in sorted(TUTORIAL.glob("*.py")):
        text = source.read_text()
        changed = re.sub(r"^from metaflow import", f"from {framework} import", text, flags=re.M)
        # only the import lines differ
        differing = [
            (a, b) for a, b in zip(text.splitlines(), changed.splitlines(), strict=True) if a != b
        ]
        assert all(a.startswith("from metaflow import") for a, _ in differing)
        (folder / source.name).write_text(changed)
    (folder / "movies.csv").write_text(MOVIES)
    return folder


def user_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SHIPYARD_", "METAFLOW_", "PYTHON"))
    }
    env.update(USER=USER, USERNAME=USER, LOGNAME=USER, **extra)
    return env


def run_tutorial(python: str, folder: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run episodes 00, 01 (twice), 02, 04, a flaky flow and a @project flow, then the
    client script; what it read."""
    commands = [
        ["00_helloworld.py", "run"],
        ["01_playlist.py", "run", "--genre", "Comedy", "--recommendations", "2"],
        ["01_playlist.py", "run"],
        ["02_statistics.py", "run", "--movie_data", "movies.csv"],
        ["03_flaky.py", "run"],
        ["04_playlist_plus.py", "run"],
        ["06_project.py", "run"],
    ]
    for command in commands:
        done = subprocess.run(
            [python, *command], cwd=folder, env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}{done.stderr[-3000:]}"
    done = subprocess.run(
        [python, "05_client.py"], cwd=folder, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("ANSWERS "))
    return json.loads(line.removeprefix("ANSWERS "))  # type: ignore[no-any-return]


@pytest.fixture
def shipyard_answers(tmp_path: Path) -> tuple[dict[str, Any], Path, dict[str, str]]:
    folder = prepare(tmp_path / "shipyard", "shipyard")
    env = user_env(SHIPYARD_HOME=str(tmp_path / "home"), PYTHONPATH=str(SRC))
    return run_tutorial(sys.executable, folder, env), folder, env


def test_the_tutorial_runs_on_shipyard_with_only_the_imports_changed(shipyard_answers):
    answers, _, _ = shipyard_answers
    assert answers == EXPECTED


def test_the_tutorial_runs_are_shipyard_runs_too(shipyard_answers, monkeypatch):
    """The same runs seen from Shipyard's side: a ``shipyard.Run`` is the flow run and
    the tracked run at once; the IncludeFile is an artifact, recorded by its hash."""
    _, _, env = shipyard_answers
    monkeypatch.setenv("SHIPYARD_HOME", env["SHIPYARD_HOME"])
    monkeypatch.setenv("SHIPYARD_USER", USER)
    import shipyard

    run = shipyard.Run("PlayListFlow/1")
    assert (run.id, run.successful, run.data.playlist) == (
        "1",
        True,
        ["Groundhog Day", "Toy Story"],
    )
    assert run.info.kind == "flow" and isinstance(run.info, shipyard.TrackedRun)
    assert run.params["genre"] == "Comedy" and run.params["recommendations"] == "2"
    assert run.params["movie_data"].startswith(f"file of {len(MOVIES)} bytes, sha256 ")
    assert run["start"].task.data.movie_data == MOVIES
    assert shipyard.Flow("PlayListFlow").latest_run.id == "2"
    assert [r.id for r in shipyard.Flow("PlayListFlow")] == ["2", "1"]  # newest first
    task = run["join"].task
    assert task.parent.id == "join" and task.parent.parent.pathspec == "PlayListFlow/1"
    assert task.created_at <= task.finished_at and task.finished and task.exception is None
    assert task.artifacts["bonus"].data == ("Alien", "Horror|Sci-Fi")
    shipyard.namespace("user:nobody")
    try:
        with pytest.raises(shipyard.NotFound, match="namespace"):
            shipyard.Run("PlayListFlow/1")
    finally:
        shipyard.default_namespace()
    assert shipyard.Run(run.tracking_id).pathspec == "PlayListFlow/1"  # by tracking id too
    run.add_tags(["reviewed", "keep"])
    run.replace_tag("keep", "archived")
    assert run.tags == ["archived", "reviewed"] and f"user:{USER}" in run.tags_all
    assert [r.id for r in shipyard.Flow("PlayListFlow").runs("reviewed")] == ["1"]
    run.remove_tag("reviewed")
    assert shipyard.Run("PlayListFlow/1").tags == ["archived"]
    with pytest.raises(shipyard.InvalidArgument):
        run.add_tag("shipyard.project")


@pytest.mark.slow
def test_metaflow_gives_the_same_answers(tmp_path: Path, shipyard_answers):
    """The same flow files under Metaflow itself (local datastore and metadata): its
    client's answers are Shipyard's."""
    from tests.flows.metaflow_venv import python_or_skip

    python = python_or_skip()
    folder = prepare(tmp_path / "metaflow", "metaflow")
    env = user_env(METAFLOW_USER=USER, METAFLOW_DEFAULT_DATASTORE="local")
    env["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = str(folder)
    answers = run_tutorial(str(python), folder, env)
    assert answers == shipyard_answers[0]


def test_what_real_flows_use(tmp_path: Path, monkeypatch):
    """@project, @retry retried at once, @catch and Task.exception, @card, current's
    Metaflow names, and Storage, in one run from the command line."""
    import time

    home = tmp_path / "home"
    env = user_env(SHIPYARD_HOME=str(home), PYTHONPATH=str(SRC))
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).parent / "examples" / "metaflow_extras_flow.py"),
            "run",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert time.monotonic() - started < 60  # the retry did not wait its 2 minutes
    monkeypatch.setenv("SHIPYARD_HOME", str(home))
    monkeypatch.setenv("SHIPYARD_USER", USER)  # the namespace of the user who ran it
    import shipyard

    run = shipyard.Run("ExtrasFlow/1")
    start = run["start"]
    assert [(t.attempt, t.successful) for t in start] == [(1, True)]  # the latest attempt
    assert [t.successful for t in start.attempts()] == [False, True]  # the retry won
    assert start.task.data.attempt == 1
    assert "flaky on the first attempt" in start.attempts()[0].exception.message
    data = start.task.data
    assert (data.who, data.parameter_names, data.production) == (USER, ["size"], False)
    assert data.project == ("tutorial", f"user.{USER}", f"tutorial.user.{USER}.ExtrasFlow")
    assert run.info.project == "tutorial"  # @project: the runs go to that project
    assert {"project:tutorial", f"project_branch:user.{USER}"} <= run.system_tags
    shipyard.namespace("project:tutorial")
    try:
        assert [r.id for r in shipyard.Flow("ExtrasFlow")] == ["1"]
    finally:
        shipyard.default_namespace()
    check = run["check"].task
    assert check.finished and not check.successful  # @catch caught it: the run went on
    assert check.exception is None and check.error == "ValueError: caught, and the run goes on"
    assert check.data.problem.message == "caught, and the run goes on"
    assert (check.data.numbers, check.data.blob) == ("0,1,2", b"\x00\x01")
    assert check.data.keys == ["raw/blob.bin", "raw/numbers.txt"]
    assert data.url.endswith("/storage/ExtrasFlow/1/raw/numbers.txt")
    with shipyard.Storage(run=run) as s:  # after the run, from the client
        assert s.get("raw/numbers.txt").text == "0,1,2"
        with pytest.raises(shipyard.NotFound):
            s.get("raw/missing.txt")
        assert not s.get("raw/missing.txt", return_missing=True).exists
        with pytest.raises(shipyard.InvalidArgument):
            s.get("../escape")
    with shipyard.S3(s3root=s.root) as s3:  # Metaflow's name and argument
        assert s3.get_many(["raw/numbers.txt"])[0].text == "0,1,2"
    card = start.task.card
    assert card is not None and "<td><code>who</code></td>" in card and "tester" in card
    assert run["check"].task.card is None  # only where @card is
    from shipyard.flows.decorators import flow_decorators
    from tests.flows.examples.metaflow_extras_flow import ExtrasFlow

    assert flow_decorators(ExtrasFlow)["schedule"].cron == "0 0 * * *"


@pytest.mark.parametrize(
    ("arguments", "cron"),
    [
        ({"daily": True}, "0 0 * * *"),
        ({"hourly": True}, "0 * * * *"),
        ({"weekly": True}, "0 0 * * 0"),
        ({"cron": "0 3 * * *"}, "0 3 * * *"),
        ({"cron": "0 3 * * *", "timezone": "Europe/Paris"}, "0 3 * * *"),
    ],
)
def test_schedule_takes_metaflow_arguments(arguments, cron):
    from shipyard import FlowSpec, schedule, step
    from shipyard.flows.decorators import flow_decorators

    @schedule(**arguments)
    class Scheduled(FlowSpec):
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert flow_decorators(Scheduled)["schedule"].cron == cron


def test_include_file_reads_the_file_or_says_which(tmp_path: Path):
    from shipyard import IncludeFile
    from shipyard.errors import InvalidFlow

    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    text = IncludeFile("data", default=str(data))
    assert text.check(str(data)) == "a,b\n1,2\n"
    assert text.check(text.parse(str(data))) == "a,b\n1,2\n"  # the command line's way
    assert IncludeFile("data", is_text=False).check(data) == b"a,b\n1,2\n"
    with pytest.raises(InvalidFlow, match="IncludeFile 'data': cannot read"):
        text.check(str(tmp_path / "missing.csv"))


def test_cards_from_the_command_line(tmp_path: Path, monkeypatch):
    from click.testing import CliRunner

    from shipyard.cli.main import cli

    home = tmp_path / "home"
    env = user_env(SHIPYARD_HOME=str(home), PYTHONPATH=str(SRC))
    flow = Path(__file__).parent / "examples" / "metaflow_extras_flow.py"
    done = subprocess.run(
        [sys.executable, str(flow), "run"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    monkeypatch.setenv("SHIPYARD_HOME", str(home))
    runner = CliRunner()
    shown = runner.invoke(cli, ["flows", "card", "ExtrasFlow/1/start"])
    assert shown.exit_code == 0 and "<h1>ExtrasFlow/1/start/" in shown.output
    target = tmp_path / "card.html"
    written = runner.invoke(cli, ["flows", "card", "ExtrasFlow/1/start", "-o", str(target)])
    assert written.exit_code == 0 and target.read_text().startswith("<!doctype html>")
    missing = runner.invoke(cli, ["flows", "card", "ExtrasFlow/1/check"])
    assert missing.exit_code == 1 and "has no card" in missing.output
    unknown = runner.invoke(cli, ["flows", "card", "ExtrasFlow/1/nope"])
    assert unknown.exit_code == 1 and "no step 'nope'" in unknown.output
