"""The options of commands that can run on Ray: ``--executor``, ``--ray-address`` and
``--workers``, with the same defaults (the ``executor`` and ``ray_address`` settings)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


def ray_options(what: str, workers: str) -> Callable[[Any], Any]:
    """``--executor local|ray`` (``what``: what runs on Ray), ``--ray-address`` and
    ``--workers`` (``workers``: what the actors do)."""

    def decorate(command: Any) -> Any:
        for option in reversed(
            (
                click.option(
                    "--executor",
                    type=click.Choice(["local", "ray"]),
                    default=None,
                    help=f"{what} Default: ray if the executor setting is ray, else local.",
                ),
                click.option(
                    "--ray-address",
                    default=None,
                    help="The Ray cluster (host:6379, ray://host:10001). Default: the "
                    "ray_address setting, else a local Ray.",
                ),
                click.option(
                    "--workers",
                    type=click.IntRange(1),
                    default=None,
                    help=f"Ray actors {workers}. Default: the cluster's CPUs.",
                ),
            )
        ):
            command = option(command)
        return command

    return decorate
