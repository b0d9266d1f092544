"""`shipyard init`: each template scaffolds a project whose own tests pass at once (run in a
subprocess with this checkout's shipyard), whose CI workflow has the promised steps, and
bad names or an occupied folder are refused with nothing written."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

SRC = Path(__file__).resolve().parents[2] / "src"

COMMON = {
    "README.md",
    "pyproject.toml",
    "shipyard.toml",
    ".gitignore",
    ".pre-commit-config.yaml",
    ".github/workflows/ci.yml",
    "flows/train.py",
    "src/demo_app/__init__.py",
    "src/demo_app/data.py",
    "tests/conftest.py",
    "tests/test_flow.py",
    "tests/test_model_gate.py",
}
FEATURES = {
    "features/definitions.py",
    "data/customers.csv",
    "data/activity.csv",
    "data/labels.csv",
    "scripts/make_data.py",
    "tests/test_features.py",
}
FULL = {"monitors.yaml", "deploy.yaml", "tests/test_deployment.py"}
FILES = {"basic": COMMON, "features": COMMON | FEATURES, "full": COMMON | FEATURES | FULL}


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def _ci_steps(project: Path) -> dict[str, str]:
    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    assert workflow.get("on") or workflow.get(True)  # YAML 1.1 reads the key `on` as True
    steps = workflow["jobs"]["test"]["steps"]
    assert any(s.get("uses", "").startswith("actions/checkout@") for s in steps)
    return {s["name"]: s["run"] for s in steps if "run" in s}


def _assert_command_exists(group: str, sub: str) -> None:
    """The README and CI name only commands this shipyard has (`init` is no group)."""
    import click

    from shipyard.cli.main import cli

    assert group in cli.commands, f"`shipyard {group}` does not exist"
    command = cli.commands[group]
    if isinstance(command, click.Group) and sub:
        assert sub in command.commands, f"`shipyard {group} {sub}` does not exist"


def _subprocess_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(SRC), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    )
    env.pop("PYTEST_ADDOPTS", None)
    return env


@pytest.mark.parametrize("template", ["basic", "features", "full"])
def test_each_template_renders_every_file(cli, tmp_path, monkeypatch, template):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("init", "demo-app", "--template", template)
    assert (code, err) == (0, "")
    project = tmp_path / "demo-app"
    assert f"created {project}" in out
    assert _files(project) == FILES[template]
    assert _files(tmp_path) == {f"demo-app/{f}" for f in FILES[template]}  # no temp left
    for path in project.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "{{ name }}" not in text and "{{ package }}" not in text, path
    assert 'name = "demo-app"' in (project / "pyproject.toml").read_text()
    assert 'project = "demo-app"' in (project / "shipyard.toml").read_text()
    assert "from demo_app.data import" in (project / "flows" / "train.py").read_text()

    steps = _ci_steps(project)
    runs = "\n".join(steps.values())
    assert "python -m pytest" in steps["Tests"]
    assert "python flows/train.py run" in steps["Flow smoke run"]
    assert "shipyard models promote demo_app" in steps["Promotion gate"]
    assert "--require" in steps["Promotion gate"]
    assert "${{" not in runs  # nothing of GitHub's own syntax was mangled, none needed
    assert ("shipyard features plan --repo features" in runs) == (template != "basic")
    assert ("shipyard monitor apply monitors.yaml" in runs) == (template == "full")
    readme = (project / "README.md").read_text()
    for command in re.findall(r"\bshipyard ([a-z-]+)(?: ([a-z-]+))?", readme + runs):
        _assert_command_exists(*command)
    hooks = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())["repos"]
    assert {"ruff", "ruff-format"} <= {h["id"] for repo in hooks for h in repo["hooks"]}


@pytest.mark.slow
@pytest.mark.parametrize("template", ["basic", "features", "full"])
def test_the_generated_project_passes_its_own_tests(cli, tmp_path, monkeypatch, template):
    monkeypatch.chdir(tmp_path)
    assert cli("init", "demo", "--template", template)[0] == 0
    project = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=_subprocess_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    expected = {"basic": 5, "features": 8, "full": 11}[template]
    assert f"{expected} passed" in done.stdout, done.stdout[-2000:]
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").iterdir()), (
        "the generated tests must use their own temporary store"
    )
    assert not (project / ".shipyard").exists()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="the steps are POSIX shell commands")
@pytest.mark.parametrize("template", ["basic", "features", "full"])
def test_the_ci_workflow_steps_pass(cli, tmp_path, monkeypatch, template):
    """CI's steps after install and tests, as CI runs them: in the project folder, on the
    store shipyard.toml names (.shipyard/ there), with `shipyard` this checkout's."""
    monkeypatch.chdir(tmp_path)
    assert cli("init", "demo", "--template", template)[0] == 0
    project = tmp_path / "demo"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "shipyard").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m shipyard.cli "$@"\n')
    (bin_dir / "shipyard").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["PATH"] = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), env["PATH"]])
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), str(project / "src")])
    ran = []
    for name, command in _ci_steps(project).items():
        if name in ("Install", "Tests") or (name == "Lint" and not shutil.which("ruff")):
            continue
        done = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", command.replace("python ", f"{sys.executable} ")],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, f"step {name!r} failed: {done.stdout}{done.stderr}"
        ran.append(name)
    assert {"Flow smoke run", "Promotion gate"} <= set(ran)
    assert (project / ".shipyard").is_dir()  # the store shipyard.toml names


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
@pytest.mark.parametrize("template", ["basic", "full"])
def test_the_generated_project_is_lint_clean(cli, tmp_path, monkeypatch, template):
    """What its pre-commit hooks and CI's lint step check, from the first commit."""
    monkeypatch.chdir(tmp_path)
    assert cli("init", "demo", "--template", template)[0] == 0
    for command in (["ruff", "check", "."], ["ruff", "format", "--check", "."]):
        done = subprocess.run(
            command, cwd=tmp_path / "demo", capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("Demo", "invalid project name 'Demo'"),
        ("1demo", "invalid project name '1demo'"),
        ("demo--app", "invalid project name 'demo--app'"),
        ("demo app", "invalid project name 'demo app'"),
        ("../demo", "invalid project name '../demo'"),
        ("-demo", "invalid project name '-demo'"),
        ("a" * 65, "invalid project name"),
        ("class", "would shadow a Python module"),
        ("json", "would shadow a Python module"),
        ("shipyard", "would shadow a Python module"),
        ("features", "would shadow a Python module"),
    ],
)
def test_a_bad_name_is_refused_and_nothing_is_written(cli, tmp_path, monkeypatch, name, why):
    monkeypatch.chdir(tmp_path)
    args = ("init", "--", name) if name.startswith("-") else ("init", name)
    code, out, err = cli(*args)
    assert code == 1 and out == ""
    assert err.startswith("error: ") and why in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_never_written_to(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "notes.txt").write_text("mine")
    code, _, err = cli("init", "demo")
    assert code == 1
    assert "already exists and is not an empty folder" in err
    assert _files(tmp_path) == {"demo/notes.txt"}
    assert (tmp_path / "demo" / "notes.txt").read_text() == "mine"

    (tmp_path / "taken").write_text("a file")
    assert cli("init", "taken")[0] == 1
    assert (tmp_path / "taken").read_text() == "a file"


def test_an_empty_folder_is_filled(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo").mkdir()
    assert cli("init", "demo")[0] == 0
    assert _files(tmp_path / "demo") == {f.replace("demo_app", "demo") for f in COMMON}


def test_a_failure_while_writing_leaves_nothing(cli, tmp_path, monkeypatch):
    from shipyard.cli import init

    def broken(text: str, values: dict[str, str]) -> str:
        if "TrainFlow" in text:
            raise OSError(28, "No space left on device")
        return text

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(init, "render", broken)
    with pytest.raises(OSError):
        init.scaffold("demo", "full", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_made_meanwhile_is_not_replaced(tmp_path, monkeypatch):
    """Someone creates the target while the project is being written: the rename at the
    end refuses, their file stays, the half-written project goes."""
    from shipyard.cli import init
    from shipyard.errors import AlreadyExists

    real = init.render

    def racing(text: str, values: dict[str, str]) -> str:
        if not (tmp_path / "demo").exists():
            (tmp_path / "demo").mkdir()
            (tmp_path / "demo" / "theirs.txt").write_text("theirs")
        return real(text, values)

    monkeypatch.setattr(init, "render", racing)
    with pytest.raises(AlreadyExists):
        init.scaffold("demo", "basic", tmp_path)
    assert _files(tmp_path) == {"demo/theirs.txt"}


def test_the_sample_data_is_what_its_script_makes(cli, tmp_path, monkeypatch):
    """The features template ships data/*.csv and the script that made them: running it
    reproduces them byte for byte (so the script is the data's documentation)."""
    monkeypatch.chdir(tmp_path)
    assert cli("init", "demo", "--template", "features")[0] == 0
    data = tmp_path / "demo" / "data"
    shipped = {p.name: p.read_bytes() for p in data.iterdir()}
    shutil.rmtree(data)
    done = subprocess.run(
        [sys.executable, "scripts/make_data.py"],
        cwd=tmp_path / "demo",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert {p.name: p.read_bytes() for p in data.iterdir()} == shipped


def test_help_lists_the_templates(cli):
    code, out, _ = cli("init", "--help")
    assert code == 0 and "basic" in out and "features" in out and "full" in out
    code, _, err = cli("init", "demo", "--template", "huge")
    assert code == 2 and "huge" in err
