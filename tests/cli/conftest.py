"""Running the `shipyard` command in-process for tests."""

from __future__ import annotations

import pytest

from shipyard.cli.main import main


@pytest.fixture
def cli(capsys):
    """cli(*args) -> (exit code, stdout, stderr) of `shipyard ARGS`."""

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exit_info:
            main([*args])
            raise SystemExit(0)
        captured = capsys.readouterr()
        return exit_info.value.code or 0, captured.out, captured.err

    return run
