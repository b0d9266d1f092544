"""What authentication costs a request on the team server.

Method: one app over one store, served by uvicorn in a thread on loopback, with auth off
and then on (the same user's token sent both times); per trial, one client sends N
``GET /api/v1/runs/{id}`` and N ``POST /api/v1/runs/{id}/log-batch`` (10 points each) in a
closed loop. Trials alternate off/on so that a change in the machine's speed hits both;
the median of ``--repeat`` trials is reported, and the ratio. A token is checked against
the store at most every 2 s (then remembered), and every request resolves the projects it
touches (a run id to its project, cached) and checks the caller's roles.
Target: auth on costs < 15 % per request.
"""

from __future__ import annotations

import time
import warnings

import _common
import httpx

N = 1_000
TARGET = 1.15


def _trial(client: object, token: str, run_id: str, auth: bool) -> tuple[float, float]:
    from shipyard.server import create_app
    from shipyard.server.auth import AuthConfig
    from shipyard.server.run import ServerThread

    server = ServerThread(create_app(client, AuthConfig(enabled=auth))).start()  # type: ignore[arg-type]
    body = {
        "metrics": [{"key": "m", "value": 1.0, "step": i, "timestamp_ms": 1} for i in range(10)]
    }
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=server.url, headers=headers) as http:
            for _ in range(100):  # warm up: connections, caches
                http.get(f"/api/v1/runs/{run_id}").raise_for_status()
            start = time.perf_counter()
            for _ in range(N):
                http.get(f"/api/v1/runs/{run_id}").raise_for_status()
            read = (time.perf_counter() - start) / N
            start = time.perf_counter()
            for _ in range(N):
                http.post(f"/api/v1/runs/{run_id}/log-batch", json=body).raise_for_status()
            write = (time.perf_counter() - start) / N
    finally:
        server.stop()
    return read, write


def main() -> None:
    args = _common.parser(__doc__).parse_args()
    _common.header("Auth overhead per request", args.uri)
    warnings.simplefilter("ignore")
    with _common.bench_store(args.uri):
        from shipyard import governance
        from shipyard.tracking import Client

        client = Client()
        governance.create_user("bench")
        governance.grant_role("bench", "*", "editor")
        token, _ = governance.create_token("bench")
        run_id = client.create_run("bench", "target", capture_code=False).id
        figures: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        for _ in range(args.repeat):
            for auth in (False, True):
                figures[auth].append(_trial(client, token, run_id, auth))
        client.close()
    for label, index in (("GET /runs/{id}", 0), ("POST log-batch (10 points)", 1)):
        off = _common.median([f[index] for f in figures[False]])
        on = _common.median([f[index] for f in figures[True]])
        measured = f"{off * 1000:.2f} -> {on * 1000:.2f} ms ({on / off:.2f}x)"
        print(
            _common.line(
                f"auth on vs off, {label}", measured, f"< {TARGET:.2f}x", on / off < TARGET
            )
        )


if __name__ == "__main__":
    main()
