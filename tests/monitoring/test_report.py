"""report(): one self-contained HTML file per model version, written atomically, with a
section and a plot per feature, the drifted feature named, every user string escaped; and
`shipyard monitor report` refusing an unknown model or an empty window in one line."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

import shipyard.serving
from shipyard._clock import to_millis
from shipyard.errors import InvalidArgument, NotFound
from shipyard.monitoring import report
from shipyard.monitoring.monitors import Monitor
from shipyard.monitoring.runner import run_monitors
from shipyard.registry import ModelRegistry
from shipyard.serving.predlog import LoggedBatch, PredictionLogger, new_ids

SCRIPT = "<script>alert(1)</script>"
NUMERIC = [*(f"n{i}" for i in range(13)), SCRIPT]  # 14 numeric features
CATEGORICAL = [f"c{i}" for i in range(6)]  # 6 categorical ones
CATEGORIES = ["red", "green", "blue", "<b>bold</b>"]


def _frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {name: rng.normal(0, 1, rows) for name in NUMERIC}
    data.update({name: rng.choice(CATEGORIES, rows) for name in CATEGORICAL})
    frame = pd.DataFrame(data)
    frame["n0"] += shift
    return frame


def _register(client) -> int:  # type: ignore[no-untyped-def]
    reference = _frame(2000, 0)
    model = DummyClassifier(strategy="most_frequent").fit(reference, np.zeros(len(reference)))
    registry = ModelRegistry(client)
    version = registry.register_model("churn", model, reference=reference).version
    registry.set_alias("churn", "production", version)
    return version


def _log(client, version: int, rows: int = 600, shift: float = 2.0, labels: bool = True) -> None:  # type: ignore[no-untyped-def]
    """``rows`` predictions over the last three hours, ``n0`` shifted by ``shift``."""
    frame = _frame(rows, 1, shift)
    rng = np.random.default_rng(2)
    outputs = rng.integers(0, 2, rows).tolist()
    log = PredictionLogger(client.store.predictions, interval=60, blobs=client.blobs)
    now = to_millis(client.clock.now())
    ids: list[str] = []
    for start in range(0, rows, 50):
        ts = now - 3 * 3_600_000 + start * 15_000
        part = frame.iloc[start : start + 50]
        ids += new_ids(len(part), ts)
        inputs = {c: part[c].tolist() for c in part.columns}
        latency, answers = 2.0 + start % 7, outputs[start : start + 50]
        log.log(LoggedBatch(ids[-len(part):], ts, "churn", version, "production", False,
                            latency, inputs, None, answers))  # fmt: skip
    log.flush()
    if labels:
        shipyard.serving.log_labels(ids, [int(x) for x in rng.integers(0, 2, rows)])


@pytest.fixture
def cli(capsys):  # type: ignore[no-untyped-def]
    """cli(*args) -> (exit code, stdout, stderr) of `shipyard ARGS`."""
    from shipyard.cli.main import main

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exit_info:
            main([*args])
            raise SystemExit(0)
        captured = capsys.readouterr()
        return exit_info.value.code or 0, captured.out, captured.err

    return run


@pytest.fixture
def served(shipyard_client):  # type: ignore[no-untyped-def]
    version = _register(shipyard_client)
    _log(shipyard_client, version)
    return shipyard_client


def test_a_self_contained_report_with_a_plot_per_feature(served, tmp_path: Path) -> None:
    run_monitors(
        Monitor("drift", model="churn@production", check="drift", features=["n0", "n1"],
                window="1d"),
        client=served,
    )  # fmt: skip
    out = report("churn@production", tmp_path / "nested" / "report.html", client=served)
    assert out == (tmp_path / "nested" / "report.html").resolve()
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    # nothing fetched: no external source, link, import or URL at all
    for needle in ('src="http', 'href="http', "@import", "http://", "https://", "<img", "<link"):
        assert needle not in text, needle
    assert re.findall(r"url\((?!#)", text) == []  # only references inside the page
    assert "<script" not in text.lower()  # no script, and the feature named so is escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;b&gt;bold&lt;/b&gt;" in text and "<b>bold</b>" not in text
    # one section per feature, each with its plot; the drifted one named in the summary
    cards = re.findall(r'<div class="feature[^"]*" id="f\d+"><h3>(.*?)</h3>(.*?)</div>', text, re.S)
    names = [html.unescape(name) for name, _ in cards]
    assert names == [*NUMERIC, *CATEGORICAL, "prediction"]  # the prediction has its own
    assert all("<svg" in body for _, body in cards)
    drifted = [name for name, body in cards if "drifted" in body.split("<svg")[0]]
    assert drifted == ["n0"]
    assert "drift in 1 of 21 features: n0" in text  # 20 features and the prediction
    assert 'id="prediction"' in text and 'id="performance"' in text and "accuracy" in text
    assert "Volume and latency per 1h" in text and text.count("<svg") >= 23
    assert ">drift</td>" in text and "1 feature(s) drifted: n0" in text  # the monitor
    assert "Open alerts (1)" in text


def test_the_file_is_replaced_atomically(served, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "reports"
    folder.mkdir()
    out = folder / "report.html"
    out.write_text("the previous report")

    def broken(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        report("churn", out, client=served)
    assert out.read_text() == "the previous report"
    assert sorted(p.name for p in folder.iterdir()) == ["report.html"]  # no temp file left
    monkeypatch.undo()
    report("churn", out, client=served)
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in folder.iterdir()) == ["report.html"]


def test_a_window_without_labels(shipyard_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    version = _register(shipyard_client)
    _log(shipyard_client, version, shift=0.0, labels=False)
    text = report("churn/1", tmp_path / "r.html", since="1d", window="30min",
                  client=shipyard_client).read_text()  # fmt: skip
    assert "No labels in this window yet" in text and "no drift in the 21 features" in text
    assert "No monitors on this model" in text and "No open alerts." in text
    assert "Volume and latency per 30min" in text


def test_unknown_model_empty_window_and_bad_window_are_refused(served, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "r.html"
    with pytest.raises(NotFound, match="nope"):
        report("nope@production", out, client=served)
    with pytest.raises(InvalidArgument, match="has no predictions in the last 30m"):
        report("churn", out, since="30m", client=served)
    with pytest.raises(InvalidArgument, match="window '1 hour'"):
        report("churn", out, window="1 hour", client=served)
    assert not out.parent.exists()


def test_cli_writes_the_report_and_errors_in_one_line(cli, served, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    code, stdout, _ = cli("monitor", "report", "churn@production", "--out", str(out))
    assert code == 0 and out.exists()
    assert f"python -m webbrowser {out.resolve().as_uri()}" in stdout
    code, stdout, stderr = cli("monitor", "report", "churn@staging", "--out", str(out))
    assert code == 1 and stdout == "" and len(stderr.strip().splitlines()) == 1
    assert "staging" in stderr
    code, _, stderr = cli("monitor", "report", "churn", "--since", "1m", "--out", str(out))
    assert code == 1 and len(stderr.strip().splitlines()) == 1 and "no predictions" in stderr
