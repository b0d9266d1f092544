"""`shipyard init NAME`: scaffold a project that passes its own tests at once.

Templates are package data under ``shipyard/templates/``, layered: ``features`` is
``basic`` plus the files of ``templates/features`` (a file of the same path replaces
the lower one), ``full`` is ``features`` plus ``templates/full``. File names encode what
packaging would lose or tools would misread: ``dot_x`` becomes ``.x``, a ``__package__``
folder the project's package, and a ``-tpl`` suffix is dropped (``train.py-tpl``,
``pyproject.toml-tpl``: template sources are not linted, type-checked or collected as
Shipyard's own, and ruff does not take the template folder for a project of its own).
Contents are rendered by replacing ``{{ name }}``, ``{{ package }}`` and
``{{ shipyard_version }}`` only, so other braces (GitHub Actions' ``${{ runner.os }}``)
pass through untouched.

The project is written into a temporary folder beside the target and renamed at the end:
an error leaves nothing behind, and an existing non-empty folder is never written to.
"""

from __future__ import annotations

import keyword
import os
import re
import shutil
import sys
import tempfile
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import click

from shipyard.errors import AlreadyExists, InvalidArgument

TEMPLATES = {"basic": ("basic",), "features": ("basic", "features"),
             "full": ("basic", "features", "full")}  # fmt: skip
NAME_RULE = (
    "lowercase letters and digits, optionally joined by single '-' or '_', starting with a "
    "letter, at most 64 characters (e.g. churn-model)"
)
_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
# Names that would shadow what the project imports or contains.
_RESERVED = frozenset(
    {"shipyard", "flows", "features", "tests", "test", "src", "sklearn", "numpy", "pandas",
     "pyarrow", "duckdb", "scipy", "yaml", "pytest", "setuptools", "pip"}
)  # fmt: skip


def package_name(name: str) -> str:
    """The project's Python package for NAME, or InvalidArgument saying why not."""
    if len(name) > 64 or not _NAME.fullmatch(name):
        raise InvalidArgument(f"invalid project name {name!r}: use {NAME_RULE}")
    package = name.replace("-", "_")
    if keyword.iskeyword(package) or package in _RESERVED or package in sys.stdlib_module_names:
        raise InvalidArgument(
            f"invalid project name {name!r}: its package {package!r} would shadow a Python "
            "module of that name; choose another name"
        )
    return package


def render(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{{ " + key + " }}", value)
    return text


def target_path(relative: str, package: str) -> str:
    parts = []
    for part in relative.split("/"):
        if part == "__package__":
            part = package
        elif part.startswith("dot_"):
            part = "." + part[len("dot_") :]
        parts.append(part.removesuffix("-tpl"))
    return "/".join(parts)


def template_files(template: str) -> dict[str, Traversable]:
    """Relative target-independent path -> source file, upper layers replacing lower ones."""
    root = resources.files("shipyard") / "templates"
    files: dict[str, Traversable] = {}
    for layer in TEMPLATES[template]:
        _walk(root / layer, "", files)
    return files


def _walk(folder: Traversable, prefix: str, into: dict[str, Traversable]) -> None:
    for entry in folder.iterdir():
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue  # caches that tools leave (.ruff_cache, .DS_Store): never part of one
        if entry.is_dir():
            _walk(entry, f"{prefix}{entry.name}/", into)
        else:
            into[prefix + entry.name] = entry


def scaffold(name: str, template: str, parent: Path) -> Path:
    """Write project NAME from TEMPLATE into PARENT/NAME; returns that folder."""
    from shipyard import __version__

    package = package_name(name)
    target = parent / name
    _check_free(target)
    values = {"name": name, "package": package, "shipyard_version": __version__}
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=parent))
    except OSError as exc:
        raise InvalidArgument(
            f"cannot create a project in {parent}: {exc.strerror or exc}; run `shipyard "
            "init` in a folder you can write to"
        ) from exc
    try:
        for relative, source in sorted(template_files(template).items()):
            path = staging / target_path(relative, package)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(source.read_text(encoding="utf-8"), values), "utf-8")
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it private (0700)
        _move_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _check_free(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise AlreadyExists(
            f"{target} already exists and is not an empty folder; choose another name or "
            "run `shipyard init` in another folder"
        )


def _move_into_place(staging: Path, target: Path) -> None:
    """Rename the finished project to its name; refuses (AlreadyExists) if something was
    put there meanwhile, never replacing it."""
    try:
        if target.is_dir():
            target.rmdir()  # empty (checked before); fails if something appeared since
        os.rename(staging, target)  # POSIX replaces only an empty folder
    except OSError as exc:
        _check_free(target)
        raise InvalidArgument(f"cannot create {target}: {exc.strerror or exc}") from exc


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@click.command()
@click.argument("name")
@click.option(
    "--template",
    type=click.Choice(list(TEMPLATES)),
    default="basic",
    show_default=True,
    help="basic: a training flow, tests, a model gate, CI; features: + feature definitions "
    "the flow trains from; full: + monitors and a serving spec.",
)
def init(name: str, template: str) -> None:
    """Create project NAME in a new folder: a training flow, tests (flow smoke test, model
    gate), shipyard.toml, pyproject.toml, a GitHub Actions workflow and pre-commit config,
    passing its own tests at once."""
    target = scaffold(name, template, Path.cwd())
    click.echo(f"created {target} from the {template!r} template")
    click.echo(f'next: cd {name} && pip install -e ".[dev]" && python -m pytest')
