"""Regenerate docs/cli.md from the CLI's own --help (tests/test_docs.py checks it is current).

python scripts/gen_cli_docs.py > docs/cli.md
"""

from __future__ import annotations

import click

from shipyard.cli.main import cli


def _walk(command: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            found += _walk(command.commands[name], [*path, name])
    return found


def render() -> str:
    lines = [
        "# Command-line reference",
        "",
        "Generated from `--help` by `scripts/gen_cli_docs.py`; do not edit by hand.",
        "",
    ]
    for path, command in _walk(cli, ["shipyard"]):
        context = click.Context(
            command, info_name=" ".join(path), terminal_width=80, max_content_width=80
        )
        lines += [
            f"## `{' '.join(path)}`",
            "",
            "```text",
            command.get_help(context).rstrip(),
            "```",
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
