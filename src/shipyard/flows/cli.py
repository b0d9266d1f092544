"""The command line of a flow file: ``python flow.py run|show``, built from its parameters."""

from __future__ import annotations

import atexit
import os
import sys
import time
from typing import Any, NoReturn

import click

from shipyard.errors import ShipyardError
from shipyard.flows.spec import _execute

EXECUTOR_NAMES = ("local", "ray")
EXECUTOR_HELP = (
    "Where tasks run: local worker processes or a Ray cluster "
    "(default: the executor setting, SHIPYARD_EXECUTOR, else local)."
)
RAY_ADDRESS_HELP = (
    "With --executor ray: the cluster to connect to, host:6379 or ray://host:10001 "
    "(default: the ray_address setting, else a local Ray)."
)


def _command_group(flow_cls: Any) -> click.Group:
    name = flow_cls.__name__

    @click.group(help=(flow_cls.__doc__ or name).strip())
    def group() -> None:
        pass

    @group.command(help="Print the steps of the flow and how they connect.")
    def show() -> None:
        click.echo(flow_cls.graph().render())

    def run(
        max_workers: int | None,
        tag: tuple[str, ...],
        executor: str | None,
        ray_address: str | None,
        **given: str | None,
    ) -> None:
        declared = flow_cls.parameters()
        values = {}
        for option, raw in given.items():
            if raw is not None:
                param = _by_option(declared, option)
                values[param.name] = param.parse(raw)
        started = time.perf_counter()
        run = _execute(
            flow_cls, max_workers, tag, executor, values, None, None, True, True, ray_address
        )
        click.echo(f"{run.pathspec} finished in {time.perf_counter() - started:.2f} s")

    @group.command(help="Print a task's output: RUN/STEP[/TASK], e.g. 12/train.")
    @click.argument("pathspec")
    @click.option("--stderr", is_flag=True, help="Show stderr instead of stdout.")
    def logs(pathspec: str, stderr: bool) -> None:
        from shipyard.flows.client import task_logs

        click.echo(
            task_logs(f"{name}/{pathspec.strip('/')}", "stderr" if stderr else "stdout"), nl=False
        )

    @group.command(help="Run again from where a run stopped, reusing its finished tasks.")
    @click.argument("step", required=False)
    @click.option("--origin-run-id", default=None, help="Run number to resume (default: latest).")
    @click.option("--max-workers", type=int, default=None, help="Tasks that may run at once.")
    @click.option("--tag", multiple=True, help="Tag the run (repeatable).")
    @click.option("--executor", type=click.Choice(EXECUTOR_NAMES), default=None, help=EXECUTOR_HELP)
    @click.option("--ray-address", default=None, help=RAY_ADDRESS_HELP)
    def resume(
        step: str | None,
        origin_run_id: str | None,
        max_workers: int | None,
        tag: tuple[str, ...],
        executor: str | None,
        ray_address: str | None,
    ) -> None:
        started = time.perf_counter()
        origin = origin_run_id or "latest"
        run = _execute(
            flow_cls, max_workers, tag, executor, {}, origin, step, True, True, ray_address
        )
        click.echo(
            f"{run.pathspec} finished in {time.perf_counter() - started:.2f} s "
            f"(resumed {name}/{run.origin_number})"
        )

    options: list[click.Parameter] = [
        click.Option(
            ["--max-workers"],
            type=int,
            default=None,
            help="Tasks that may run at once (default: the number of CPUs).",
        ),
        click.Option(["--tag"], multiple=True, help="Tag the run (repeatable)."),
        click.Option(
            ["--executor"], type=click.Choice(EXECUTOR_NAMES), default=None, help=EXECUTOR_HELP
        ),
        click.Option(["--ray-address"], default=None, help=RAY_ADDRESS_HELP),
    ]
    for param in flow_cls.parameters().values():
        options.append(
            click.Option(
                [f"--{param.name}"],
                type=str,
                default=None,
                required=False,
                help=f"{param.help} [{param.type_name}"
                + (f", default {param.default!r}]" if param.has_default else "]"),
            )
        )
    group.add_command(
        click.Command(
            "run", callback=run, params=options, help="Run the flow (here, or on Ray: --executor)."
        )
    )
    return group


def _by_option(declared: dict[str, Any], option: str) -> Any:
    """The parameter behind a click keyword (click turns --learning-rate into learning_rate)."""
    for param in declared.values():
        if param.name.replace("-", "_").lower() == option:
            return param
    raise click.UsageError(f"unknown option {option}")


def main(flow_cls: type, argv: list[str] | None = None) -> NoReturn:
    args = sys.argv[1:] if argv is None else argv
    try:
        _command_group(flow_cls).main(args=args, prog_name=sys.argv[0], standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        _exit(exc.exit_code)
    except click.exceptions.Abort:
        _exit(1)
    except ShipyardError as exc:
        if "--debug" in args:
            raise
        click.echo(f"error: {exc.message}", err=True)
        _exit(1)
    _exit(0)


def _exit(code: int) -> NoReturn:
    """Leave without the interpreter's teardown (~0.1 s freeing SQLAlchemy's objects): the
    runs are ended by now; exit handlers (metric flushes) still run first."""
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
