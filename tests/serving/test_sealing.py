"""`shipyard serve` seals the prediction log's segments in a child process, only once an
hour it logged is due: the server's flusher thread never runs the sealing itself."""

from __future__ import annotations

import sys
import time

from shipyard.serving.predlog import LoggedBatch, PredictionLogger, new_ids
from shipyard.serving.sealing import ChildSealer, is_due
from shipyard.store.log_segments import GRACE_MS, SEGMENT_MS

HOUR = SEGMENT_MS
NOW = 100 * HOUR + 30 * 60_000  # half past an hour


def recorder(tmp_path, exit_code=0):
    """A child command that appends its arguments to a file, then exits with exit_code."""
    out = tmp_path / "calls.txt"
    code = (
        "import sys; "
        f"open({str(out)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n'); "
        f"sys.exit({exit_code})"
    )
    return [sys.executable, "-c", code], out


def test_an_hour_is_due_a_grace_period_after_it_ends():
    start = 99 * HOUR
    assert is_due(start + 10, start + HOUR + GRACE_MS)
    assert not is_due(start + 10, start + HOUR + GRACE_MS - 1)
    assert not is_due(NOW, NOW + HOUR // 2)  # its hour ends at 101 h, due at 101 h + grace


def test_the_child_starts_only_for_models_with_a_due_hour(tmp_path):
    command, out = recorder(tmp_path)
    sealer = ChildSealer(command)
    sealer.wrote([("churn", NOW - 10), ("score", NOW - 5)])  # this hour: nothing due yet
    assert not sealer.check(NOW)
    sealer.wrote([("churn", NOW - HOUR)])  # the last hour, ended 30 minutes ago
    assert sealer.check(NOW) and sealer.wait(10) == 0
    assert out.read_text() == "churn\n"
    # churn's newest call is in the running hour: due once that hour is over
    assert not sealer.check(NOW)
    assert sealer.check(NOW + HOUR) and sealer.wait(10) == 0
    assert out.read_text().splitlines() == ["churn", "churn score"]
    assert not sealer.check(NOW + 10 * HOUR)  # nothing written since


def test_one_child_at_a_time_and_a_failed_one_is_retried(tmp_path):
    command, out = recorder(tmp_path, exit_code=1)
    sealer = ChildSealer([*command[:2], "import time; time.sleep(0.5); " + command[2]])
    sealer.wrote([("churn", NOW - HOUR)])
    assert sealer.check(NOW)
    sealer.wrote([("score", NOW - HOUR)])
    assert not sealer.check(NOW)  # the first child still runs
    assert sealer.wait(10) == 1
    assert sealer.check(NOW)  # churn again (its child failed), with score
    sealer.wait(10)
    assert out.read_text().splitlines() == ["churn", "churn score"]


def test_the_logger_hands_due_hours_to_a_real_child(shipyard_client):
    """The child opens the store from the environment, like the server that started it."""
    store = shipyard_client.store.predictions
    sealer = ChildSealer()
    logger = PredictionLogger(store, interval=60, blobs=shipyard_client.blobs, sealer=sealer)
    now = time.time_ns() // 1_000_000
    first = (now // HOUR - 3) * HOUR
    for k in range(2):
        ts = first + k * HOUR
        logger.log(
            LoggedBatch(new_ids(2, ts), ts, "m", 1, "a", False, 1.0, {"x": [k, k]}, None, [k, k])
        )
    logger.log(LoggedBatch(new_ids(1, now), now, "m", 1, "a", False, 1.0, {"x": [9]}, None, [9]))
    assert logger.flush() == 5
    logger._seal_pass()
    assert sealer.wait(120) == 0
    assert [(s.first_ts_ms, s.calls) for s in store.list_segments("m")] == [
        (first, 1),
        (first + HOUR, 1),
    ]


def test_a_server_that_owns_its_store_seals_in_a_child(shipyard_home, churn_model):
    from shipyard.serving import Deployment
    from shipyard.serving.service import PredictionService

    service = PredictionService(Deployment.from_flags("churn@production"))
    try:
        assert isinstance(service.logger.sealer, ChildSealer)
    finally:
        service.close()
