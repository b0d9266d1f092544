"""Regenerate docs/cli.md from the CLI's own --help (tests/test_docs.py checks it is current).

python scripts/gen_cli_docs.py > docs/cli.md
"""

from __future__ import annotations

import click

from shipyard.cli.main import cli


def _walk(command: click.Command, ctx: click.Context) -> list[click.Context]:
    """Each command's context, chained to its parent's so inherited settings (-h) apply."""
    found = [ctx]
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            child = command.commands[name]
            found += _walk(child, click.Context(child, info_name=name, parent=ctx))
    return found


def render() -> str:
    lines = [
        "# Command-line reference",
        "",
        "Generated from `--help` by `scripts/gen_cli_docs.py`; do not edit by hand.",
        "",
    ]
    root = click.Context(
        cli, info_name="shipyard", terminal_width=80, max_content_width=80, **cli.context_settings
    )
    for ctx in _walk(cli, root):
        lines += [
            f"## `{ctx.command_path}`",
            "",
            "```text",
            ctx.command.get_help(ctx).rstrip(),
            "```",
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
