"""Drift over a window too large for one process, on Ray: the same statistics as ``drift``
on the whole window (nothing sampled), from slices read in parallel.

1. Map: the window is cut into slices of whole hours with about ``SLICE_ROWS`` rows each
   (at least one per worker). ``DriftWorker`` actors, each with a Client on the driver's
   store, read a slice's successful calls, only the tested columns, and reduce each
   feature to counts that add up across slices: nulls, values outside the reference's
   range, counts in the reference's bins (psi, js), category counts (chi2, js). For ks and
   wasserstein, a numeric feature's values are also split at quantiles of the reference
   into value ranges, returned as separate Ray objects.
2. Reduce (ks, wasserstein against the reference rows): one task per (feature, range)
   gets that range's values from every slice, plus the counts below it, and returns the
   exact area between the two empirical CDFs over the range and their largest gap there.
   Summed, the areas are the Wasserstein distance; the largest gap is the KS statistic,
   equal to ``ks_2samp``'s. Its p-value is computed as ``ks_2samp`` does ("auto"): for
   samples of at most ``EXACT_KS`` values the values are gathered and ``ks_2samp`` runs
   here; above, Smirnov's asymptotic distribution.

A slice's values stay in Ray's object store between the two steps; the driver only holds
counts, the reference, and small samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard._clock import from_millis
from shipyard._ray import connect, enter_worker, raised_by, require_ray, worker_context
from shipyard.monitoring import _stats
from shipyard.monitoring import _stats_columns as cols
from shipyard.monitoring._drift import (
    RAW_TESTS,
    CategoricalSide,
    DriftReport,
    NumericSide,
    ReferenceSide,
    categorical_drift,
    check_rows,
    check_thresholds,
    current_values,
    numeric_counts,
    numeric_drift,
    plan_tests,
    reference_column,
    select_features,
)
from shipyard.monitoring.checks import (
    Outcome,
    all_failed,
    drift_features,
    drift_outcome,
    drift_tests,
    empty_window,
)
from shipyard.monitoring.monitors import Monitor
from shipyard.monitoring.profiles import ColumnProfile
from shipyard.monitoring.window import read_window_part, window_columns
from shipyard.store.log_segments import SEGMENT_MS, bucket_of

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.tracking import Client

SLICE_ROWS = 1_000_000  # predicted rows per slice read by one map call
RANGE_ROWS = 5_000_000  # current values per (feature, range) reduce task
EXACT_KS = 10_000  # ks_2samp's "auto" computes the exact p-value up to this many values


@dataclass(frozen=True)
class FeatureSpec:
    """What a slice reduces one feature to: bins and range edges come from the reference."""

    name: str
    kind: cols.Kind
    ref: ColumnProfile | None = None  # numeric features: the reference column's profile
    range_edges: np.ndarray | None = None  # split for ks / wasserstein; None: not needed


@dataclass
class SliceSummary:
    """One slice's counts: calls read, successful ones, and per feature a NumericSide
    (without ks / wasserstein) or a CategoricalSide, plus values per range."""

    calls: int
    successes: int
    sides: dict[str, NumericSide | CategoricalSide]
    range_counts: dict[str, np.ndarray]


@dataclass
class Reduced:
    """One feature of a window as the slices reduced it: its side (counts), and for ks /
    wasserstein its values per range (per slice, the ranges' Ray objects) and their counts."""

    side: NumericSide | CategoricalSide
    range_counts: np.ndarray | None = None
    parts: list[list[Any]] | None = None


@dataclass
class WindowRead:
    """What the slices of one window gave: its calls, successful ones, reduced features."""

    calls: int = -1  # not read yet
    successes: int = 0
    features: dict[str, Reduced] = field(default_factory=dict)


def summarise(frame: pd.DataFrame, specs: Sequence[FeatureSpec]) -> tuple[Any, ...]:
    """A slice of the window (``read_window`` columns, failed calls included) reduced to a
    SliceSummary, followed by the values of each range of each feature with range edges
    (in ``specs`` order; each array sorted)."""
    succeeded = frame[frame["error"].isna()] if "error" in frame.columns else frame
    sides: dict[str, NumericSide | CategoricalSide] = {}
    range_counts: dict[str, np.ndarray] = {}
    parts: list[np.ndarray] = []
    for spec in specs:
        series = succeeded[spec.name]
        if spec.kind == cols.CATEGORICAL:
            keys, counts, nulls = cols.category_counts(series)
            sides[spec.name] = CategoricalSide(len(series), nulls, keys, counts)
            continue
        assert spec.ref is not None
        values, nulls = current_values(spec.name, series)
        sides[spec.name] = numeric_counts(values, len(series), nulls, spec.ref)
        if spec.range_edges is not None:
            cuts = np.searchsorted(values, spec.range_edges, side="left")
            split = np.split(values, cuts)
            range_counts[spec.name] = np.array([p.size for p in split], dtype=np.int64)
            parts.extend(split)
    summary = SliceSummary(len(frame), len(succeeded), sides, range_counts)
    return (summary, *parts)


def merge(summaries: Sequence[SliceSummary], specs: Sequence[FeatureSpec]) -> SliceSummary:
    """The slices' summaries added up (categories in first-seen order, slices in time
    order, as the whole window's ``value_counts`` would list them)."""
    sides: dict[str, NumericSide | CategoricalSide] = {}
    range_counts: dict[str, np.ndarray] = {}
    for spec in specs:
        parts = [s.sides[spec.name] for s in summaries]
        if spec.kind == cols.CATEGORICAL:
            sides[spec.name] = _merge_categorical(parts)  # type: ignore[arg-type]
        else:
            sides[spec.name] = _merge_numeric(parts)  # type: ignore[arg-type]
        if spec.range_edges is not None:
            range_counts[spec.name] = np.sum([s.range_counts[spec.name] for s in summaries], axis=0)
    calls = sum(s.calls for s in summaries)
    return SliceSummary(calls, sum(s.successes for s in summaries), sides, range_counts)


def _merge_numeric(parts: list[NumericSide]) -> NumericSide:
    binned = [p.bins for p in parts if p.bins is not None]
    return NumericSide(
        rows=sum(p.rows for p in parts),
        nulls=sum(p.nulls for p in parts),
        non_null=sum(p.non_null for p in parts),
        below=sum(p.below for p in parts),
        above=sum(p.above for p in parts),
        bins=np.sum(binned, axis=0) if binned else None,
    )


def _merge_categorical(parts: list[CategoricalSide]) -> CategoricalSide:
    totals: dict[str, int] = {}
    for part in parts:
        for key, count in zip(part.keys, part.counts.tolist(), strict=True):
            totals[key] = totals.get(key, 0) + count
    counts = np.fromiter(totals.values(), dtype=np.int64, count=len(totals))
    return CategoricalSide(
        sum(p.rows for p in parts), sum(p.nulls for p in parts), list(totals), counts
    )


def range_gaps(
    ref_values: np.ndarray,
    current_parts: Sequence[np.ndarray],
    ref_before: int,
    current_before: int,
    n: int,
    m: int,
    lo: float,
    hi: float,
) -> tuple[float, float]:
    """Over the value range ``[lo, hi)``: the area between the reference's and the current
    empirical CDFs, and the largest gap between them (KS). ``ref_values``: the sorted
    reference values in the range; ``current_parts``: the current values in it, from every
    slice; ``*_before``: how many values of each side lie below ``lo``; ``n``, ``m``: the
    sides' sizes. Both CDFs are steps that change only at values (and are equal, 0 or 1,
    outside the values' span), so both quantities are exact on the grid of values."""
    current = np.sort(np.concatenate(current_parts)) if current_parts else np.empty(0)
    grid = np.unique(np.concatenate((ref_values, current, [lo] if math.isfinite(lo) else [])))
    if grid.size == 0:
        return 0.0, 0.0
    ref_cdf = (ref_before + np.searchsorted(ref_values, grid, side="right")) / n
    cur_cdf = (current_before + np.searchsorted(current, grid, side="right")) / m
    gaps = np.abs(ref_cdf - cur_cdf)
    widths = np.diff(grid, append=hi)
    if not math.isfinite(hi):
        widths[-1] = 0.0  # past the last value both CDFs are 1
    return float(np.dot(gaps, widths)), float(gaps.max())


def ks_p_value(statistic: float, n: int, m: int) -> float:
    """``ks_2samp``'s two-sided p-value for samples above EXACT_KS (Smirnov's asymptotic
    distribution, as its "auto" method picks there)."""
    from scipy.stats import kstwo

    big, small = sorted([float(n), float(m)], reverse=True)
    effective = big * small / (big + small)
    return float(np.clip(kstwo.sf(statistic, np.round(effective)), 0.0, 1.0))


class DriftWorker:
    """A Ray actor with a Client on the driver's store: reads slices of a window (map),
    then computes ranges' areas and gaps (reduce). Both steps run on the same actors, so
    the reduce never waits for CPUs the readers hold."""

    def __init__(self, context: dict[str, Any]) -> None:
        from shipyard.tracking import Client

        self.client = Client(settings=enter_worker(context))

    def read(
        self,
        model: str,
        version: int,
        bounds: tuple[int, int],
        specs: Sequence[FeatureSpec],
    ) -> Any:
        columns = [*(s.name for s in specs), "error"]
        since, until = (from_millis(b) for b in bounds)
        frame = read_window_part(model, version, since, until, columns, self.client)
        summary = summarise(frame, specs)
        return summary if len(summary) > 1 else summary[0]  # num_returns=1: the value

    def gaps(
        self,
        ref_values: np.ndarray,
        ref_before: int,
        current_before: int,
        sizes: tuple[int, int],
        bounds: tuple[float, float],
        *current_parts: np.ndarray,
    ) -> tuple[float, float]:
        n, m = sizes
        lo, hi = bounds
        return range_gaps(ref_values, current_parts, ref_before, current_before, n, m, lo, hi)


class RayDrift:
    """Drift monitors evaluated on Ray for one ``run_monitors``: connects (or uses the Ray
    this process already has), starts ``workers`` drift workers when first needed, and
    shuts down a Ray it started."""

    def __init__(self, client: Client, address: str | None, workers: int | None) -> None:
        self.ray = require_ray("Drift on Ray")
        self.client = client
        self.started = False
        if not self.ray.is_initialized():
            connect(address or client.settings.ray_address or None)
            self.started = True
        self.cpus = max(1, int(self.ray.cluster_resources().get("CPU", 1)))
        self.workers = workers or self.cpus
        self.workers_started: list[Any] = []
        self.windows: dict[tuple[str, int, int, int, bool], WindowRead] = {}
        self.layouts: dict[tuple[str, int, int, int], tuple[list[str], list[Any], int]] = {}

    def close(self) -> None:
        for actor in self.workers_started:
            self.ray.kill(actor)
        self.workers_started = []
        self.windows = {}  # the ranges' values leave Ray's object store
        if self.started:
            self.ray.shutdown()  # stops only a local Ray this run started

    def _actors(self, slices: int) -> list[Any]:
        """The drift workers: started by the first monitor, ``workers`` of them (no more
        than its slices), and kept for the run's other monitors."""
        if not self.workers_started:
            count = max(1, min(self.workers, slices))
            actor = self.ray.remote(DriftWorker).options(
                num_cpus=min(1.0, self.cpus / count), max_restarts=0
            )
            context = worker_context(self.client.settings)
            self.workers_started = [actor.remote(context) for _ in range(count)]
        return self.workers_started

    def evaluate(
        self,
        monitor: Monitor,
        model: str,
        version: int,
        window: tuple[int, int],
        load_reference: Callable[[], Any],
    ) -> Outcome:
        """The drift monitor's outcome on ``model`` version ``version`` over ``window``
        (epoch ms), as ``checks.evaluate`` gives it for the whole window's frame."""
        columns, slices, estimate = self._layout(model, version, window)
        reference = load_reference()
        source = ReferenceSide(reference)
        names, _ = select_features(source, columns, drift_features(monitor, columns, reference))
        tests = drift_tests(monitor, names)
        plan_tests(names, source, tests, 0)  # a wrong test fails before any read
        limits = check_thresholds(None)
        ranges = max(self.cpus, math.ceil(estimate / RANGE_ROWS))
        profiles = {name: reference_column(source, name) for name in names}
        specs = [_spec(name, source, profiles[name], tests, ranges) for name in names]
        window_read = self._reduce(model, version, window, source.raw, slices, specs)
        if window_read.calls == 0:
            raise empty_window(monitor)
        if window_read.successes == 0:
            raise all_failed(monitor, window_read.calls)
        check_rows(source, window_read.successes)
        plan = plan_tests(names, source, tests, window_read.successes)
        results = {}
        for spec in specs:
            ref, ref_values = profiles[spec.name]
            reduced = window_read.features[spec.name]
            side = reduced.side
            if isinstance(side, CategoricalSide):
                results[spec.name] = categorical_drift(
                    spec.name, ref, side, plan[spec.name], limits
                )
                continue
            if spec.range_edges is not None:
                side = self._raw_tests(spec, reduced, ref_values, plan[spec.name])
            results[spec.name] = numeric_drift(spec.name, ref, side, plan[spec.name], limits)
        report = DriftReport(results, source.rows, window_read.successes, {})
        return drift_outcome(monitor, report, window_read.successes)

    def _layout(
        self, model: str, version: int, window: tuple[int, int]
    ) -> tuple[list[str], list[tuple[int, int]], int]:
        """The window's columns, its slices and their estimated rows: read once per window
        of the run (its monitors share them)."""
        key = (model, version, *window)
        if key not in self.layouts:
            start, end = window
            since, until = from_millis(start), from_millis(end)
            columns = window_columns(model, version, since, until, client=self.client)
            self.layouts[key] = (columns, *self._slices(model, start, end))
        return self.layouts[key]

    def _reduce(
        self,
        model: str,
        version: int,
        window: tuple[int, int],
        raw: bool,
        slices: list[tuple[int, int]],
        specs: list[FeatureSpec],
    ) -> WindowRead:
        """The window's features reduced by the slices; a feature another monitor of the
        run already had reduced over the same window against the same kind of reference
        (rows or profile: the bins and ranges depend on it) is not read again."""
        done = self.windows.setdefault((model, version, *window, raw), WindowRead())
        todo = [
            spec
            for spec in specs
            if spec.name not in done.features
            or (spec.range_edges is not None and done.features[spec.name].parts is None)
        ]
        if not todo and done.calls >= 0:
            return done
        outputs = self._map(model, version, slices, todo)
        total = merge(self._get([summary for summary, _ in outputs]), todo)
        done.calls, done.successes = total.calls, total.successes
        for spec in todo:
            ranged = spec.range_edges is not None
            done.features[spec.name] = Reduced(
                total.sides[spec.name],
                total.range_counts.get(spec.name),
                [by_feature[spec.name] for _, by_feature in outputs] if ranged else None,
            )
        return done

    def _slices(self, model: str, start: int, end: int) -> tuple[list[tuple[int, int]], int]:
        """``[start, end)`` cut at hour boundaries into slices of about SLICE_ROWS
        predicted rows, at least one per worker, as the log's per-hour counts say (all
        versions: an estimate); and that count."""
        store = self.client.store.predictions
        last = bucket_of(end - 1) + SEGMENT_MS
        counts = store.bucket_counts(model, bucket_of(start), last, SEGMENT_MS, rows=True)
        total = sum(counts.values())
        wanted = max(self.workers, math.ceil(total / SLICE_ROWS))
        cuts, seen = [start], 0
        for bucket in sorted(counts):
            if total and seen >= total / wanted * len(cuts) and start < bucket < end:
                cuts.append(bucket)
            seen += counts[bucket]
        return list(zip(cuts, [*cuts[1:], end], strict=True)), total

    def _map(
        self,
        model: str,
        version: int,
        slices: list[tuple[int, int]],
        specs: list[FeatureSpec],
    ) -> list[tuple[Any, dict[str, list[Any]]]]:
        """One read per slice: its summary's ref, and per ranged feature its ranges' refs."""
        sizes = {s.name: s.range_edges.size + 1 for s in specs if s.range_edges is not None}
        returns = 1 + sum(sizes.values())
        actors = self._actors(len(slices))
        outputs = []
        for i, bounds in enumerate(slices):
            call = actors[i % len(actors)].read.options(num_returns=returns)
            refs = call.remote(model, version, bounds, specs)
            refs = [refs] if returns == 1 else list(refs)
            by_feature, offset = {}, 1
            for name, size in sizes.items():
                by_feature[name] = refs[offset : offset + size]
                offset += size
            outputs.append((refs[0], by_feature))
        return outputs

    def _raw_tests(
        self,
        spec: FeatureSpec,
        reduced: Reduced,
        ref_values: np.ndarray | None,
        tests: tuple[str, ...],
    ) -> NumericSide:
        """The side with ks / wasserstein against the reference rows, when planned."""
        side = reduced.side
        assert isinstance(side, NumericSide) and reduced.parts is not None
        parts, counts = reduced.parts, reduced.range_counts
        wanted = RAW_TESTS & set(tests)
        if not wanted or ref_values is None or ref_values.size == 0 or side.non_null == 0:
            return side
        assert spec.range_edges is not None and counts is not None
        n, m = int(ref_values.size), side.non_null
        if max(n, m) <= EXACT_KS:  # small: gather, and let scipy compute the exact p-value
            values = np.sort(np.concatenate(self._get([p for row in parts for p in row])))
            ks = _stats.ks(ref_values, values) if "ks" in wanted else None
            planned = "wasserstein" in wanted
            distance = _stats.wasserstein_sorted(ref_values, values) if planned else None
            return replace(side, ks=ks, wasserstein=distance)
        edges = spec.range_edges
        lows = np.concatenate(([-np.inf], edges))
        highs = np.concatenate((edges, [np.inf]))
        ref_cuts = np.searchsorted(ref_values, edges, side="left")
        ref_split = np.split(ref_values, ref_cuts)
        ref_before = np.concatenate(([0], np.cumsum([r.size for r in ref_split])[:-1]))
        cur_before = np.concatenate(([0], np.cumsum(counts)[:-1]))
        actors = self.workers_started
        tasks = [
            actors[k % len(actors)].gaps.remote(
                ref_split[k], int(ref_before[k]), int(cur_before[k]), (n, m),
                (float(lows[k]), float(highs[k])), *[row[k] for row in parts],
            )
            for k in range(edges.size + 1)
        ]  # fmt: skip
        areas, largest = zip(*self._get(tasks), strict=True)
        statistic = float(max(largest))
        ks = (statistic, ks_p_value(statistic, n, m)) if "ks" in wanted else None
        return replace(side, ks=ks, wasserstein=float(sum(areas)))

    def _get(self, refs: list[Any]) -> list[Any]:
        try:
            return list(self.ray.get(refs))
        except self.ray.exceptions.RayError as exc:
            raise raised_by(exc, "reading the window for drift") from exc


def _spec(
    name: str,
    source: ReferenceSide,
    profile: tuple[Any, np.ndarray | None],
    tests: dict[str, str] | None,
    ranges: int,
) -> FeatureSpec:
    """How slices reduce ``name``: bins from its reference profile; ``ranges`` value
    ranges cut at the reference's quantiles when ks or wasserstein may run."""
    ref, ref_values = profile
    kind = source.kind(name)
    if kind == cols.CATEGORICAL:
        return FeatureSpec(name, kind)
    range_edges = None
    chosen = None if tests is None else tests.get(name)
    if ref_values is not None and (chosen is None or chosen in RAW_TESTS):
        finite = ref_values[np.isfinite(ref_values)]
        cuts = np.quantile(finite, np.linspace(0, 1, ranges + 1)[1:-1]) if finite.size else []
        range_edges = np.unique(np.asarray(cuts, dtype=np.float64))
    return FeatureSpec(name, kind, ref, range_edges)
