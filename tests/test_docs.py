"""Docs stay honest: the CLI reference and the benchmark tables are current, every setting
and command is documented, every page is in the site's nav, and the site builds with
``mkdocs build --strict``."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmarks_page_is_generated_from_the_benchmarks_readme():
    expected = _load("gen_benchmarks_doc").render()
    assert (ROOT / "docs" / "benchmarks.md").read_text() == expected, (
        "docs/benchmarks.md is stale: python scripts/gen_benchmarks_doc.py > docs/benchmarks.md"
    )


def _nav_pages(entries) -> list[str]:
    """Every page a mkdocs.yml ``nav`` names, however deeply nested."""
    pages = []
    for entry in entries:
        if isinstance(entry, str):
            pages.append(entry)
        elif isinstance(entry, dict):
            for value in entry.values():
                pages += [value] if isinstance(value, str) else _nav_pages(value)
    return pages


def test_every_docs_page_is_in_the_site_nav_and_every_nav_page_exists():
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    nav = _nav_pages(config["nav"])
    docs = ROOT / "docs"
    pages = sorted(p.relative_to(docs).as_posix() for p in docs.rglob("*.md"))
    assert sorted(set(pages) - set(nav)) == [], "pages missing from mkdocs.yml's nav"
    assert sorted(set(nav) - set(pages)) == [], "nav entries without a page"
    assert len(nav) == len(set(nav)), "a page is in the nav twice"


def test_the_deployment_example_is_the_one_in_the_page():
    page = (ROOT / "docs" / "deployment.md").read_text()
    compose = (ROOT / "deploy" / "compose.yaml").read_text()
    assert f"```yaml\n{compose}```" in page, (
        "docs/deployment.md must show deploy/compose.yaml exactly, in a ```yaml block"
    )


def test_the_deployment_example_names_real_settings():
    """Every SHIPYARD_* variable the example and the page set is a setting (or one of the
    few variables read outside config.py)."""
    import re

    known = {s.env_var for s in SETTINGS} | {"SHIPYARD_USER"}
    for path in ("deploy/compose.yaml", "docs/deployment.md", "docs/scaling.md"):
        named = set(re.findall(r"SHIPYARD_[A-Z_]+", (ROOT / path).read_text()))
        assert named <= known, (path, sorted(named - known))


@pytest.mark.docs
@pytest.mark.slow
def test_the_site_builds_in_strict_mode(tmp_path):
    """`mkdocs build --strict`: every nav page exists, no broken link or anchor between
    pages, the API reference renders from the docstrings. Needs the ``docs`` extra; with
    SHIPYARD_TEST_DOCS=1 (CI) a skip fails the run (tests/conftest.py)."""
    for module in ("mkdocs", "material", "mkdocstrings_handlers.python"):
        if importlib.util.find_spec(module.split(".")[0]) is None or (
            "." in module and importlib.util.find_spec(module) is None
        ):
            pytest.skip(f"building the docs needs {module}: pip install -e '.[docs]'")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "api" / "index.html").is_file()
    assert "shipyard.start_run" in (tmp_path / "api" / "index.html").read_text()
