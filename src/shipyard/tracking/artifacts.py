"""Turning files, folders and objects into artifact records backed by blobs."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidArgument, NotFound
from shipyard.tracking.validation import artifact_path

FILE_SERIALIZER = "file"  # bytes of a logged file, returned as a path on download


def files_to_log(local_path: str | Path, artifact_dir: str | None) -> list[tuple[Path, str]]:
    """(local file, artifact path) pairs for a file or a whole folder."""
    source = Path(local_path)
    if source.is_file():
        name = source.name if artifact_dir is None else f"{artifact_dir}/{source.name}"
        return [(source, artifact_path(name))]
    if source.is_dir():
        prefix = "" if artifact_dir is None else f"{artifact_dir}/"
        inside = source.resolve()
        found = []
        for path in sorted(source.rglob("*")):
            if not path.resolve().is_relative_to(inside):  # a link, or under a linked folder
                raise InvalidArgument(
                    f"cannot log {source}: {path} leads to {path.resolve()}, outside the "
                    "folder (a symbolic link); copy the file in, or log it on its own"
                )
            if not path.is_dir():  # a broken link fails loudly rather than being skipped
                found.append((path, artifact_path(prefix + path.relative_to(source).as_posix())))
        return found
    raise NotFound(f"cannot log artifact {source}: no such file or folder")


def dict_bytes(data: Any, path: str) -> bytes:
    if path.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise InvalidArgument(
                "log_dict to a .yaml path needs PyYAML (pip install pyyaml); or use .json"
            ) from None
        return str(yaml.safe_dump(data, sort_keys=False)).encode()
    try:
        return json.dumps(data, indent=2, default=str).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"cannot write {path} as JSON: {exc}") from exc


def figure_bytes(figure: Any, path: str) -> bytes:
    """PNG/SVG/PDF from a matplotlib figure; HTML or images from a plotly figure."""
    buffer = io.BytesIO()
    suffix = Path(path).suffix.lower().lstrip(".") or "png"
    if hasattr(figure, "savefig"):
        figure.savefig(buffer, format=suffix, bbox_inches="tight")
    elif hasattr(figure, "write_html") and suffix == "html":
        return str(figure.to_html()).encode()
    elif hasattr(figure, "write_image"):
        figure.write_image(buffer, format=suffix)
    else:
        raise InvalidArgument(
            f"log_figure takes a matplotlib or plotly figure, not {type(figure).__name__}"
        )
    return buffer.getvalue()
