"""PNG charts of an alert: its onset up close, the hours around it, the band, in the rule's unit.

The Slack receiver attaches one to the first message of a group, so a reader sees at a glance how
far the series left its band, since when, and whether it did so before. ``render_chart`` is a
pure function of arrays to PNG bytes (matplotlib's Agg backend, no display, no pyplot global
state), callable from any thread; ``chart_provider`` turns an alert into those arrays.

What the picture is made of, and why:

- **Two panels when there is an onset.** A fresh alert is minutes old and the hours before it
  are what "normal" looks like; in one 6-hour panel the incident is the right 3 % of the width.
  The right panel (two thirds of the width) spans ``ZOOM_SHARE``: the onset sits at about two
  thirds of it, the minutes since then fill the last third (at least ``MIN_AFTER``); the left
  panel keeps the hours before, with the zoomed span outlined.
- **Only runs that count are shaded.** A single point outside the band is noise the trigger
  window absorbs; shading it makes calm hours look anomalous. The alert's own episode (from its
  onset) is shaded in red; other runs only when they last at least ``min_run`` points (the
  provider uses the rule's trigger window), lighter.
- **The y-axis speaks the rule's unit** (``detect.units``: 2.4 s, 89.6 %, $1,240.00) and a band
  of a quantity that cannot be negative starts at 0.
- **A band that changes width says why.** STL bands are ``sensitivity`` robust sigmas of the
  noise learned per hour of the day (``detect.stl``, ``PHASE_BUCKETS``): p99 latency at night,
  on little traffic, is noisier than at noon, so the band steps wider at an hour boundary. A
  note under the chart says so when the band's width changes inside the picture.
- **Each detector is drawn as it judges.** Band detectors: value in band. ``burn_rate``: the
  error ratio against the ratio that pages (the budget times the most sensitive factor).
  ``forecast``: spend so far this period against the budget, not the raw counter.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, FuncFormatter

from alerter.core.errors import AlerterError
from alerter.core.model import Alert, Verdict
from alerter.detect import forecast, spec, units
from alerter.detect.explain import RuleFacts
from alerter.detect.units import Unit
from alerter.notify.base import Notification

_SERIES = "#1f5fa8"
_EXPECTED = "#555555"
_BAND = "#9bbbe0"
_ANOMALY = "#d0312d"
_EARLIER = "#e8a0a0"
_GUARD = "#f2a900"
_ZOOM = "#eeeeee"
_DAY = 86400.0
#: The zoom panel's share of the onset: it starts two "afters" before the onset.
ZOOM_SHARE = 2.0 / 3.0
#: The zoom panel spans at least three times this (a 2-minute-old alert is still a fifth of it).
MIN_AFTER = 3 * 60.0
#: A band whose half-width changes by more than this factor inside the picture gets a note.
WIDTH_CHANGE = 1.3
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Labels:
    """Legend names of the chart's lines: what the value, the expected line and the band are."""

    value: str = "value"
    expected: str = "expected"
    band: str = "band"
    fill: bool = True
    """Whether the band is a shaded area (band detectors) or only its upper edge (limits)."""


def render_chart(
    timestamps: npt.ArrayLike,
    values: npt.ArrayLike,
    expected: npt.ArrayLike | None = None,
    lower: npt.ArrayLike | None = None,
    upper: npt.ArrayLike | None = None,
    anomalous: npt.ArrayLike | None = None,
    threshold: float | None = None,
    title: str = "",
    *,
    size: tuple[float, float] = (9.0, 3.4),
    dpi: int = 100,
    unit: Unit | None = None,
    onset: float | None = None,
    min_run: int = 1,
    lead: float = 0.0,
    names: Labels | None = None,
    note: str = "",
) -> bytes:
    """Draw the chart and return PNG bytes; raise ValueError on misaligned or empty input.

    ``onset`` (an alert's ``active_at``) gives the zoomed panel and the episode's shading;
    anomalous runs before it are shaded only when at least ``min_run`` points long. A run that
    began up to ``lead`` seconds before the onset (the trigger window the alert waited for) is
    the episode's beginning.
    """
    ts = np.asarray(timestamps, dtype=np.float64)
    if ts.ndim != 1 or ts.size == 0:
        raise ValueError("render_chart needs a non-empty 1-D array of timestamps")
    vs = _aligned("values", values, ts.size)
    assert vs is not None
    lo, hi = _aligned("lower", lower, ts.size), _aligned("upper", upper, ts.size)
    exp = _aligned("expected", expected, ts.size)
    mask = _aligned("anomalous", anomalous, ts.size, dtype=np.bool_)
    names = names or Labels()
    if lo is not None and unit is not None and unit.nonnegative:
        lo = np.maximum(lo, 0.0)
    zoom = _zoom(ts, onset)
    figure = Figure(figsize=size, dpi=dpi)
    if zoom is None:
        panels = [figure.add_subplot()]
    else:
        grid = figure.add_gridspec(1, 2, width_ratios=(1, 2), wspace=0.04)
        panels = [figure.add_subplot(grid[0, 0]), figure.add_subplot(grid[0, 1])]
        panels[1].sharey(panels[0])
    runs = _runs(ts, mask, onset, min_run, lead) if mask is not None else []
    shown = [v for v in (vs, hi, lo, exp) if v is not None]
    scale = units.scale_for(unit, [float(np.nanmax(np.abs(a))) for a in shown if np.isfinite(a).any()])
    for i, axes in enumerate(panels):
        legend = i == len(panels) - 1
        _draw(axes, ts, vs, exp, lo, hi, runs, threshold, scale, names, label=legend)
        axes.xaxis_date(UTC)
        axes.grid(True, alpha=0.3)
        locator = mdates.AutoDateLocator(tz=UTC, minticks=3, maxticks=4 if (zoom and i == 0) else 7)  # type: ignore[no-untyped-call]
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(_formatter(float(ts[-1] - ts[0]) if i == 0 else 0.0))
        axes.tick_params(labelsize=8)
    if zoom is not None:
        context, close = panels
        start, end = zoom
        close.set_xlim(start / _DAY, end / _DAY)
        context.set_xlim(ts[0] / _DAY, ts[-1] / _DAY)
        context.axvspan(start / _DAY, end / _DAY, color=_ZOOM, zorder=0, linewidth=0)
        context.set_title("the hours before", fontsize=8, loc="left", color="#666666")
        close.set_title("the onset, zoomed", fontsize=8, loc="left", color="#666666")
        close.tick_params(labelleft=False)
        _fit_y(close, ts, (start, end), shown)
    low, high = panels[0].get_ylim()
    panels[0].set_ylim(low, high + 0.14 * (high - low))  # headroom: the legend never hides a line
    panels[-1].legend(loc="upper left", fontsize=7, ncols=5, frameon=False)
    panels[0].yaxis.set_major_formatter(FuncFormatter(lambda y, _: units.write(float(y), scale)))
    figure.suptitle(title, fontsize=10, x=0.01, ha="left")
    footer = "UTC" + (f" · {note}" if note else "")
    figure.text(0.01, 0.02, footer, fontsize=7.5, color="#444444", ha="left")
    figure.subplots_adjust(left=0.09, right=0.985, top=0.84, bottom=0.17)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _draw(
    axes: Axes,
    ts: npt.NDArray[np.float64],
    vs: npt.NDArray[np.generic],
    exp: npt.NDArray[np.generic] | None,
    lo: npt.NDArray[np.generic] | None,
    hi: npt.NDArray[np.generic] | None,
    runs: list[tuple[float, float, bool]],
    threshold: float | None,
    scale: units.Scale,
    names: Labels,
    *,
    label: bool,
) -> None:
    when = ts / _DAY  # matplotlib's date axis counts days since the unix epoch

    def named(text: str) -> str | None:
        return text if label else None

    if hi is not None and lo is not None and names.fill:
        axes.fill_between(when, lo, hi, color=_BAND, alpha=0.45, linewidth=0, label=named(names.band))
    elif hi is not None:
        axes.plot(when, hi, color=_GUARD, linestyle=":", linewidth=1.6, label=named(names.band))
    if exp is not None:
        axes.plot(when, exp, color=_EXPECTED, linestyle="--", linewidth=1.0, label=named(names.expected))
    axes.plot(when, vs, color=_SERIES, linewidth=1.4, label=named(names.value))
    first = {True: True, False: True}
    for left, right, episode in runs:
        text = ("alert active" if episode else "earlier anomaly") if first[episode] else None
        first[episode] = False
        color, alpha = (_ANOMALY, 0.2) if episode else (_EARLIER, 0.25)
        axes.axvspan(
            left / _DAY, right / _DAY, color=color, alpha=alpha, linewidth=0, label=named(text or "")
        )
    if threshold is not None:
        axes.axhline(
            threshold,
            color=_GUARD,
            linestyle=":",
            linewidth=1.5,
            label=named(f"guard {units.write(threshold, scale)}"),
        )


def _formatter(span: float = 0.0) -> Formatter:
    """Times of day; with the date when the panel spans more than most of a day."""
    pattern = "%b %d %H:%M" if span > 0.8 * _DAY else "%H:%M"
    formatter: Formatter = mdates.DateFormatter(pattern, tz=UTC)  # type: ignore[no-untyped-call]
    return formatter


def _aligned(
    name: str, array: npt.ArrayLike | None, size: int, dtype: type = np.float64
) -> npt.NDArray[np.generic] | None:
    if array is None:
        return None
    out: npt.NDArray[np.generic] = np.asarray(array, dtype=dtype)
    if out.shape != (size,):
        raise ValueError(f"render_chart: {name} must have shape ({size},) like timestamps, got {out.shape}")
    return out


def zoom_window(onset: float, end: float) -> tuple[float, float]:
    """The zoomed span, ending at ``end`` (the last data, nothing blank after it): the onset at
    two thirds of it, or later while the alert is younger than ``MIN_AFTER``."""
    after = max(end - onset, MIN_AFTER)
    return end - after / (1.0 - ZOOM_SHARE), end


def _zoom(ts: npt.NDArray[np.float64], onset: float | None) -> tuple[float, float] | None:
    """The zoom panel's span, or None when one panel already shows the onset large enough."""
    if onset is None or not math.isfinite(onset) or ts.size < 2:
        return None
    start, end = zoom_window(onset, float(ts[-1]))
    if start <= ts[0] + 0.5 * (end - start):
        return None  # the data hardly reaches before the zoom: one panel is the zoom
    return start, end


def _runs(
    ts: npt.NDArray[np.float64],
    mask: npt.NDArray[np.generic],
    onset: float | None,
    min_run: int,
    lead: float = 0.0,
) -> list[tuple[float, float, bool]]:
    """(left, right, is the alert's episode) of each run worth shading, half a step wider each side.

    The episode runs from the onset (or the start of the anomalous run that led to it, at most
    ``lead`` earlier) to the last point, as one span; runs before it count when they last
    ``min_run`` points or more.
    """
    step = float(np.median(np.diff(ts))) if ts.size > 1 else 60.0
    flags = mask.astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], flags, [0]))))
    out: list[tuple[float, float, bool]] = []
    begins = onset if onset is not None and math.isfinite(onset) else None
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        left, right = float(ts[start] - step / 2), float(ts[stop - 1] + step / 2)
        if onset is not None and begins is not None and right >= onset - lead - step:
            begins = min(begins, max(left + step / 2, onset - lead))
            continue  # part of the episode, drawn below
        if stop - start >= max(min_run, 1):
            out.append((left, right, False))
    if begins is not None and begins <= ts[-1]:
        out.append((max(begins, float(ts[0])) - step / 2, float(ts[-1]) + step / 2, True))
    return out


def _fit_y(
    axes: Axes, ts: npt.NDArray[np.float64], span: tuple[float, float], arrays: list[npt.NDArray[np.generic]]
) -> None:
    """Scale the y-axis to what both panels show, so the zoom and the context compare directly."""
    finite = [a[np.isfinite(a)] for a in arrays]
    values = np.concatenate([f for f in finite if f.size]) if any(f.size for f in finite) else np.zeros(1)
    low, high = float(values.min()), float(values.max())
    pad = (high - low) * 0.08 or abs(high) * 0.1 or 1.0
    axes.set_ylim(low - pad, high + pad)


def band_note(tier: str, lower: npt.ArrayLike, upper: npt.ArrayLike) -> str:
    """The sentence under a chart whose band changes width (empty when it does not)."""
    if not tier.startswith(("stl", "mstl")):
        return ""
    half = (np.asarray(upper, dtype=np.float64) - np.asarray(lower, dtype=np.float64)) / 2
    half = half[np.isfinite(half) & (half > 0)]
    if half.size < 2 or half.max() < WIDTH_CHANGE * half.min():
        return ""
    return "the band is wider in hours of the day whose history is noisier (its width is learned per hour)"


@dataclass(frozen=True)
class Drawn:
    """The arrays a verdict is drawn as, with their legend names."""

    values: npt.NDArray[np.float64]
    expected: npt.NDArray[np.float64] | None
    lower: npt.NDArray[np.float64] | None
    upper: npt.NDArray[np.float64] | None
    names: Labels
    unit: Unit | None


def as_drawn(verdict: Verdict, facts: RuleFacts | None) -> Drawn:
    """What the chart shows of ``verdict``: the quantity its detector judges, in its unit."""
    unit = facts.unit if facts is not None else None
    params = _params(facts)
    if verdict.tier == "burn_rate":
        budget = float(verdict.expected[0]) if len(verdict) else math.nan
        pages = float(verdict.upper[0]) if len(verdict) else math.nan
        ratio = units.parse("ratio")
        names = Labels(
            value="error ratio",
            expected=f"budget {units.number(budget, ratio)}",
            band=f"pages above {units.number(pages, ratio)} ({pages / budget:.3g}x budget)"
            if budget
            else "pages",
            fill=False,
        )
        return Drawn(verdict.values, verdict.expected, None, verdict.upper, names, ratio)
    if verdict.tier == "forecast" and params is not None:
        spent = _spent_in_period(verdict.timestamps, verdict.values, params["period"])
        budget = float(verdict.upper[0]) if len(verdict) else math.nan
        names = Labels(
            value="spent this period",
            expected="on budget (spread evenly)",
            band=f"budget {units.number(budget, unit)}",
            fill=False,
        )
        return Drawn(spent, verdict.expected, None, verdict.upper, names, unit)
    return Drawn(verdict.values, verdict.expected, verdict.lower, verdict.upper, Labels(), unit)


def _params(facts: RuleFacts | None) -> dict[str, object] | None:
    if facts is None or facts.baseline is None:
        return None
    clean, problems = spec.check(dict(facts.baseline))
    return None if problems else clean


def _spent_in_period(
    ts: npt.NDArray[np.float64], vs: npt.NDArray[np.float64], period: object
) -> npt.NDArray[np.float64]:
    """Spend since each point's budget period began (reset-aware), from a cumulative counter.

    As ``detect.forecast`` counts it; a period that began before the data counts from the first
    point the data has of it.
    """
    length: str | float = period if isinstance(period, str) else float(str(period))
    cum = forecast.increases(np.nan_to_num(vs, nan=0.0))
    starts = np.array([forecast.period_bounds(float(t), length)[0] for t in ts])
    first = np.searchsorted(ts, starts, side="left")
    out: npt.NDArray[np.float64] = np.where(
        np.isfinite(vs), cum - cum[np.minimum(first, ts.size - 1)], np.nan
    )
    return out


def chart_provider(
    fetch: Callable[[Alert, float], Verdict | None],
    *,
    thresholds: Mapping[str, float] | None = None,
    facts: Mapping[str, RuleFacts] | None = None,
    span: float = 6 * 3600.0,
) -> Callable[[Notification], bytes | None]:
    """The ``RenderContext.chart`` hook: chart the group's most anomalous alert.

    ``fetch(alert, now)`` returns the detector's verdict over the recent hours (the engine
    queries the source and evaluates the baseline). ``facts`` (by rule name) give the unit, the
    baseline's parameters and the trigger window, which sets how long an earlier anomalous run
    must be to be shaded. The chart shows the last ``span`` seconds of the verdict; what came
    before (a detector's lookback) only feeds what is drawn (a forecast's spend this period). A
    failing fetch or drawing leaves the message without a chart rather than holding it back.
    """
    limits = dict(thresholds or {})
    known = dict(facts or {})

    def provide(notification: Notification) -> bytes | None:
        candidates = notification.firing or notification.alerts
        if not candidates:
            return None
        alert = max(candidates, key=lambda a: (a.score, a.fingerprint))
        try:
            verdict = fetch(alert, notification.now)
            if verdict is None or len(verdict) == 0:
                return None
            rule = known.get(alert.rule)
            drawn = as_drawn(verdict, rule)
            shown = verdict.timestamps >= verdict.timestamps[-1] - span
            if not shown.any():
                return None
            series = ", ".join(
                f"{k}={v}" for k, v in alert.labels.items() if k not in ("alertname", "severity")
            )
            return render_chart(
                verdict.timestamps[shown],
                drawn.values[shown],
                _cut(drawn.expected, shown),
                _cut(drawn.lower, shown),
                _cut(drawn.upper, shown),
                verdict.anomalous[shown],
                limits.get(alert.rule),
                f"{alert.rule} · {series}" if series else alert.rule,
                unit=drawn.unit,
                onset=alert.active_at,
                min_run=_min_run(verdict, rule),
                lead=rule.window if rule is not None and rule.window else 0.0,
                names=drawn.names,
                note=band_note(verdict.tier, verdict.lower[shown], verdict.upper[shown]),
            )
        except (AlerterError, OSError) as err:
            log.warning("no chart for %s: %s", alert.rule, err)
        except Exception:  # the chart is optional; the message must still go out
            log.exception("no chart for %s: drawing it failed", alert.rule)
        return None

    return provide


def _cut(
    array: npt.NDArray[np.float64] | None, keep: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float64] | None:
    return array[keep] if array is not None else None


def _min_run(verdict: Verdict, facts: RuleFacts | None) -> int:
    """Points an earlier anomalous run needs to be shaded: half the trigger window (its default
    fraction), at least two; a lone point is noise the trigger window absorbs."""
    ts = verdict.timestamps
    step = float(np.median(np.diff(ts))) if ts.size > 1 else 60.0
    window = facts.window if facts is not None and facts.window else 5 * 60.0
    return max(2, math.ceil(0.5 * window / max(step, 1e-9)))
