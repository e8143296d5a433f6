"""The unit of a rule's values: its ``unit:`` key, or inferred from the metric names in ``expr``.

Called when a rule's messages are rendered (``notify.slack.blocks.RuleInfo.of``) and by whatever
else explains a rule's values (``detect.explain``). Prometheus' naming conventions put the base
unit in the metric name (https://prometheus.io/docs/practices/naming/: "should have a suffix
describing the unit, in plural form", "_total" for accumulating counts, base units such as
seconds and bytes), so most expressions say their unit already. Inference follows these rules,
and gives no unit whenever it is unsure: a missing unit reads "2.42", a wrong one misleads.

1. Each selector's metric name (``config.promql.analyze``) gives a unit by its suffix, after
   ``_total`` (a counter), ``_sum`` (a histogram's or summary's sum) or ``_bucket`` (its buckets,
   which only ``histogram_quantile`` turns into values) is taken off: ``_seconds`` (``_milliseconds``,
   ``_ms``) -> seconds, ``_bytes`` -> bytes, ``_ratio`` -> ratio, ``_percent`` -> percent, ``_usd``
   / ``_dollars`` -> usd (``_eur``, ``_gbp``), ``_tokens`` / ``_requests`` -> a count of them. A
   bare ``_total`` counts events; ``_count`` counts observations. ``_timestamp_seconds``,
   ``_start_time_seconds`` and ``_boot_time_seconds`` are points in time, not durations: no unit.
   Any other name: no unit.
2. A counter or a ``_count`` directly inside ``rate(...)`` or ``irate(...)`` is per second
   (``rate(http_requests_total[5m])`` -> requests/s). A rated ``_seconds_total`` (busy time per
   second, e.g. CPU) has no unit.
3. Every selector must give the same unit. Dividing two of them (``errors / requests``, used
   bytes / limit bytes) gives a ratio, except a histogram's mean (``x_seconds_sum / x_seconds_count``),
   which keeps the sum's unit; dividing different units (bytes per request) gives none.
4. Adding or subtracting a number and comparing with one keep the unit (``1 - errors/requests``,
   ``latency_seconds > 0.5``). Multiplying a ratio by 100 makes it a percent; any other scaling
   by a number (``* 1000``, ``/ 60``), ``%``, ``^``, a ``bool`` comparison and functions that
   return something else (``count``, ``absent``, ``changes``, ``time``, ``deriv``...) give none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from alerter.config import promql
from alerter.config.promql import TOKEN
from alerter.config.rules import Rule
from alerter.detect import units
from alerter.detect.explain import RuleFacts

_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_timestamp_seconds", ""),
    ("_start_time_seconds", ""),
    ("_boot_time_seconds", ""),
    ("_milliseconds", "ms"),
    ("_ms", "ms"),
    ("_seconds", "seconds"),
    ("_bytes", "bytes"),
    ("_ratio", "ratio"),
    ("_percent", "percent"),
    ("_usd", "usd"),
    ("_dollars", "usd"),
    ("_eur", "eur"),
    ("_gbp", "gbp"),
    ("_tokens", "tokens"),
    ("_requests", "requests"),
    ("_errors", "errors"),
)
_OTHER_UNITS = frozenset(
    ["celsius", "fahrenheit", "joules", "volts", "amperes", "watts", "meters", "grams", "hertz", "info"]
)
"""Base units and suffixes this inference does not write: they make a name's unit unknown."""
_CHANGES_UNIT = frozenset(
    [
        "count",
        "count_over_time",
        "count_values",
        "absent",
        "absent_over_time",
        "changes",
        "resets",
        "time",
        "timestamp",
        "day_of_month",
        "day_of_week",
        "day_of_year",
        "days_in_month",
        "hour",
        "minute",
        "month",
        "year",
        "sgn",
        "ln",
        "log2",
        "log10",
        "exp",
        "sqrt",
        "deriv",
        "predict_linear",
        "holt_winters",
        "double_exponential_smoothing",
        "group",
        "present_over_time",
        "histogram_count",
        "histogram_fraction",
        "histogram_stddev",
        "histogram_stdvar",
        "atan2",
        "stddev",
        "stdvar",
        "stddev_over_time",
        "stdvar_over_time",
    ]
)
"""Functions whose result is not in their argument's unit (or, for a spread, is, but reads as
something else): an expression calling one gets no unit. ``stddev`` is in the argument's unit,
yet a band on it is about variability, not the quantity; when unsure, none."""

_INF_NAN = frozenset(("inf", "nan", "Inf", "NaN", "Infinity"))


@dataclass(frozen=True)
class _Part:
    """What one selector contributes: unit kind text, the base name, how it was taken off."""

    unit: str
    base: str
    tail: str


def of_rule(rule: Rule) -> str | None:
    """The rule's unit: its ``unit:`` key when given, else the one ``infer`` finds (or None)."""
    return rule.unit if rule.unit is not None else infer(rule.expr)


def facts(rule: Rule) -> RuleFacts:
    """What ``detect.explain`` needs of ``rule``: baseline, unit, trigger window, guard limits."""
    unit = of_rule(rule)
    guard = rule.when
    return RuleFacts(
        baseline=rule.baseline,
        unit=units.parse(unit) if unit is not None else None,
        window=None if rule.baseline is None else rule.trigger.window,
        above=guard.above if guard is not None else None,
        below=guard.below if guard is not None else None,
    )


def infer(expr: str) -> str | None:
    """The unit of ``expr``'s values by the rules in the module docstring; None when unsure.

    The result is a unit name ``detect.units.parse`` reads (``seconds``, ``requests/s``, ``ratio``).
    """
    analysis = promql.analyze(expr)
    if analysis is None or not analysis.selectors:
        return None
    tokens = _significant(expr)
    idents = {t for kind, t, _ in tokens if kind == "ident"}
    if idents & _CHANGES_UNIT or "bool" in idents:
        return None
    parts: list[_Part] = []
    for selector in analysis.selectors:
        if selector.name is None:
            return None
        part = _selector_unit(selector.name, _rated(expr, selector.offset), "histogram_quantile" in idents)
        if part is None:
            return None
        parts.append(part)
    ops = _arithmetic(tokens)
    if ops is None:
        return None
    divides, hundred = ops
    unit = parts[0].unit
    if divides:
        bases = {p.base for p in parts}
        tails = sorted(p.tail for p in parts)
        if len(bases) == 1 and tails == ["_count", "_sum"]:
            unit = parts[[p.tail for p in parts].index("_sum")].unit.removesuffix("/s")
        elif all(_same(p.unit, unit) for p in parts):
            unit = "ratio"
        else:
            return None
    elif not all(p.unit == unit for p in parts):
        return None
    if hundred:
        return "percent" if unit == "ratio" else None
    if unit in ("seconds/s", "ms/s"):
        return None  # busy time per second (CPU): a share of a core, not a duration
    return unit


def _same(a: str, b: str) -> bool:
    """Whether two selector units divide into a ratio: both counts (of whatever), or equal."""
    ua, ub = units.parse(a), units.parse(b)
    if ua.per_second != ub.per_second or ua.kind != ub.kind:
        return False
    return ua.kind == units.COUNT or ua.noun == ub.noun


def _selector_unit(name: str, rated: bool, quantile: bool) -> _Part | None:
    base, tail = name, ""
    for ending in ("_total", "_sum", "_count", "_bucket"):
        if name.endswith(ending) and len(name) > len(ending):
            base, tail = name[: -len(ending)], ending
            break
    if tail == "_bucket" and not quantile:
        return None
    found = next((unit for suffix, unit in _SUFFIXES if base.endswith(suffix)), None)
    if found == "":
        return None
    if found is None:
        last = base.rsplit("_", 1)[-1].rsplit(":", 1)[-1]
        if last in _OTHER_UNITS or tail not in ("_total", "_count"):
            return None
        found = "count"
    if tail == "_count":
        # x_seconds_count counts observations, whatever unit the observed values have.
        return _Part("count/s" if rated else "count", base, tail)
    if rated and tail in ("_total", "_sum"):
        # Seconds per second (busy time): kept for a histogram's mean, refused on its own.
        return _Part(f"{found}/s", base, tail)
    if rated and tail == "":
        return None  # rate() of a gauge: unsure
    return _Part(found, base, tail)


def _rated(expr: str, offset: int) -> bool:
    """Whether the selector starting at ``offset`` is the first argument of rate() or irate()."""
    before = re.sub(r"\s+", "", expr[:offset])
    return re.search(r"(?<![A-Za-z0-9_:])i?rate\($", before) is not None


def _significant(expr: str) -> list[tuple[str, str, int]]:
    """Tokens outside label matchers, ranges, strings and grouping clauses, as (kind, text, depth)."""
    out: list[tuple[str, str, int]] = []
    depth, braces, brackets = 0, 0, 0
    skip_clause = False
    clause_depth = -1
    for match in TOKEN.finditer(expr):
        kind, text = match.lastgroup or "other", match.group()
        if kind in ("ws", "comment", "string"):
            continue
        if text == "{":
            braces += 1
        elif text == "}":
            braces -= 1
        elif text == "[":
            brackets += 1
        elif text == "]":
            brackets -= 1
        if braces or brackets or text in "{}[]":
            continue
        if kind == "ident" and text in ("by", "without", "on", "ignoring", "group_left", "group_right"):
            skip_clause = True
            continue
        if text == "(":
            depth += 1
            if skip_clause:
                clause_depth = depth
                skip_clause = False
                continue
        if text == ")":
            if clause_depth == depth:
                clause_depth = -1
                depth -= 1
                continue
            depth -= 1
        if clause_depth != -1:
            continue
        skip_clause = False
        if kind == "ident" and text == "offset":
            out.append(("offset", text, depth))
            continue
        out.append((kind, text, depth))
    # ``offset 5m`` is no arithmetic: drop the keyword and its duration.
    cleaned: list[tuple[str, str, int]] = []
    drop_next = False
    for token in out:
        if token[0] == "offset":
            drop_next = True
            continue
        if drop_next:
            drop_next = False
            continue
        cleaned.append(token)
    return cleaned


def _arithmetic(tokens: list[tuple[str, str, int]]) -> tuple[bool, bool] | None:
    """(divides two expressions, multiplies by 100), or None for arithmetic that loses the unit."""
    divides = hundred = False
    for i, (kind, text, _) in enumerate(tokens):
        if kind != "op" or text not in ("*", "/", "%", "^"):
            continue
        if text in ("%", "^"):
            return None
        left = tokens[i - 1] if i > 0 else None
        right = tokens[i + 1] if i + 1 < len(tokens) else None
        literal = [t for t in (left, right) if t is not None and _is_number(t)]
        if not literal:
            if text == "/":
                divides = True
            else:
                return None  # a product of two series: unsure what it measures
            continue
        if text == "*" and len(literal) == 1 and float(literal[0][1]) == 100:
            hundred = True
            continue
        return None
    return divides, hundred


def _is_number(token: tuple[str, str, int]) -> bool:
    kind, text, _ = token
    if kind == "ident":
        return text in _INF_NAN
    if kind != "number":
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True
