"""The report's sections, each a function of the report's Context returning HTML: the
header, the drift table, per-feature distributions, the prediction, performance and
traffic over time, monitors and open alerts."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from shipyard._clock import from_millis
from shipyard.errors import ShipyardError
from shipyard.monitoring import _report_html as h
from shipyard.monitoring import _report_plots as plots

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.monitoring._report import Context
    from shipyard.monitoring._stats_report import FeatureDrift
    from shipyard.store.base import MonitorResultRecord

TOP_CATEGORIES = 12
TABLE_WINDOWS = 48
_STATUS = {"ok": "ok", "fired": "bad", "error": "warn"}


def scalar_predictions(frame: pd.DataFrame) -> bool:
    """True when each row's prediction is one number, string or bool (not a vector or dict)."""
    if "prediction" not in frame.columns:
        return False
    import numpy as np

    first = frame["prediction"].dropna()
    return len(first) > 0 and isinstance(first.iloc[0], int | float | str | bool | np.generic)


def header(ctx: Context) -> str:
    v, frame = ctx.version, ctx.frame
    aliases = sorted(a for a, n in ctx.client.store.models.get_model(v.name).aliases.items()
                     if n == v.version)  # fmt: skip
    labelled = int(frame["label"].notna().sum()) if "label" in frame.columns else 0
    lines = [
        f"<h1>{h.esc(v.name)} v{v.version}: monitoring report</h1>",
        h.para(
            f"asked for <b>{h.esc(ctx.ref)}</b>; aliases on this version: "
            f"{h.esc(', '.join(aliases) or 'none')}; "
            f"registered {h.when(from_millis(v.created_ms))}",
            "meta",
        ),
        h.para(
            f"window: {h.esc(ctx.since_text)} ({h.when(ctx.since)} → {h.when(ctx.until)}): "
            f"<b>{len(frame):,}</b> predictions, {labelled:,} labelled",
            "meta",
        ),
        h.para(f"reference: {h.esc(ctx.reference_text)}", "meta"),
    ]
    if ctx.drift is not None:
        drifted, compared = ctx.drift.drifted_features, len(ctx.drift.features)
        text = (
            f'<span class="bad">drift in {len(drifted)} of {compared} '
            f"features: {h.esc(', '.join(drifted))}</span>"
            if drifted
            else f'<span class="ok">no drift in the {compared} features compared</span>'
        )
        lines.append(h.para(text))
    return "<header>" + "".join(lines) + "</header>"


def drift_table(ctx: Context) -> str:
    if ctx.drift is None:
        why = "no reference to compare with" if ctx.reference is None else "no shared feature"
        return h.section("drift", "Drift", h.para(f"No drift computed: {why}.", "note"))
    rows, classes = [], []
    for i, name in enumerate(ctx.features):
        f = ctx.drift.features.get(name)
        if f is None:
            continue
        link = h.Cell(f'<a href="#f{i}">{h.esc(name)}</a>')
        change = f"{h.pct(f.reference_null_rate)} → {h.pct(f.current_null_rate)}"
        oor = f"{f.out_of_range:,} ({h.pct(f.out_of_range_rate)})"
        for r in f.results:
            mark = h.Cell("drifted", "bad") if r.drifted else h.Cell("no")
            rows.append([link, f.kind, r.test, r.statistic, r.p_value, r.threshold, mark,
                         h.Cell(change), h.Cell(oor, "n")])  # fmt: skip
            classes.append("bad" if r.drifted else "")
    columns = ["feature", "kind", "test", "statistic", "p-value", "threshold", "drifted",
               "null rate (ref → now)", "out of range"]  # fmt: skip
    parts = [h.table(columns, rows, classes)]
    left_out = {**ctx.notes, **ctx.drift.skipped}
    if left_out:
        items = "".join(f"<li>{h.esc(n)}: {h.esc(w)}</li>" for n, w in left_out.items())
        parts.append(h.para("Not compared:", "note") + f"<ul>{items}</ul>")
    return h.section("drift", "Drift", *parts)


def feature_plots(ctx: Context) -> str:
    key = (
        '<p class="key">share of non-null values per bin:'
        f'<span style="background:{plots.REFERENCE}"></span>reference'
        f'<span style="background:{plots.CURRENT}"></span>this window'
        f'<span style="background:{plots.DRIFTED}"></span>this window, drifted</p>'
    )
    cards = [_card(ctx, i, name) for i, name in enumerate(ctx.features) if name != "prediction"]
    body = f'<div class="features">{"".join(cards)}</div>' if cards else h.para("No features.")
    return h.section("features", "Features: reference vs this window", key, body)


def _card(ctx: Context, index: int, name: str) -> str:
    f = ctx.drift.features.get(name) if ctx.drift is not None else None
    summary = _test_summary(f) if f is not None else h.esc(ctx.notes.get(name, ""))
    figure = _distribution(ctx, name, f is not None and f.drifted)
    cls = "feature drifted" if f is not None and f.drifted else "feature"
    return f'<div class="{cls}" id="f{index}"><h3>{h.esc(name)}</h3><p>{summary}</p>{figure}</div>'


def _test_summary(f: FeatureDrift) -> str:
    parts = []
    for r in f.results:
        side = "≥" if r.p_value is None else "p <"
        value = h.num(r.statistic) if r.p_value is None else f"p = {h.num(r.p_value, 3)}"
        verdict = '<span class="bad">drifted</span>' if r.drifted else "no drift"
        parts.append(f"{h.esc(r.test)} {value} ({verdict} at {side} {h.num(r.threshold)})")
    if f.out_of_range:
        parts.append(f"{f.out_of_range:,} out of range")
    if f.note:
        parts.append(h.esc(f.note))
    return "; ".join(parts)


def _distribution(ctx: Context, name: str, drifted: bool) -> str:
    from shipyard.monitoring import _stats_columns as cols

    column = ctx.bins.columns.get(name) if ctx.bins is not None else None
    if column is None:
        return h.para("not plotted", "note")
    has_reference = ctx.reference is not None
    series = ctx.frame[name]
    try:
        if column.kind == cols.NUMERIC:
            labels, ref, cur = _numeric_bins(column, series)
        else:
            labels, ref, cur = _category_bars(column, series)
    except (ShipyardError, TypeError, ValueError) as exc:
        return h.para(f"not plotted: {h.esc(exc)}", "note")
    if not labels:
        return h.para("no values to plot", "note")
    return plots.distribution(labels, ref if has_reference else None, cur, drifted)


def _shares(counts: list[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def _numeric_bins(column: Any, series: pd.Series) -> tuple[list[str], list[float], list[float]]:
    from shipyard.monitoring import _stats_columns as cols

    edges = list(column.bin_edges)
    if len(edges) != cols.N_BINS + 1:
        return [], [], []
    values, _ = cols.numeric_values(series)
    import numpy as np

    current = cols.bin_counts(values, np.asarray(edges)).tolist()
    reference = list(column.bin_counts)
    labels = [f"<{edges[1]:.3g}"]
    labels += [f"[{edges[k]:.3g}, {edges[k + 1]:.3g})" for k in range(1, cols.N_BINS - 1)]
    labels.append(f"≥{edges[cols.N_BINS - 1]:.3g}")
    keep = [k for k in range(cols.N_BINS) if reference[k] or current[k]]
    ref, cur = _shares(reference), _shares(current)
    return [labels[k] for k in keep], [ref[k] for k in keep], [cur[k] for k in keep]


def _category_bars(column: Any, series: pd.Series) -> tuple[list[str], list[float], list[float]]:
    from shipyard.monitoring import _stats_columns as cols

    keys, counts, _ = cols.category_counts(series)
    current = dict(zip(keys, counts.tolist(), strict=True))
    ranked = sorted(column.categories.items(), key=lambda kv: -kv[1])
    shown = [k for k, _ in ranked[:TOP_CATEGORIES]]
    labels, ref, cur = (
        list(shown),
        [column.categories[k] for k in shown],
        [current.get(k, 0) for k in shown],
    )
    other_ref = sum(c for _, c in ranked[TOP_CATEGORIES:]) + column.other_count
    other_cur = sum(c for k, c in current.items() if k in column.categories and k not in shown)
    unseen = sum(c for k, c in current.items() if k not in column.categories)
    if column.capped:
        other_cur, unseen = other_cur + unseen, 0
    for label, r, c in (("(other)", other_ref, other_cur), ("(unseen)", 0, unseen)):
        if r or c:
            labels.append(label)
            ref.append(r)
            cur.append(c)
    return labels, _shares(ref), _shares(cur)


def prediction(ctx: Context) -> str:
    frame = ctx.frame
    if "prediction" in ctx.features:
        index = ctx.features.index("prediction")
        return h.section("prediction", "Prediction", _card(ctx, index, "prediction"))
    values = frame["prediction"].dropna() if "prediction" in frame.columns else frame[:0]
    if len(values) == 0:
        return h.section("prediction", "Prediction", h.para("No predictions logged.", "note"))
    first = values.iloc[0]
    if scalar_predictions(frame):  # no reference to compare with
        return h.section("prediction", "Prediction", _current_only(values, "prediction"))
    if isinstance(first, dict):
        note = "The model answers one object per row; its fields are not plotted."
        return h.section("prediction", "Prediction", h.para(note, "note"))
    import numpy as np

    width = len(first)
    if width == 2:
        scores = [float(v[1]) for v in values]
        label = "score of the second class (predict_proba column 1)"
        figure = plots.histogram(scores, label)
    else:
        classes = Counter(str(int(np.argmax(v))) for v in values)
        labels = sorted(classes, key=int)
        figure = plots.distribution(labels, None, _shares([classes[k] for k in labels]), False)
        label = f"predicted class (argmax of {width} scores)"
    note = (
        f"{h.esc(label)}, this window only: the reference holds one value per row, "
        "the served model answers a vector"
    )
    return h.section("prediction", "Prediction", h.para(note, "note"), figure)


def _current_only(values: pd.Series, label: str) -> str:
    import pandas as pd

    first = values.iloc[0]
    if pd.api.types.is_numeric_dtype(values.dtype) or (
        isinstance(first, int | float) and not isinstance(first, bool)
    ):
        return plots.histogram(values.astype(float).tolist(), label)
    counts = Counter(str(v) for v in values).most_common(TOP_CATEGORIES)
    return plots.distribution([k for k, _ in counts], None, _shares([c for _, c in counts]), False)


def _times(column: pd.Series) -> list[Any]:
    return list(column.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy())


def _limits(x: list[Any], freq: Any) -> tuple[Any, Any]:
    """The time axis: the first to the last window, half a window of margin each side."""
    half = freq.to_timedelta64() / 2
    return x[0] - half, x[-1] + half


def performance(ctx: Context) -> str:
    from shipyard.monitoring._performance import performance as compute

    frame = ctx.frame
    if "label" not in frame.columns or not frame["label"].notna().any():
        note = (
            "No labels in this window yet: attach ground truth with "
            "shipyard.log_labels(prediction_ids, labels) and performance shows here."
        )
        return h.section("performance", "Performance", h.para(note, "note"))
    try:
        overall = compute(frame)
        per_window = compute(frame, window=ctx.window)
    except ShipyardError as exc:
        return h.section("performance", "Performance", h.para(h.esc(exc.message), "note"))
    task = str(overall.attrs["task"])
    names = [c for c in per_window.columns if c in _METRICS[task]]
    line = ", ".join(f"{n} {h.num(overall[n].iloc[0])}" for n in names)
    labelled = per_window[per_window["labelled"] > 0]
    plotted = {n: labelled[n].tolist() for n in names if n in _PLOTTED[task]}
    x = _times(labelled["window_start"])
    limits = _limits(x, labelled["window_end"].iloc[0] - labelled["window_start"].iloc[0])
    scores = task == "classification"
    figure = plots.time_series(x, plotted, task, limits, scores) if plotted else ""
    shown = labelled.tail(TABLE_WINDOWS)
    rows = [[h.when(r["window_start"]), int(r["rows"]), int(r["labelled"]),
             *[r[n] for n in names]] for _, r in shown.iterrows()]  # fmt: skip
    table = h.table(["window", "predictions", "labelled", *names], rows)
    text = f"{h.esc(task)} over {int(overall['labelled'].iloc[0]):,} labelled predictions: {line}"
    return h.section("performance", f"Performance per {ctx.window}", h.para(text), figure, table)


_METRICS = {
    "classification": ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"),
    "regression": ("mae", "rmse", "r2"),
}
_PLOTTED = {
    "classification": ("accuracy", "precision", "recall", "f1", "roc_auc"),
    "regression": ("mae", "rmse"),
}


def traffic(ctx: Context) -> str:
    import numpy as np

    from shipyard.monitoring._perf_metrics import window_floor

    frame = ctx.frame
    buckets, freq = window_floor(frame["ts"], ctx.window)
    latency = frame["latency_ms"].astype(float) if "latency_ms" in frame.columns else None
    groups = frame.groupby(buckets, sort=True)
    starts = list(groups.groups)
    volume = groups.size().tolist()
    percentiles: dict[str, list[float]] = {"p50": [], "p95": [], "p99": []}
    if latency is not None:
        for _, index in groups.indices.items():
            values = latency.iloc[index].dropna().to_numpy()
            found = np.percentile(values, [50, 95, 99]) if len(values) else [np.nan] * 3
            for key, value in zip(percentiles, found, strict=True):
                percentiles[key].append(float(value))
    import pandas as pd

    x = _times(pd.Series(starts))
    shown = percentiles if latency is not None else {}
    figure = plots.traffic(x, volume, shown, _limits(x, freq))
    rows = [
        [h.when(s), n, *[percentiles[k][i] for k in percentiles]]
        for i, (s, n) in enumerate(zip(starts, volume, strict=True))
    ][-TABLE_WINDOWS:]
    table = h.table(["window", "predictions", "p50 ms", "p95 ms", "p99 ms"], rows)
    return h.section("traffic", f"Volume and latency per {ctx.window}", figure, table)


def _summary(r: MonitorResultRecord) -> str:
    if r.status == "error":
        return str(r.details.get("error", ""))
    drifted = r.details.get("drifted")
    if drifted is not None:
        return f"{len(drifted)} feature(s) drifted" + (f": {', '.join(drifted)}" if drifted else "")
    metric = r.details.get("metric", "value")
    fires = r.details.get("fires_when")
    limit = "" if r.threshold is None else f" (fires {fires} {h.num(r.threshold)})"
    return f"{metric} {h.num(r.value)}{limit}"


def monitors(ctx: Context) -> str:
    store = ctx.client.store.monitors
    rows, classes = [], []
    for m in store.list_monitors(ctx.version.name):
        latest = store.results(m.id, limit=1)
        last = latest[0] if latest else None
        target = m.target if m.target.startswith("@") or not m.target else f"/{m.target}"
        status = (
            h.Cell("never run", "note")
            if last is None
            else h.Cell(last.status, _STATUS[last.status])
        )
        rows.append([m.name, f"{m.model}{target}", m.check_kind, str(m.spec.get("window", "1h")),
                     status, "" if last is None or last.version is None else f"v{last.version}",
                     h.when(None if last is None else from_millis(last.evaluated_ms)),
                     "" if last is None else _summary(last)])  # fmt: skip
        classes.append("bad" if last is not None and last.status == "fired" else "")
    if not rows:
        note = "No monitors on this model: declare some with `shipyard monitor apply FILE`."
        return h.section("monitors", "Monitors", h.para(h.esc(note), "note"))
    columns = ["monitor", "target", "check", "window", "latest", "version", "evaluated", "result"]
    return h.section("monitors", "Monitors (latest result)", h.table(columns, rows, classes))


def alerts(ctx: Context) -> str:
    store = ctx.client.store.monitors
    found = [a for a in store.list_alerts() if a.model == ctx.version.name]
    if not found:
        return h.section("alerts", "Open alerts", h.para("No open alerts.", "ok"))
    rows = []
    for a in found:
        counts = Counter(d.status for d in store.deliveries(a.id))
        deliveries = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"
        rows.append([a.id, a.monitor, "" if a.version is None else f"v{a.version}",
                     h.when(from_millis(a.first_fired_ms)), h.when(from_millis(a.last_seen_ms)),
                     a.message, deliveries])  # fmt: skip
    columns = ["id", "monitor", "version", "first fired", "last seen", "message", "deliveries"]
    return h.section(
        "alerts", f"Open alerts ({len(found)})", h.table(columns, rows, ["bad"] * len(rows))
    )
