"""How close each rule came to firing during a backtest: the peak of what decides, per rule.

A rule that never fired is otherwise only a name in the report; someone tuning it wants
"closest it came: 13.3x of 14.4x". :class:`Closest` is fed every tick's
:class:`~alerter.engine.evaluate.RuleResult` by ``alerter.backtest.replay`` (the verdicts and
alerts the engine computed, nothing re-computed) and keeps, per rule, the furthest it got along
the path to a page:

1. **points**: the most out-of-band point, as the detector scored it. A detector's score is 0.5
   at its band edge (``alerter.detect.base``), so the score is turned back into the quantity the
   rule's author wrote a threshold for: for band detectors (ewma, stl, mstl) the deviation in
   band half-widths times ``sensitivity`` ("2.7σ of 3σ", the σ the rule's own band needed,
   ``min_deviation`` and the first-day widening included); for ``burn_rate`` the burn factor
   against the factor of the window pair that came closest ("13.3x of 14.4x over 1h/5m"); for
   ``forecast`` the projected spend against ``budget``; for ``static`` the value against
   ``above``/``below``.
2. **window**: the largest share of the trigger window out of band against ``trigger.fraction``.
3. **pending**: the longest an alert stayed pending against ``for``.
4. **fired**.

A threshold rule (no ``baseline:``) is active whenever its expression returns a series, so it
gets "never returned a series" or, when its expression compares with a number
(``rate(x[5m]) > 0.05``), the value of the left-hand side closest to that number over the range
(:func:`comparison` splits the expression; the replay asks the source for the left-hand side once).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alerter.core.durations import format_duration
from alerter.core.model import Alert, AlertState, Labels, Series, Verdict
from alerter.detect import spec as baseline_spec
from alerter.engine.evaluate import RuleContext, RuleResult

STEEPNESS = 10 * math.log(9.0)
"""The slope of ``alerter.detect.base.ratio_score`` (10% over a limit scores 0.9), inverted here."""

_BURN = re.compile(
    r"(?P<long>[0-9.]+)x over (?P<lw>\S+) and (?P<short>[0-9.]+)x over (?P<sw>\S+) "
    r"\(fires above (?P<factor>[0-9.]+)x\)"
)
"""One window pair in a ``burn_rate`` verdict's reason (``alerter.detect.burnrate``)."""


def band_distance(score: float) -> float:
    """Deviation in band half-widths from a band score ``r²/(1+r²)`` (1.0 at the band edge)."""
    if score >= 1.0:
        return math.inf
    return math.sqrt(max(score, 0.0) / (1.0 - score))


def score_ratio(score: float) -> float:
    """The value/limit ratio behind a ``ratio_score`` (1.0 at the limit)."""
    if score >= 1.0:
        return math.inf
    if score <= 0.0:
        return -math.inf
    return 1.0 + math.log(score / (1.0 - score)) / STEEPNESS


@dataclass
class Peak:
    """The most out-of-band point one rule's detector scored, in the units of its threshold.

    ``closeness`` is 1.0 at the threshold (above: the point was out of band); ``value`` and
    ``threshold`` are in ``measure`` units: ``sigma``, ``burn`` (x the error budget), ``spend``,
    ``value`` (static limits and threshold rules' comparisons).
    """

    measure: str
    closeness: float
    value: float
    threshold: float
    at: float
    labels: dict[str, str]
    tier: str = ""
    text: str = ""
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "measure": self.measure,
            "closeness": _finite(self.closeness),
            "value": _finite(self.value),
            "threshold": _finite(self.threshold),
            "at": self.at,
            "labels": self.labels,
            "tier": self.tier,
            "text": self.text,
            "reason": self.reason,
        }


@dataclass
class _Best:
    """The largest of one number seen so far, with when and on which series."""

    value: float = -math.inf
    at: float = math.nan
    labels: dict[str, str] = field(default_factory=dict)

    def offer(self, value: float, at: float, labels: Mapping[str, str]) -> None:
        if value > self.value:
            self.value, self.at, self.labels = value, at, dict(labels)

    @property
    def seen(self) -> bool:
        return self.value > -math.inf


@dataclass
class RuleTrack:
    """What one rule's evaluations reached, tick after tick."""

    rule: str
    threshold_rule: bool
    trigger_fraction: float
    for_: float
    sensitivity: float
    windows: tuple[tuple[float, float, float], ...]
    when: bool
    evaluations: int = 0
    verdicts: int = 0
    returned: int = 0
    fired: bool = False
    point: Peak | None = None
    window: _Best = field(default_factory=_Best)
    pending: _Best = field(default_factory=_Best)
    comparison: Peak | None = None

    @classmethod
    def of(cls, ctx: RuleContext) -> RuleTrack:
        params: dict[str, Any] = {}
        if ctx.rule.baseline is not None:
            params, _ = baseline_spec.check(ctx.rule.baseline)
        windows = tuple(
            (float(w["long"]), float(w["short"]), float(w["factor"]))
            for w in params.get("windows") or baseline_spec.DEFAULT_WINDOWS
        )
        return cls(
            rule=ctx.name,
            threshold_rule=ctx.baseline is None,
            trigger_fraction=ctx.rule.trigger.fraction,
            for_=ctx.lifecycle.for_,
            sensitivity=float(params.get("sensitivity") or baseline_spec.DEFAULTS["sensitivity"]),
            windows=windows,
            when=ctx.rule.when is not None,
        )

    def observe(self, result: RuleResult, now: float) -> None:
        self.evaluations += 1
        self.returned += len(result.series)
        for fingerprint, verdict in result.verdicts.items():
            self.verdicts += 1
            labels = result.series.get(fingerprint, Labels())
            self._verdict(verdict, labels, now)
        for alert in result.alerts:
            self._alert(alert, now)

    def _verdict(self, verdict: Verdict, labels: Labels, now: float) -> None:
        if len(verdict) == 0:
            return
        self.window.offer(verdict.fraction, now, labels)
        # A point without a value scores 0 (``Detector.evaluate``), so the maximum is a real point
        # whenever anything scored at all.
        index = int(verdict.scores.argmax())
        closeness = _closeness(verdict.tier, float(verdict.scores[index]))
        if self.point is not None and not closeness > self.point.closeness:
            return
        valid = np.flatnonzero(~np.isnan(verdict.values))
        last = bool(valid.size) and int(valid[-1]) == index
        self.point = self._peak(verdict, index, closeness, labels, verdict.reason if last else "")

    def _peak(self, verdict: Verdict, i: int, closeness: float, labels: Labels, reason: str) -> Peak:
        at = float(verdict.timestamps[i])
        value = float(verdict.values[i])
        tier = verdict.tier
        peak = Peak(
            "sigma", closeness, closeness * self.sensitivity, self.sensitivity, at, dict(labels), tier
        )
        peak.reason = reason
        if tier == "burn_rate":
            peak.measure = "burn"
            peak.value, peak.threshold, pair = self._burn(closeness, reason)
            peak.text = f"{_num(peak.value)}x of {_num(peak.threshold)}x burn" + (
                f" over {pair}" if pair else ""
            )
        elif tier == "forecast":
            budget = float(verdict.upper[i])
            peak.measure, peak.value, peak.threshold = "spend", closeness * budget, budget
            peak.text = f"projected spend {_num(peak.value)} of budget {_num(budget)}"
        elif tier == "static":
            upper = value >= float(verdict.expected[i])
            limit = float(verdict.upper[i] if upper else verdict.lower[i])
            peak.measure, peak.value, peak.threshold = "value", value, limit
            peak.text = f"{_num(value)} vs {'above' if upper else 'below'} {_num(limit)}"
        else:
            peak.text = (
                f"{_num(peak.value)}σ of {_num(self.sensitivity)}σ "
                f"(value {_num(value)}, expected {_num(float(verdict.expected[i]))})"
            )
        return peak

    def _burn(self, closeness: float, reason: str) -> tuple[float, float, str]:
        """Burn and factor of the window pair that came closest, from the verdict's own reason
        when the peak is the point it describes; else ``closeness`` times the only factor."""
        pairs = [
            (min(float(m["long"]), float(m["short"])), float(m["factor"]), f"{m['lw']}/{m['sw']}")
            for m in _BURN.finditer(reason)
        ]
        if pairs:
            burn, factor, pair = max(pairs, key=lambda p: p[0] / p[1] if p[1] else 0.0)
            return burn, factor, pair
        factors = {w[2] for w in self.windows}
        if len(factors) == 1:
            (factor,) = factors
            pair = (
                f"{format_duration(self.windows[0][0])}/{format_duration(self.windows[0][1])}"
                if len(self.windows) == 1
                else ""
            )
            return closeness * factor, factor, pair
        return closeness, 1.0, "the firing factor"

    def _alert(self, alert: Alert, now: float) -> None:
        if alert.state is AlertState.FIRING or alert.fired_at is not None:
            self.fired = True
        if alert.state is AlertState.PENDING and alert.active_at is not None:
            self.pending.offer(now - alert.active_at, now, alert.labels.without("alertname"))

    def offer_comparison(self, peak: Peak) -> None:
        self.comparison = peak

    def stage(self) -> str:
        """The furthest step towards a page: fired, pending, window, points, guard, series, none."""
        if self.fired:
            return "fired"
        if self.pending.seen:
            return "pending"
        if self.window.seen and self.window.value + 1e-9 >= self.trigger_fraction:
            return "guard" if self.when else "window"
        if self.window.seen and self.window.value > 0:
            return "window"
        if self.point is not None or self.comparison is not None:
            return "points"
        return "series" if self.threshold_rule or not self.returned else "none"

    def summary(self) -> str:
        """One line a person tuning the rule reads: how close it came, and where it stopped."""
        stage = self.stage()
        if stage == "fired":
            return "fired"
        if stage == "pending":
            if self.pending.value <= 0:
                return f"pending at single evaluations only (for {format_duration(self.for_)})"
            return f"pending up to {format_duration(self.pending.value)} of for {format_duration(self.for_)}"
        if stage == "guard":
            return (
                f"{_pct(self.window.value)} of the trigger window out of band (fires at "
                f"{_pct(self.trigger_fraction)}), but `when:` did not hold"
            )
        if stage == "window":
            return (
                f"{_pct(self.window.value)} of the trigger window out of band "
                f"(fires at {_pct(self.trigger_fraction)})"
            )
        if stage == "points":
            peak = self.comparison or self.point
            assert peak is not None
            return f"closest: {peak.text}"
        if stage == "series":
            return "never returned a series"
        return "no verdict: the baseline was still being learned" if self.returned else "no data"

    def to_json(self) -> dict[str, Any]:
        peak = self.comparison or self.point
        return {
            "rule": self.rule,
            "kind": "threshold" if self.threshold_rule else "baseline",
            "stage": self.stage(),
            "summary": self.summary(),
            "peak": peak.to_json() if peak is not None else None,
            "window": (
                {
                    "fraction": self.window.value,
                    "needed": self.trigger_fraction,
                    "at": self.window.at,
                    "labels": self.window.labels,
                }
                if self.window.seen
                else None
            ),
            "pending": (
                {
                    "longest": self.pending.value,
                    "for": self.for_,
                    "at": self.pending.at,
                    "labels": self.pending.labels,
                }
                if self.pending.seen
                else None
            ),
            "evaluations": self.evaluations,
            "verdicts": self.verdicts,
        }


class Closest:
    """Every rule's track, fed one group's tick results at a time."""

    def __init__(self) -> None:
        self.tracks: dict[str, RuleTrack] = {}

    def observe(self, rules: Sequence[RuleContext], results: Sequence[RuleResult], now: float) -> None:
        for ctx, result in zip(rules, results, strict=True):
            track = self.tracks.get(ctx.name)
            if track is None:
                track = self.tracks[ctx.name] = RuleTrack.of(ctx)
            track.observe(result, now)

    def to_json(self) -> dict[str, dict[str, Any]]:
        return {name: track.to_json() for name, track in sorted(self.tracks.items())}


# -- threshold rules: the left-hand side of a comparison with a number ---------------------------

_NUMBER = re.compile(r"^[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|0[xX][0-9a-fA-F]+|[Ii]nf)$")
_OPERATORS = (">=", "<=", "==", "!=", ">", "<")
_FLIP = {">": "<", "<": ">", ">=": "<=", "<=": ">=", "==": "==", "!=": "!="}
_SET_OPERATOR = re.compile(r"\b(and|or|unless)\b")


@dataclass(frozen=True)
class Comparison:
    """``side op number`` from a threshold rule's expression, with the side that is queried."""

    side: str
    op: str
    number: float


def comparison(expr: str) -> Comparison | None:
    """The top-level comparison of ``expr`` with a number literal; None for anything else.

    Deliberately simple: one comparison operator outside brackets and strings, no ``bool``
    modifier, no set operator (``and``/``or``/``unless``) at the top level, a plain number on one
    side (``x > 0.5`` or ``0.5 < x``). PromQL comparisons bind tighter than set operators and
    looser than arithmetic, so the other side is the whole rest of the expression.
    """
    scanned = _top_level(expr)
    if scanned is None:
        return None
    code, expr = scanned
    if _SET_OPERATOR.search(code):
        return None
    found = [(i, op) for i, op in _operators(code)]
    if len(found) != 1:
        return None
    at, op = found[0]
    left, right = expr[:at].strip(), expr[at + len(op) :].strip()
    if right.startswith("bool ") or not left or not right:
        return None
    if _NUMBER.match(right):
        return Comparison(left, op, float(right))
    if _NUMBER.match(left):
        return Comparison(right, _FLIP[op], float(left))
    return None


def _top_level(expr: str) -> tuple[str, str] | None:
    """``expr`` with bracketed parts, strings and comments blanked out, and ``expr`` with only its
    comments blanked (both of the same length); None when its brackets or quotes do not balance."""
    out = []
    depth = 0
    quote = ""
    i = 0
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == "\\" and quote != "`":
                out.append("  ")
                i += 2
                continue
            if c == quote:
                quote = ""
            out.append(" ")
        elif c in "\"'`":
            quote = c
            out.append(" ")
        elif c == "#":
            end = expr.find("\n", i)
            end = len(expr) if end < 0 else end
            out.append(" " * (end - i))
            expr = expr[:i] + " " * (end - i) + expr[end:]
            i = end
            continue
        elif c in "([{":
            depth += 1
            out.append(" ")
        elif c in ")]}":
            depth -= 1
            if depth < 0:
                return None
            out.append(" ")
        else:
            out.append(c if depth == 0 else " ")
        i += 1
    return ("".join(out), expr) if depth == 0 and not quote else None


def _operators(code: str) -> list[tuple[int, str]]:
    found = []
    i = 0
    while i < len(code):
        op = next((o for o in _OPERATORS if code.startswith(o, i)), None)
        if op is None:
            i += 1
            continue
        # ``=~`` and ``!~`` live inside braces, which are blanked already.
        found.append((i, op))
        i += len(op)
    return found


def comparison_peak(comp: Comparison, series: Sequence[Series]) -> Peak | None:
    """The value of ``comp.side`` that came closest to passing ``comp.op comp.number``."""
    best: Peak | None = None
    for s in series:
        values = s.values
        ok = np.isfinite(values)
        if not ok.any():
            continue
        if comp.op in (">", ">="):
            index = int(np.flatnonzero(ok)[np.argmax(values[ok])])
        elif comp.op in ("<", "<="):
            index = int(np.flatnonzero(ok)[np.argmin(values[ok])])
        elif comp.op == "==":
            index = int(np.flatnonzero(ok)[np.argmin(np.abs(values[ok] - comp.number))])
        else:
            return None
        value = float(values[index])
        closeness = _comparison_closeness(comp, value)
        if best is None or closeness > best.closeness:
            labels = dict(s.labels.without("__name__"))
            text = f"{_num(value)} vs {comp.op} {_num(comp.number)}"
            best = Peak(
                "value", closeness, value, comp.number, float(s.timestamps[index]), labels, "threshold", text
            )
    return best


def _comparison_closeness(comp: Comparison, value: float) -> float:
    """1.0 at the number; for ``>`` the ratio value/number (relative distance when it is 0 or negative)."""
    unit = abs(comp.number) or 1.0
    if comp.op in (">", ">="):
        return 1.0 + (value - comp.number) / unit
    if comp.op in ("<", "<="):
        return 1.0 + (comp.number - value) / unit
    return 1.0 - abs(value - comp.number) / unit


# -- formatting ---------------------------------------------------------------------------------


def _closeness(tier: str, score: float) -> float:
    if tier in ("burn_rate", "forecast"):
        return max(score_ratio(score), 0.0)  # a burn or a spend is never below zero
    if tier == "static":
        return score_ratio(score)
    return band_distance(score)


def _num(x: float) -> str:
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if math.isnan(x):
        return "?"
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


__all__ = [
    "Closest",
    "Comparison",
    "Peak",
    "RuleTrack",
    "band_distance",
    "comparison",
    "comparison_peak",
    "score_ratio",
]
