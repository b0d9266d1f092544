"""A schemathesis run over ``/openapi.json``: whatever a client sends, the server answers
with no 5xx and with a body that fits the schema the document declares for its status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
)

from shipyard.server import create_app  # noqa: E402
from shipyard.server.run import ServerThread  # noqa: E402
from shipyard.tracking import Client  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    home: Path = tmp_path_factory.mktemp("fuzz")
    client = Client(uri=f"sqlite:///{home / 'shipyard.db'}", artifact_uri=str(home / "blobs"))
    run = client.create_run("p", "seed", params={"a": "1"}, capture_code=False)
    client.log_metric(run.id, "loss", 0.5)
    client.flush()
    server = ServerThread(create_app(client)).start()
    yield server
    server.stop()
    client.close()


def test_no_5xx_and_no_schema_violation(fuzzed_server: ServerThread) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed_server.url}/openapi.json")
    failures: list[str] = []
    operations = [
        result.ok()
        for result in schema.get_all_operations()
        if result.ok().path.startswith("/api/v1/")
    ]
    assert len(operations) > 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            case.call_and_validate(
                checks=[not_a_server_error, response_schema_conformance, content_type_conformance]
            )

        try:
            check()
        except Exception as exc:  # every operation is fuzzed; all failures are reported
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:2000])
    assert not failures, "\n\n".join(failures)
