"""The public surface is deliberate: adding or removing a name must be a conscious change."""

import ast
import subprocess
import sys
from pathlib import Path

import shipyard

EXPECTED = {
    "PythonModel",
    "load_model",
    "log_labels",
    "promote_model",
    "register_model",
    "set_model_alias",
    "ActiveRun",
    "AlreadyExists",
    "Client",
    "Conflict",
    "FilterSyntaxError",
    "InvalidArgument",
    "Metric",
    "NotFound",
    "Project",
    "Run",
    "RunStatus",
    "ShipyardError",
    "__version__",
    "active_run",
    "autolog",
    "end_run",
    "get_metric_history",
    "get_run",
    "list_projects",
    "load_artifact",
    "log_artifact",
    "log_dict",
    "log_figure",
    "log_metric",
    "log_metrics",
    "log_object",
    "log_param",
    "log_params",
    "log_text",
    "register_serializer",
    "search_runs",
    "set_tag",
    "set_tags",
    "start_run",
    # the flows authoring API, under Metaflow's names
    "FlowSpec",
    "JSONType",
    "Parameter",
    "catch",
    "current",
    "environment",
    "resources",
    "retry",
    "step",
    "timeout",
}


def test_all_is_pinned():
    assert set(shipyard.__all__) == EXPECTED


def test_every_exported_name_exists():
    for name in shipyard.__all__:
        assert hasattr(shipyard, name), name


def test_import_is_light():
    """`import shipyard` must not pull in the heavy libraries (they load where used)."""
    code = (
        "import sys, shipyard; "
        "heavy = [m for m in ('sqlalchemy', 'pandas', 'pyarrow', 'numpy', 'sklearn', "
        "'alembic', 'fastapi', 'duckdb', 'ray', 'fsspec', 'psutil') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


POSIX_ONLY = {"fcntl", "termios", "pwd", "grp", "resource", "posix", "tty", "pty"}


def test_no_posix_only_imports():
    """Shipyard must import on Windows: no POSIX-only module anywhere in its source."""
    offenders = []
    for path in Path(shipyard.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in POSIX_ONLY]
    assert offenders == []
