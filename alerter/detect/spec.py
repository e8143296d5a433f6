"""The ``baseline:`` mapping of a rule: its keys, their defaults, and every problem with it.

Called by :func:`alerter.detect.build` (which refuses a bad spec), by each detector's ``fit``
(which re-validates its own parameters, scikit-learn style) and by the config checker, which
prints each :class:`SpecProblem` as ``file:line:col: rules[3].baseline.<field>: <message>``.
All problems are reported at once, with a did-you-mean for misspelt names.

Keys (durations are Prometheus strings such as ``"1d"`` or float seconds):

==================  =========================================================================
``detector``        ``auto`` (default, the cold-start ladder), ``stl``, ``mstl``, ``ewma``,
                    ``static``, ``burn_rate``, ``forecast``
``seasonality``     list of periods; omitted: detected from the data (auto), ``[1d]`` (stl),
                    ``[1d, 1w]`` (mstl), none (ewma; given, its first period is learned)
``history``         training range, default ``14d``, at most ``366d``
``resolution``      step of the training grid, default ``5m`` (never finer than the data);
                    at most 200,000 points over ``history``
``refit``           how often the baseline is refitted, default ``1h``, and ``3h`` for a
                    series a seasonal tier (stl, mstl) judges; a rule naming ``refit`` gets it
                    for every tier (``engine.baselines.SEASONAL_REFIT`` says why)
``sensitivity``     band half-width in robust standard deviations, > 0, default 3
``direction``       ``up``, ``down`` or ``both`` (default)
``min_deviation``   departures smaller than this (series units) never count, default 0
``adopt_after``     a level shift lasting this long becomes the new normal, default ``6h``;
                    ``0s`` disables adoption
``per_phase_scale`` band width varies with the phase of the season (noisier peaks), default true
``halflife``        ewma: half-life of the moving mean and variance, default ``1h``
``above/below``     static thresholds (also the lowest rung of the ``auto`` ladder)
``objective``       burn_rate: SLO target as a ratio, e.g. 0.999
``windows``         burn_rate: list of ``{long, short, factor}``, default 1h/5m x14.4 and
                    6h/30m x6 (the SRE workbook's page-worthy pair)
``budget``          forecast: spend allowed per period (> 0)
``period``          forecast: ``day``, ``week``, ``month`` (calendar, UTC) or a duration
``rate_window``     forecast: how much recent data estimates the spend rate, default ``1d``
==================  =========================================================================
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alerter.core.durations import MAX_SECONDS, format_duration, parse_duration

DETECTORS = ("auto", "stl", "mstl", "ewma", "static", "burn_rate", "forecast")
COMMON = (
    "detector",
    "history",
    "resolution",
    "refit",
    "sensitivity",
    "direction",
    "min_deviation",
    "adopt_after",
)
EXTRA: dict[str, tuple[str, ...]] = {
    "auto": ("seasonality", "per_phase_scale", "halflife", "above", "below"),
    "stl": ("seasonality", "per_phase_scale"),
    "mstl": ("seasonality", "per_phase_scale"),
    "ewma": ("halflife", "seasonality"),
    "static": ("above", "below"),
    "burn_rate": ("objective", "windows"),
    "forecast": ("budget", "period", "rate_window"),
}
ALL_KEYS = tuple(dict.fromkeys(COMMON + tuple(k for keys in EXTRA.values() for k in keys)))
DEFAULT_WINDOWS = (
    {"long": 3600.0, "short": 300.0, "factor": 14.4},
    {"long": 21600.0, "short": 1800.0, "factor": 6.0},
)
DEFAULTS: dict[str, Any] = {
    "detector": "auto",
    "history": 14 * 86400.0,
    "resolution": 300.0,
    "refit": 3600.0,
    "sensitivity": 3.0,
    "direction": "both",
    "min_deviation": 0.0,
    "adopt_after": 6 * 3600.0,
    "per_phase_scale": True,
    "halflife": 3600.0,
    "seasonality": None,
    "above": None,
    "below": None,
    "objective": None,
    "windows": DEFAULT_WINDOWS,
    "budget": None,
    "period": None,
    "rate_window": 86400.0,
}
MAX_HISTORY = 366 * 86400.0
"""Longest training range: a year of history already covers every season alerter models."""
MAX_TRAINING_POINTS = 200_000
"""Most points ``history / resolution`` may ask per series: 14 days at one minute is 20,160;
14 days at 1 ms would be 1.2 billion, a query no source answers and a fit that never ends."""
PERIOD_NAMES = {"day": 86400.0, "week": 7 * 86400.0, "month": 31 * 86400.0}


@dataclass(frozen=True)
class SpecProblem:
    """One problem: the field path inside ``baseline``, what is wrong, and how to fix it."""

    field: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" + (f" ({self.hint})" if self.hint else "")


def _written(spec: Mapping[str, Any], key: str, seconds: float) -> str:
    """A duration in messages as the user wrote it (``48h``), in Prometheus units when it was given
    in seconds, and marked when it is the default: "got 2d, needs at least 4d", never "172800s"."""
    if key not in spec:
        return f"{format_duration(seconds)} (the default)"
    raw = spec[key]
    return raw.strip() if isinstance(raw, str) else format_duration(seconds)


def _season(spec: Mapping[str, Any], seconds: float) -> str:
    """The seasonality period of ``seconds`` as written in the spec (``30d``, not ``4w2d``)."""
    raw = spec.get("seasonality")
    for item in raw if isinstance(raw, list | tuple) else [raw]:
        if isinstance(item, str) and _seconds(item) == seconds:
            return item.strip()
    return format_duration(seconds)


def _like(written: str, seconds: float) -> str:
    """``seconds`` in the unit of ``written`` when that is one unit and the count is whole
    (``30d`` -> ``60d``), else in Prometheus units."""
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d|w|y)", written)
    unit = _seconds(f"1{match.group(2)}") if match else None
    if match and unit and float(seconds / unit).is_integer():
        return f"{int(seconds / unit)}{match.group(2)}"
    return format_duration(seconds)


def _seconds(text: str) -> float | None:
    try:
        return parse_duration(text)
    except ValueError:
        return None


def _did_you_mean(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return "expected one of: " + ", ".join(choices)


class _Checker:
    """Collects problems while converting a raw spec into clean parameters."""

    def __init__(self) -> None:
        self.problems: list[SpecProblem] = []

    def add(self, field: str, message: str, hint: str = "") -> None:
        self.problems.append(SpecProblem(field, message, hint))

    def duration(self, field: str, raw: Any, *, allow_zero: bool = False) -> float | None:
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            self.add(field, f"must be a duration, got {raw!r}", 'e.g. "5m", "1d" or seconds')
            return None
        if isinstance(raw, str):
            try:
                seconds = parse_duration(raw)
            except ValueError as exc:
                self.add(field, str(exc))
                return None
        else:
            seconds = float(raw)
        if seconds > MAX_SECONDS:
            self.add(field, f"is out of range, got {raw!r}", "at most 292y, as in Prometheus")
            return None
        if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
            self.add(field, f"must be {'>= 0' if allow_zero else '> 0'}, got {raw!r}")
            return None
        return seconds

    def number(self, field: str, raw: Any, *, low: float | None = None, strict: bool = True) -> float | None:
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            self.add(field, f"must be a number, got {raw!r}")
            return None
        if low is not None and (raw <= low if strict else raw < low):
            self.add(field, f"must be {'>' if strict else '>='} {low:g}, got {raw!r}")
            return None
        return float(raw)


def _check_seasonality(c: _Checker, raw: Any) -> list[float] | None:
    if raw is None:
        return None
    items = [raw] if isinstance(raw, str | int | float) and not isinstance(raw, bool) else raw
    if not isinstance(items, list | tuple) or not items:
        c.add("seasonality", f"must be a non-empty list of durations, got {raw!r}", 'e.g. ["1d", "1w"]')
        return None
    periods = [c.duration(f"seasonality[{i}]", item) for i, item in enumerate(items)]
    if any(p is None for p in periods):
        return None
    return sorted(float(p) for p in periods if p is not None)


def _check_windows(c: _Checker, raw: Any) -> list[dict[str, float]] | None:
    if not isinstance(raw, list | tuple) or not raw:
        c.add("windows", f"must be a non-empty list of {{long, short, factor}}, got {raw!r}")
        return None
    out = []
    for i, item in enumerate(raw):
        field = f"windows[{i}]"
        if not isinstance(item, Mapping) or set(item) != {"long", "short", "factor"}:
            c.add(field, f"must have exactly the keys long, short, factor, got {item!r}")
            continue
        long_ = c.duration(f"{field}.long", item["long"])
        short = c.duration(f"{field}.short", item["short"])
        factor = c.number(f"{field}.factor", item["factor"], low=0)
        if long_ is not None and short is not None and short >= long_:
            c.add(f"{field}.short", f"must be shorter than long ({item['long']!r}), got {item['short']!r}")
        elif None not in (long_, short, factor):
            out.append({"long": float(long_ or 0), "short": float(short or 0), "factor": float(factor or 0)})
    return out if len(out) == len(raw) else None


def _check_period(c: _Checker, raw: Any) -> str | float | None:
    if isinstance(raw, str) and raw in PERIOD_NAMES:
        return raw
    if isinstance(raw, str) and raw.isalpha():
        c.add("period", f"unknown period {raw!r}", _did_you_mean(raw, list(PERIOD_NAMES)) + " or a duration")
        return None
    return c.duration("period", raw)


def _check_specific(c: _Checker, name: str, out: dict[str, Any], spec: Mapping[str, Any]) -> None:
    for key in ("above", "below"):
        if spec.get(key) is not None:
            out[key] = c.number(key, spec[key])
    if out["above"] is not None and out["below"] is not None and out["below"] >= out["above"]:
        c.add("below", f"must be lower than above ({out['above']:g}), got {out['below']:g}")
    if name == "static" and out["above"] is None and out["below"] is None:
        c.add("above", "static needs a threshold", "set above, below or both")
    if "halflife" in spec:
        out["halflife"] = c.duration("halflife", spec["halflife"])
    if "per_phase_scale" in spec and not isinstance(spec["per_phase_scale"], bool):
        c.add("per_phase_scale", f"must be true or false, got {spec['per_phase_scale']!r}")
    if name == "burn_rate":
        if spec.get("objective") is None:
            c.add("objective", "burn_rate needs an SLO objective", "e.g. objective: 0.999")
        else:
            obj = c.number("objective", spec["objective"], low=0)
            if obj is not None and obj >= 1:
                c.add("objective", f"must be a ratio below 1, got {obj:g}", "99.9% is written 0.999")
            out["objective"] = obj if obj is not None and obj < 1 else None
        if "windows" in spec:
            out["windows"] = _check_windows(c, spec["windows"])
    if name == "forecast":
        if spec.get("budget") is None:
            c.add("budget", "forecast needs a budget per period", "e.g. budget: 500")
        else:
            out["budget"] = c.number("budget", spec["budget"], low=0)
        if spec.get("period") is None:
            c.add("period", "forecast needs a budget period", "day, week, month or a duration")
        else:
            out["period"] = _check_period(c, spec["period"])
        if "rate_window" in spec:
            out["rate_window"] = c.duration("rate_window", spec["rate_window"])


def _check_common(c: _Checker, out: dict[str, Any], spec: Mapping[str, Any]) -> None:
    for key in ("history", "resolution", "refit"):
        if key in spec:
            out[key] = c.duration(key, spec[key])
    if "adopt_after" in spec:
        out["adopt_after"] = c.duration("adopt_after", spec["adopt_after"], allow_zero=True)
    if "sensitivity" in spec:
        out["sensitivity"] = c.number("sensitivity", spec["sensitivity"], low=0)
    if "min_deviation" in spec:
        out["min_deviation"] = c.number("min_deviation", spec["min_deviation"], low=0, strict=False)
    direction = spec.get("direction", "both")
    if direction not in ("up", "down", "both"):
        c.add(
            "direction",
            f"must be up, down or both, got {direction!r}",
            _did_you_mean(str(direction), ["up", "down", "both"]),
        )
    out["seasonality"] = _check_seasonality(c, spec.get("seasonality"))
    season, history, resolution = out["seasonality"], out["history"], out["resolution"]
    if history is not None and history > MAX_HISTORY:
        c.add(
            "history",
            f"must be at most 366d, got {_written(spec, 'history', history)}",
            "a year covers every season modelled",
        )
    elif history is not None and resolution is not None and history / resolution > MAX_TRAINING_POINTS:
        c.add(
            "resolution",
            f"asks {history / resolution:,.0f} points per series over history, "
            f"more than {MAX_TRAINING_POINTS:,}",
            "use a coarser resolution or a shorter history",
        )
    if season and history is not None and history < 2 * season[-1]:
        c.add(
            "history",
            f"must cover at least two of the longest season ({_season(spec, season[-1])}): "
            f"got {_written(spec, 'history', history)}, "
            f"needs at least {_like(_season(spec, season[-1]), 2 * season[-1])}",
            "a seasonal profile needs two full cycles to be learned",
        )
    if season and resolution is not None and resolution * 4 > season[0]:
        c.add(
            "resolution",
            f"must be at most a quarter of the shortest season ({_season(spec, season[0])}): "
            f"got {_written(spec, 'resolution', resolution)}, "
            f"needs at most {_like(_season(spec, season[0]), season[0] / 4)}",
        )


def check(spec: Mapping[str, Any]) -> tuple[dict[str, Any], list[SpecProblem]]:
    """Clean parameters (defaults applied, durations in seconds) and all problems found."""
    c = _Checker()
    if not isinstance(spec, Mapping):
        c.add("baseline", f"must be a mapping, got {type(spec).__name__}")
        return dict(DEFAULTS), c.problems
    name = spec.get("detector", "auto")
    if name not in DETECTORS:
        c.add("detector", f"unknown detector {name!r}", _did_you_mean(str(name), DETECTORS))
        name = "auto"
    allowed = COMMON + EXTRA[name]
    for key in spec:
        if key in allowed:
            continue
        if key in ALL_KEYS:
            users = [d for d in DETECTORS if key in EXTRA[d]]
            c.add(str(key), f"is not used by detector {name!r}", "used by " + ", ".join(users))
        else:
            c.add(str(key), f"unknown key {key!r}", _did_you_mean(str(key), list(allowed)))
    out = dict(DEFAULTS)
    out.update({k: spec[k] for k in spec if k in allowed})
    out["detector"] = name
    _check_common(c, out, spec)
    _check_specific(c, name, out, spec)
    return out, c.problems


def spec_problems(spec: Mapping[str, Any]) -> list[SpecProblem]:
    """Every problem with a ``baseline:`` mapping (empty when it is valid)."""
    return check(spec)[1]
