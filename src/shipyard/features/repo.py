"""A feature repo is a folder of Python files that define entities, sources, views and
services at module level. Loading one executes its files and collects those objects."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidFeature
from shipyard.features.definitions import (
    Entity,
    FeatureService,
    FeatureView,
    OnDemandFeatureView,
)
from shipyard.features.sources import DEFINITION_DIR, Source

SKIP_DIRS = {"__pycache__", "venv", ".venv", "node_modules", "site-packages", "build", "dist"}
DEFINITION_TYPES = (Entity, Source, FeatureView, OnDemandFeatureView, FeatureService)


def repo_files(folder: Path) -> list[Path]:
    """The definition files: ``*.py`` under ``folder``, skipping hidden folders,
    virtualenvs and tests."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(folder).parts
        if any(p.startswith(".") or p in SKIP_DIRS for p in parts[:-1]):
            continue
        if path.name.startswith("test_") or "tests" in parts[:-1]:
            continue
        found.append(path)
    return found


def load_repo(folder: str | Path) -> list[Any]:
    """Every definition object defined at module level in the repo's files."""
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise InvalidFeature(f"feature repo {root} is not a folder")
    objects: list[Any] = []
    seen: set[int] = set()
    for path in repo_files(root):
        for obj in vars(_exec_file(path)).values():
            if isinstance(obj, DEFINITION_TYPES) and id(obj) not in seen:
                seen.add(id(obj))
                objects.append(obj)
    if not objects:
        raise InvalidFeature(
            f"no feature definitions found in {root}: define Entity, FeatureView, ... objects "
            "at module level in its .py files (or pass --repo DIR)"
        )
    return objects


def _exec_file(path: Path) -> Any:
    name = "shipyard_repo_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InvalidFeature(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    token = DEFINITION_DIR.set(path.parent)
    added = str(path.parent) not in sys.path
    if added:
        sys.path.insert(0, str(path.parent))  # sibling imports (from entities import ...)
    try:
        spec.loader.exec_module(module)
    except InvalidFeature as exc:
        raise InvalidFeature(f"{path}: {exc.message}") from exc
    except Exception as exc:
        sys.modules.pop(name, None)
        raise InvalidFeature(f"{path} failed to load: {type(exc).__name__}: {exc}") from exc
    finally:
        DEFINITION_DIR.reset(token)
        if added:
            sys.path.remove(str(path.parent))
    return module
