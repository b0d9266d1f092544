"""``report(model, out)``: one self-contained HTML file on a model version's live traffic.

The version (NAME, NAME/VERSION, NAME@ALIAS or NAME for the latest) and its reference; a
drift table (per feature and test: statistic, threshold, drifted, null-rate change,
out-of-range values) and per-feature distribution plots of the reference against the
window (numeric features over the reference's quantile bins, from its stored profile when
that is all there is; categorical features as category bars); the prediction's
distribution; performance over time when labels exist; volume and latency over time; the
model's monitors with their latest result, and its open alerts.

The file needs no network: CSS inline, figures inline SVG (``_report_plots``), no script.
It is written to a temporary file beside ``out`` and renamed over it, so a reader never
sees half a report. The module is private (``_report``) so that the lazily exported
``shipyard.monitoring.report`` stays the function once this module is imported.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidArgument, NotFound, ShipyardError
from shipyard.monitoring import _report_html as h
from shipyard.monitoring import _report_sections as sections
from shipyard.monitoring.checks import LOG_COLUMNS
from shipyard.monitoring.monitors import parse_model_ref
from shipyard.monitoring.window import Moment, to_ms

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.monitoring._stats_report import DriftReport
    from shipyard.monitoring.profiles import Profile
    from shipyard.store.base import ModelVersionRecord
    from shipyard.tracking import Client

__all__ = ["report"]


@dataclass
class Context:
    """What every section reads: the version, its window of predictions, its reference,
    the drift between them and the bins the plots use."""

    client: Client
    version: ModelVersionRecord
    ref: str
    frame: pd.DataFrame
    since: datetime
    until: datetime
    since_text: str
    window: str
    reference: Any = None  # a Profile, the training rows (DataFrame), or None
    reference_text: str = ""
    features: list[str] = field(default_factory=list)
    drift: DriftReport | None = None
    notes: dict[str, str] = field(default_factory=dict)  # feature -> why no drift/plot
    bins: Profile | None = None  # the reference's profile (else the window's) for plots


def report(
    model: str,
    out: str | os.PathLike[str],
    *,
    since: Moment = "7d",
    window: str = "1h",
    client: Client | None = None,
) -> Path:
    """Write the HTML report of ``model``'s predictions since ``since`` (a duration such as
    ``"7d"``, a timedelta or an aware datetime) to ``out``, with ``window``-sized buckets
    (``"15min"``, ``"1h"``, ``"1d"``) for the plots over time; returns the path written.
    An unknown model raises NotFound, a window without predictions InvalidArgument."""
    from shipyard.monitoring.window import read_window
    from shipyard.tracking import Client

    client = client or Client()
    version = _resolve(client, model)
    until = client.clock.now()
    start_ms = to_ms(since, until, "since")
    assert start_ms is not None
    start = datetime.fromtimestamp(start_ms / 1000, until.tzinfo)
    frame = read_window(version.name, version.version, since=start, until=until, client=client)
    since_text = f"the last {since}" if isinstance(since, str) else f"since {h.when(start)}"
    if len(frame) == 0:
        raise InvalidArgument(
            f"model {version.name} v{version.version} has no predictions in {since_text} "
            f"(since {h.when(start)}): nothing to report; send it traffic or widen --since"
        )
    ctx = Context(client, version, model, frame, start, until, since_text, window)
    _check_window(window)
    _compare(ctx)
    parts = [
        sections.drift_table(ctx),
        sections.feature_plots(ctx),
        sections.prediction(ctx),
        sections.performance(ctx),
        sections.traffic(ctx),
        sections.monitors(ctx),
        sections.alerts(ctx),
    ]
    title = f"{version.name} v{version.version}: monitoring report"
    return write_atomic(Path(out), h.page(title, sections.header(ctx), parts))


def _resolve(client: Client, ref: str) -> ModelVersionRecord:
    """The version ``ref`` names: NAME/VERSION, NAME@ALIAS, NAME (latest), models:/…"""
    text = ref.strip().removeprefix("models:/")
    parsed = parse_model_ref(text)
    if parsed is None:
        raise InvalidArgument(
            f"{ref!r} does not name a model: use NAME, NAME/VERSION or NAME@ALIAS"
        )
    name, number, alias = parsed
    models = client.store.models
    if alias is not None:
        number = models.resolve_alias(name, alias)
    elif number is None:
        number = models.get_model(name).latest_version
    return models.get_model_version(name, number)


def _check_window(window: str) -> None:
    from shipyard.monitoring._perf_metrics import window_floor

    window_floor(_empty_ts(), window)  # raises InvalidArgument for "1 hour", "x"…


def _empty_ts() -> Any:
    import pandas as pd

    return pd.Series([], dtype="datetime64[us, UTC]")


def _reference(ctx: Context) -> None:
    from shipyard.monitoring.runner import reference_for

    version = ctx.version
    try:
        ctx.reference = reference_for(ctx.client, version)
    except NotFound:
        ctx.reference_text = (
            "none: register the version with reference= or a training dataset to compare "
            "its traffic with what it learned from"
        )
        return
    source = version.dataset or "the reference= rows given at registration"
    kind = "stored profile of" if version.profile_hash else "rows of"
    rows = getattr(ctx.reference, "rows", None)
    rows = len(ctx.reference) if rows is None else rows
    ctx.reference_text = f"{kind} {source} ({rows:,} rows)"


def _compare(ctx: Context) -> None:
    """Fill the reference, the compared features, the drift and the plot bins."""
    from shipyard.monitoring._drift import drift
    from shipyard.monitoring.profiles import Profile

    _reference(ctx)
    inputs = [c for c in map(str, ctx.frame.columns) if c not in LOG_COLUMNS and c != "prediction"]
    if ctx.reference is None:
        ctx.features = inputs
        ctx.bins = _profile_of(ctx.frame, inputs, ctx.notes)
        return
    known = set(getattr(ctx.reference, "columns", []))
    ctx.features = [c for c in inputs if c in known]
    if "prediction" in known and sections.scalar_predictions(ctx.frame):
        ctx.features.append("prediction")
    if isinstance(ctx.reference, Profile):
        ctx.bins = ctx.reference
    else:
        ctx.bins = _profile_of(ctx.reference, ctx.features, ctx.notes)
    if not ctx.features:
        return
    try:
        ctx.drift = drift(ctx.reference, ctx.frame[ctx.features], features=ctx.features)
    except InvalidArgument:  # one feature the tests cannot take: compare the others alone
        ctx.drift = _feature_by_feature(ctx)


def _feature_by_feature(ctx: Context) -> DriftReport:
    from shipyard.monitoring._drift import drift
    from shipyard.monitoring._stats_report import DriftReport

    found: dict[str, Any] = {}
    last = None
    for name in ctx.features:
        try:
            last = drift(ctx.reference, ctx.frame[[name]], features=[name])
        except ShipyardError as exc:
            ctx.notes[name] = exc.message
            continue
        found.update(last.features)
    rows = last.reference_rows if last else 0
    return DriftReport(found, rows, len(ctx.frame))


def _profile_of(frame: Any, columns: list[str], notes: dict[str, str]) -> Profile:
    """The profile of ``columns`` (those of another dtype are noted, not plotted)."""
    from shipyard.monitoring.profiles import profile

    found = profile(frame[[c for c in columns if c in frame.columns]])
    for name, why in found.skipped.items():
        notes.setdefault(name, f"not plotted: {why}")
    return found


def write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path``, flush it to disk, rename it over
    ``path``: a reader sees the old file or the new one, never a part."""
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path.resolve()
