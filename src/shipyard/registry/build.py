"""Build a self-contained folder for one model version, ready for ``docker build``:

    DIR/model/                      the model's files + shipyard-version.json (its record)
    DIR/requirements.txt            the model's pinned requirements, Shipyard and its
                                    dependencies pinned as installed here
    DIR/wheels/shipyard-*.whl       only when Shipyard is not installed from an index
    DIR/Dockerfile                  runs `shipyard serve /model` on port 8080
    DIR/README.md                   how to build and run it

The folder needs no metadata store: ``load_model_dir`` reads the model and its record
from ``model/``. It is written into a temporary sibling and renamed into place, so DIR is
either the complete build or absent, never half-written.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from shipyard._names import model_name
from shipyard.errors import AlreadyExists, Conflict
from shipyard.registry.archives import unpack
from shipyard.registry.models import VERSION_FILE, version_document
from shipyard.store.base import ModelVersionRecord

if TYPE_CHECKING:
    from shipyard.registry.models import ModelRegistry

PORT = 8080
WHEEL_TIMEOUT_SECONDS = 600
_REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?P<extras>\[[^\]]*\])?"
    r"[^;]*(?:;\s*(?P<marker>.+))?$"
)
_SOURCE_JUNK = (
    ".git", ".hg", ".venv", "venv", ".tox", "build", "dist", "*.egg-info", "__pycache__",
    ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis", "node_modules",
)  # fmt: skip


@dataclass(frozen=True)
class ShipyardSource:
    """How the folder installs Shipyard: a requirement line, and a caveat for the README."""

    requirement: str
    note: str = ""


def build_model(
    registry: ModelRegistry, uri: str, out_dir: str | Path, *, force: bool = False
) -> Path:
    """Write the folder for ``uri`` (NAME@ALIAS, NAME/VERSION or a models:/ URI) at
    ``out_dir``; refuses a non-empty folder unless ``force`` and it is a previous build."""
    record = registry.find_version(uri).record
    model_name(record.name)  # a model named before the rule existed may not suit a Docker tag
    target = Path(out_dir).expanduser().absolute()
    _check_target(target, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.building-"))
    try:
        _write_model(registry, record, staging / "model")
        source = shipyard_source(staging / "wheels")
        _write_text(staging / "requirements.txt", requirements_txt(record, source))
        _write_text(staging / "Dockerfile", dockerfile(record, wheels=_has_wheels(staging)))
        _write_text(staging / "README.md", readme(record, uri, source))
        _swap_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


# -- the target folder -------------------------------------------------------------------


def _check_target(target: Path, force: bool) -> None:
    """--force replaces only a previous build, so a typo cannot delete someone's work."""
    if target.exists() and not target.is_dir():
        raise AlreadyExists(f"{target} is a file; give a folder to build into")
    if not target.is_dir() or not any(target.iterdir()):
        return
    if not force:
        raise AlreadyExists(
            f"{target} is not empty; choose a new folder, or pass --force to replace a "
            "previous build there"
        )
    if not (target / "model" / VERSION_FILE).is_file():
        raise Conflict(
            f"{target} is not empty and is not a folder written by `shipyard models build`; "
            "--force only replaces a previous build, so choose another folder"
        )


def _swap_into_place(staging: Path, target: Path) -> None:
    """The complete build takes the target's place; a replaced build is deleted after."""
    if not target.exists():
        os.replace(staging, target)
        return
    if not any(target.iterdir()):
        target.rmdir()
        os.replace(staging, target)
        return
    old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
    os.replace(target, old)  # an empty directory may be replaced by a rename
    try:
        os.replace(staging, target)
    except OSError:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _write_model(registry: ModelRegistry, record: ModelVersionRecord, folder: Path) -> None:
    packed = registry.client.blobs.get_bytes(record.blob_hash)  # verified against its hash
    unpack(packed, folder)
    document = json.dumps(version_document(record), indent=2, sort_keys=True, default=str)
    _write_text(folder / VERSION_FILE, document + "\n")


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _has_wheels(folder: Path) -> bool:
    return any((folder / "wheels").glob("*.whl"))


# -- Shipyard itself -------------------------------------------------------------------


def shipyard_source(wheels: Path) -> ShipyardSource:
    """From an index: pin the version. From a local checkout (editable or not) or a local
    wheel: put a wheel in ``wheels``, since the image cannot reach this machine's files."""
    dist = metadata.distribution("shipyard")
    direct = dist.read_text("direct_url.json")
    if direct is None:
        return ShipyardSource(f"shipyard=={dist.version}")
    info = json.loads(direct)
    url = str(info.get("url", ""))
    vcs = info.get("vcs_info")
    if vcs:
        return ShipyardSource(f"shipyard @ {vcs['vcs']}+{url}@{vcs.get('commit_id', '')}")
    if not url.startswith("file:"):
        return ShipyardSource(f"shipyard @ {url}")
    path = Path(unquote(urlparse(url).path))
    if path.is_file() and path.suffix == ".whl":
        wheels.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, wheels / path.name)
        return ShipyardSource(f"./wheels/{path.name}")
    if path.is_dir():
        return _built_wheel(path, wheels, dist.version)
    return _unbuildable(dist.version, f"it was installed from {url}, which is gone")


def _built_wheel(source: Path, wheels: Path, version: str) -> ShipyardSource:
    """pip wheel from a copy of the checkout: building in place would leave build/ there
    and collide with another build running at the same time."""
    with tempfile.TemporaryDirectory(prefix="shipyard-src-") as tmp:
        copy = Path(tmp) / "src"
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns(*_SOURCE_JUNK))
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels)]
        try:
            done = subprocess.run(
                [*command, str(copy)],
                capture_output=True,
                text=True,
                timeout=WHEEL_TIMEOUT_SECONDS,
                cwd=tmp,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return _unbuildable(version, f"`pip wheel {source}` did not finish: {exc}")
    built = sorted(wheels.glob("shipyard-*.whl"))
    if done.returncode != 0 or not built:
        tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        return _unbuildable(version, f"`pip wheel {source}` failed: {tail}")
    return ShipyardSource(f"./wheels/{built[-1].name}")


def _unbuildable(version: str, why: str) -> ShipyardSource:
    return ShipyardSource(
        f"shipyard=={version}",
        f"Shipyard {version} here is not from a package index and no wheel of it could be "
        f"made ({why}). Put a wheel of it in wheels/ and replace the `shipyard==` line of "
        "requirements.txt with its path (./wheels/NAME.whl), or the image will install "
        "whatever the index calls shipyard.",
    )


# -- generated files ---------------------------------------------------------------------


def requirements_txt(record: ModelVersionRecord, source: ShipyardSource) -> str:
    """The model's own pins win over Shipyard's: they are what it was trained with."""
    own = [r.strip() for r in record.requirements if r.strip()]
    taken = {_normalized(m["name"]) for r in own if (m := _REQUIREMENT.match(r))}
    taken.add("shipyard")
    lines = [
        f"# models:/{record.name}/{record.version}: the model's requirements, then Shipyard",
        "# and its dependencies pinned as installed where this folder was built.",
        *own,
        source.requirement,
        *pinned_dependencies(taken),
    ]
    return "\n".join(lines) + "\n"


def pinned_dependencies(skip: set[str]) -> list[str]:
    """Shipyard's own (non-extra) dependencies at the versions installed here."""
    pinned = []
    for spec in metadata.requires("shipyard") or []:
        match = _REQUIREMENT.match(spec)
        if match is None or "extra" in (match["marker"] or ""):
            continue
        name = match["name"]
        if _normalized(name) in skip:
            continue
        try:
            line = f"{name}{match['extras'] or ''}=={metadata.version(name)}"
        except metadata.PackageNotFoundError:
            line = spec.split(";")[0].strip()
        pinned.append(f"{line}; {match['marker']}" if match["marker"] else line)
    return pinned


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dockerfile(record: ModelVersionRecord, wheels: bool) -> str:
    """The image's Python is the one that pinned the requirements: pins and pickles made
    under one interpreter are only known to work under the same one."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    health = f"http://127.0.0.1:{PORT}/health"
    probe = f"import urllib.request; urllib.request.urlopen('{health}', timeout=4)"
    lines = [
        f"# models:/{record.name}/{record.version}, written by `shipyard models build`",
        f"FROM python:{python}-slim",
        "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \\",
        "    PIP_DISABLE_PIP_VERSION_CHECK=1",
        "WORKDIR /srv",
        "COPY requirements.txt ./",
        *(["COPY wheels/ ./wheels/"] if wheels else []),
        "RUN pip install -r requirements.txt",
        "COPY model/ /model/",
        "RUN useradd --create-home shipyard",
        "USER shipyard",
        f"EXPOSE {PORT}",
        "HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \\",
        f'  CMD ["python", "-c", "{probe}"]',
        f'CMD ["shipyard", "serve", "/model", "--host", "0.0.0.0", "--port", "{PORT}"]',
    ]
    return "\n".join(lines) + "\n"


def readme(record: ModelVersionRecord, uri: str, source: ShipyardSource) -> str:
    tag = f"{record.name.lower()}:{record.version}"
    lines = [
        f"# {record.name} version {record.version}, ready to serve",
        "",
        f"Written by `shipyard models build {uri}` from models:/{record.name}/"
        f"{record.version} ({record.flavor} flavor). Nothing here needs the Shipyard store.",
        "",
        "- `model/`: the model's files; `model/shipyard-version.json` is its registry record",
        "- `requirements.txt`: pinned requirements (the model's own first)",
        *(
            ["- `wheels/`: Shipyard itself, built from the checkout it was installed from"]
            if source.requirement.startswith("./wheels/")
            else []
        ),
        "- `Dockerfile`: serves the model with `shipyard serve` on port 8080",
        "",
        "## With Docker",
        "",
        "```sh",
        f"docker build -t {tag} .",
        f"docker run --rm -p {PORT}:{PORT} {tag}",
        f"curl http://localhost:{PORT}/health",
        "```",
        "",
        "## Without Docker",
        "",
        "```sh",
        "python -m venv .venv && . .venv/bin/activate",
        "pip install -r requirements.txt",
        f"shipyard serve model --port {PORT}",
        "```",
    ]
    if source.note:
        lines += ["", "## Before you build", "", source.note]
    return "\n".join(lines) + "\n"
