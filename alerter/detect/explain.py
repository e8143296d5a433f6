"""Each detector's verdict in words a person can act on: the one place that says why it fired.

Called by the Slack message (``notify.slack.blocks``: an alert's numbers and the digest line) and
by anything else that shows an alert to people. Pure: the numbers an alert carries (value,
expected, band, share of the trigger window out of band, tier, the detector's reason), the rule's
``baseline:`` and unit in, an :class:`Explanation` out.

Each detector says what its own verdict means:

- band detectors (``stl``, ``mstl``, ``ewma`` and the ``auto`` ladder's rungs): value vs expected
  and band, robust sigmas (the band is ``sensitivity`` sigmas plus ``min_deviation`` wide each
  side), and how much of the trigger window was out of band;
- ``burn_rate``: how fast each window burns the error budget against the factor that fires it,
  and what share of a 30-day budget the long window spent (from the verdict's reason,
  ``detect.burnrate.parse_reason``);
- ``forecast``: the spend projected by the period's end against the budget, and the day the
  budget runs out at the current rate (``detect.forecast.parse_reason``);
- ``static`` (a rule's thresholds, or the ladder's first rung): the value against its limit;
- ``threshold`` (a rule without ``baseline:``): the value; its condition is ``expr`` itself.

Sigmas are said only where a detector has them (band detectors), never for a limit or a ratio.
Numbers are written in the rule's unit (``detect.units``) and a band is cut at 0 for quantities
that cannot be negative.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alerter.core.durations import format_duration
from alerter.core.model import Alert, Verdict
from alerter.detect import burnrate, forecast, spec, units
from alerter.detect.units import Unit

THRESHOLD_TIER = "threshold"
"""The tier of alerts of rules without ``baseline:`` (``engine.evaluate.observe``)."""
BAND_TIERS = ("stl", "mstl", "ewma")
"""Tiers (and tier prefixes: ``stl(1d)``, ``mstl(1d,1w)``, ``ewma(1d)``) whose band is sigmas wide."""
SLO_PERIOD = 30 * 86400.0
"""The error budget's period for "share of the budget spent": the SRE workbook's 30 days, on
which the default burn factors are computed (14.4x for an hour is 2% of 30 days)."""
RATIO = units.parse("ratio")
PLAIN = Unit(units.COUNT)
"""How a spend is written when the rule names no currency: grouped digits, no symbol."""


@dataclass(frozen=True)
class Numbers:
    """What an alert (or a verdict's last point) says about its series, as the explanation reads it.

    ``at`` is when the numbers were taken (an alert's last evaluation), the "now" of "in 6 days".
    """

    value: float
    expected: float = math.nan
    lower: float = math.nan
    upper: float = math.nan
    fraction: float = 0.0
    tier: str = ""
    reason: str = ""
    at: float | None = None

    @classmethod
    def of(cls, alert: Alert) -> Numbers:
        return cls(
            alert.value,
            alert.expected,
            alert.lower,
            alert.upper,
            alert.fraction,
            alert.tier,
            alert.reason,
            alert.last_eval,
        )

    @classmethod
    def of_verdict(cls, verdict: Verdict) -> Numbers:
        last = float(verdict.timestamps[-1]) if len(verdict) else None
        return cls(
            verdict.value,
            verdict.expected_value,
            verdict.lower_value,
            verdict.upper_value,
            verdict.fraction,
            verdict.tier,
            verdict.reason,
            last,
        )


@dataclass(frozen=True)
class RuleFacts:
    """What the explanation needs to know about the rule: its ``baseline:`` as written (None for a
    threshold rule, or when the rule is not known: then no sigmas are said), its unit (None: unknown), the trigger window and the ``when:`` guard's limits
    (which judge a series while it has no baseline yet)."""

    baseline: Mapping[str, Any] | None = None
    unit: Unit | None = None
    window: float | None = None
    above: float | None = None
    below: float | None = None


@dataclass(frozen=True)
class Explanation:
    """``headline``: the value and what it is measured against, in one line; ``detail``: how far
    off and for how long, or what follows from it (may be empty)."""

    headline: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.headline} · {self.detail}" if self.detail else self.headline


def explain(numbers: Numbers, facts: RuleFacts, now: float | None = None) -> Explanation:
    """The explanation of ``numbers`` as the detector that produced them (``numbers.tier``) means
    them; ``now`` (default ``numbers.at``) dates what lies ahead ("in 6 days")."""
    when = now if now is not None else numbers.at
    if not math.isfinite(numbers.value):
        return Explanation("No value", numbers.reason)
    params = _params(facts.baseline)
    tier = numbers.tier
    if tier == THRESHOLD_TIER:
        return Explanation(units.number(numbers.value, facts.unit))
    if tier == "burn_rate":
        found = burnrate.parse_reason(numbers.reason)
        if found is not None:
            return _burn_rate(numbers, found, facts)
    if tier == "forecast":
        projection = forecast.parse_reason(numbers.reason)
        if projection is not None:
            return _forecast(projection, facts, when)
    if tier == "static":
        return _static(numbers, params or {}, facts)
    if params is None or not tier.startswith(BAND_TIERS):
        return _band(numbers, {}, facts, sigmas=False)  # a rule not known, or a tier without sigmas
    return _band(numbers, params, facts, sigmas=True)


def _params(baseline: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The baseline's parameters with their defaults (a spec with problems keeps what it can)."""
    if baseline is None:
        return None
    clean, _ = spec.check(baseline)
    return clean


def _window(fraction: float, window: float | None, what: str) -> str:
    span = f"the last {format_duration(window)}" if window else "the trigger window"
    return f"{fraction:.0%} of {span} {what}"


def _band(numbers: Numbers, params: Mapping[str, Any], facts: RuleFacts, *, sigmas: bool) -> Explanation:
    unit = facts.unit
    lower, upper = numbers.lower, numbers.upper
    if unit is not None and unit.nonnegative and math.isfinite(lower):
        lower = max(lower, 0.0)
    scale = units.scale_for(unit, [numbers.value, numbers.expected, lower, upper])
    headline = units.write(numbers.value, scale)
    if math.isfinite(numbers.expected):
        headline += f" vs {units.write(numbers.expected, scale)} expected"
    if math.isfinite(lower) and math.isfinite(upper):
        headline += f" (band {units.span(lower, upper, scale)})"
    elif math.isfinite(upper):
        headline += f" (band up to {units.write(upper, scale)})"
    elif math.isfinite(lower):
        headline += f" (band from {units.write(lower, scale)})"
    parts = []
    sigma = _sigmas(numbers, params) if sigmas else None
    if sigma is not None:
        parts.append(f"{abs(sigma):.1f}σ {'above' if sigma > 0 else 'below'}")
    parts.append(_window(numbers.fraction, facts.window, "out of band"))
    return Explanation(headline, " · ".join(parts))


def _sigmas(numbers: Numbers, params: Mapping[str, Any]) -> float | None:
    """Robust sigmas from expected: the band is ``sensitivity * sigma + min_deviation`` each side.

    (Read from the band, so a band a rung widened, as the ladder does in a series' first day, is
    read as a wider sigma: the count errs low, never high.)"""
    sensitivity = params.get("sensitivity") or 0.0
    half = (numbers.upper - numbers.lower) / 2 - (params.get("min_deviation") or 0.0)
    if not (sensitivity > 0 and math.isfinite(half) and half > 0 and math.isfinite(numbers.expected)):
        return None
    return (numbers.value - numbers.expected) / (half / sensitivity)


def _times(burn: float) -> str:
    return f"{burn:.1f}×" if math.isfinite(burn) else "n/a"


def _burn_rate(numbers: Numbers, found: burnrate.BurnReason, facts: RuleFacts) -> Explanation:
    worst = found.telling
    headline = (
        f"burning {_times(worst.long_burn)} over {format_duration(worst.long)} and "
        f"{_times(worst.short_burn)} over {format_duration(worst.short)} "
        f"(fires above {worst.factor:g}×)"
    )
    budget = 1.0 - found.objective
    unit = facts.unit if facts.unit is not None and facts.unit.kind in (units.RATIO, units.PERCENT) else RATIO
    factor = 100.0 if unit.kind == units.PERCENT else 1.0
    objective = units.write(found.objective * factor, units.scale_for(unit, [found.objective * factor]))
    ratio = units.write(numbers.value, units.scale_for(unit, [numbers.value]))
    parts = [f"error ratio {ratio} ({objective} objective)"]
    if math.isfinite(worst.long_burn) and budget > 0:
        spent = worst.long_burn * worst.long / SLO_PERIOD
        span = "hour" if worst.long == 3600 else format_duration(worst.long)
        parts.append(f"{spent:.1%} of a 30-day budget spent in the last {span}")
    for other in found.windows:
        if other is not worst:
            parts.append(
                f"{format_duration(other.long)}/{format_duration(other.short)}: "
                f"{_times(other.long_burn)} and {_times(other.short_burn)} (fires above {other.factor:g}×)"
            )
    return Explanation(headline, " · ".join(parts))


def _day(t: float, now: float | None) -> str:
    """``24 Dec`` (with the year when it is not ``now``'s), UTC, as the period boundaries are."""
    day = dt.datetime.fromtimestamp(t, dt.UTC)
    text = f"{day.day} {day:%b}"
    if now is None or dt.datetime.fromtimestamp(now, dt.UTC).year != day.year:
        text += f" {day.year}"
    return text


def _ahead(seconds: float) -> str:
    """``in 6 days``, ``in 14h``, ``in 25m``: how long until, to a useful precision."""
    if seconds <= 0:
        return "already"
    if seconds >= 2 * 86400:
        return f"in {round(seconds / 86400)} days"
    if seconds >= 3600:
        return f"in {round(seconds / 3600)}h"
    return f"in {max(1, round(seconds / 60))}m"


def _forecast(p: forecast.Projection, facts: RuleFacts, now: float | None) -> Explanation:
    unit = facts.unit if facts.unit is not None else PLAIN
    scale = units.scale_for(unit, [p.projected, p.budget, p.spent])
    last = p.period_end - 1.0
    if p.period_end % 86400 == 0:
        by = _day(last, now)
    else:
        by = _day(p.period_end, now) + dt.datetime.fromtimestamp(p.period_end, dt.UTC).strftime(" %H:%M UTC")
    projected, budget = units.write(p.projected, scale), units.write(p.budget, scale)
    parts = []
    if p.projected > p.budget:
        headline = f"{projected} of {budget} by {by} at the current rate"
        if p.exhausted_at is not None:
            ahead = f" ({_ahead(p.exhausted_at - now)})" if now is not None else ""
            parts.append(f"budget runs out on {_day(p.exhausted_at, now)}{ahead}")
    else:
        headline = f"{projected} of {budget} projected by {by}, within budget"
    parts.append(f"{units.write(p.spent, scale)} spent so far this period")
    return Explanation(headline, " · ".join(parts))


def _static(numbers: Numbers, params: Mapping[str, Any], facts: RuleFacts) -> Explanation:
    above = params.get("above") if params.get("above") is not None else facts.above
    below = params.get("below") if params.get("below") is not None else facts.below
    direction = params.get("direction", "both")
    if direction == "up":
        below = None
    elif direction == "down":
        above = None
    limits = [x for x in (above, below) if x is not None]
    scale = units.scale_for(facts.unit, [numbers.value, *limits])
    value = units.write(numbers.value, scale)
    if above is not None and numbers.value > above:
        headline = f"{value}, above the {units.write(above, scale)} limit"
    elif below is not None and numbers.value < below:
        headline = f"{value}, below the {units.write(below, scale)} limit"
    elif limits:
        within = " and ".join(
            f"{word} {units.write(x, scale)}"
            for word, x in (("under", above), ("over", below))
            if x is not None
        )
        headline = f"{value}, within its limits ({within})"
    else:
        headline = value
    detail = _window(numbers.fraction, facts.window, "beyond the limit") if limits else ""
    return Explanation(headline, detail)
