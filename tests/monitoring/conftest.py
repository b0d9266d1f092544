"""Fixtures shared by the monitoring tests."""

from tests.cli.conftest import cli  # noqa: F401  (the `shipyard` command in-process)
