"""Docs stay honest: the CLI reference is current, every setting and command is documented."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from shipyard.config import SETTINGS

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts" / "gen_cli_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_generated_from_the_current_help():
    expected = _generator().render()
    assert (ROOT / "docs" / "cli.md").read_text() == expected, (
        "docs/cli.md is stale: python scripts/gen_cli_docs.py > docs/cli.md"
    )


def test_every_setting_is_documented():
    readme = (ROOT / "README.md").read_text()
    page = (ROOT / "docs" / "configuration.md").read_text()
    for setting in SETTINGS:
        assert setting.env_var in readme and setting.env_var in page, setting.name


def test_every_command_group_is_in_the_readme():
    from shipyard.cli.main import cli

    readme = (ROOT / "README.md").read_text()
    for name in cli.commands:
        assert f"`shipyard {name}" in readme, name


def test_readme_gives_the_two_setup_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    test_command = "python -m pip install -e '.[dev]' && python -m pytest"
    assert "python -m pip install -e . && shipyard quickstart" in readme
    assert test_command in readme
    assert test_command in (ROOT / ".ci" / "run").read_text()
