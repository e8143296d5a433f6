"""The input-series notation of rule unit tests, exactly as promtool reads it.

Called by :mod:`alerter.ruletest.file` while validating a test file. Two small languages:

- the series: ``metric{label="value", ...}`` or ``{__name__="metric", ...}`` (equality only);
- its values, one item per whitespace-separated word, the i-th value at ``i * interval``:

  ==============  =====================================================================
  ``7``           one value (signed decimals, exponents, ``Inf`` and ``NaN`` allowed)
  ``_``           no sample at this step
  ``stale``       a staleness marker: the series ends here (until its next value)
  ``a+bxn``       ``n + 1`` values: a, a+b, ..., a+n*b (``-`` counts down)
  ``axn``         ``n + 1`` copies of a (``a+0xn``)
  ``_xn``         ``n`` missing samples (note: ``n``, not ``n + 1``)
  ==============  =====================================================================

  As in promtool, ``a+bxn`` adds ``b`` step by step (so ``0.1+0.1x2`` ends at
  0.30000000000000004), hexadecimal numbers are not allowed (``0x3`` is three zeros more), and
  ``stale`` cannot be repeated with ``x``.

- native histograms, as promtool reads them (prometheus/prometheus
  ``promql/parser/generated_parser.y``: ``series_item``, ``histogram_series_value``,
  ``histogram_desc_item``, ``bucket_set``; ``lex.go``: ``lexHistogram``, ``lexBuckets``;
  ``parse.go``: ``buildHistogramFromMap``, ``histogramsSeries``; documented in
  ``docs/configuration/unit_testing_rules.md``):

  ================================  ===========================================================
  ``{{schema:0 sum:5 count:4        one histogram; keys in any order, each once, separated by
  buckets:[1 2 1]}}``               single runs of spaces, none after ``{{`` or ``[``
  ``{{}}``                          an empty histogram
  ``{{...}}xn``                     ``n + 1`` copies
  ``{{a}}+{{b}}xn``                 ``n + 1`` histograms: a, a+b, ..., a+n*b (``-`` subtracts);
                                    b's schema must be a's or higher
  ================================  ===========================================================

  Keys: ``schema`` (an integer, -4 to 8), ``sum``, ``count``, ``z_bucket`` (the zero bucket's
  count), ``z_bucket_w`` (its half-width, unsigned), ``buckets`` and ``n_buckets`` (absolute
  counts of the positive and negative buckets, ``[1 2 1]``), ``offset`` and ``n_offset`` (the
  index of the first bucket), ``counter_reset_hint`` (``unknown``, ``reset``, ``not_reset``,
  ``gauge``). Key and hint words are case-insensitive, as in the lexer. ``custom_values``
  (Prometheus 3's custom-bucket schema) is refused: the Prometheus this runs on predates it.

Errors are :class:`NotationError` carrying the character offset of the bad word, so the caller
can point at the column inside the YAML value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from alerter.ruletest.histogram import (
    MAX_SCHEMA,
    MIN_SCHEMA,
    RESET_HINTS,
    HistogramError,
    NativeHistogram,
)
from alerter.ruletest.prometheus import stale_nan

Value = float | NativeHistogram | None
"""One step of a series: a float (possibly NaN or the staleness marker), a native histogram, or
None for no sample."""

_NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_WORD_NUMBER = re.compile(r"^([+-]?)(inf|nan)$", re.IGNORECASE)
_ITEM = re.compile(rf"^(?P<a>[+-]?{_NUMBER})(?:(?P<b>[+-]{_NUMBER})?x(?P<n>\d+))?$")
_BLANKS = re.compile(r"^_(?:x(?P<n>\d+))?$")
_METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_MAX_STEPS = 1_000_000
"""More steps than this in one series is a typo (``0+1x10000000``), not a test."""


class NotationError(ValueError):
    """A problem at character ``offset`` of the notation, with a hint for fixing it."""

    def __init__(self, offset: int, message: str, hint: str = "") -> None:
        self.offset = offset
        self.message = message
        self.hint = hint
        super().__init__(message + (f" ({hint})" if hint else ""))


@dataclass(frozen=True)
class _Word:
    text: str
    offset: int


def _count(word: _Word, digits: str, total: int) -> int:
    count = int(digits)
    if total + count > _MAX_STEPS:
        raise NotationError(word.offset, f"more than {_MAX_STEPS} steps in one series", "shorten the series")
    return count


def _item(word: _Word, total: int) -> list[Value]:
    text = word.text
    if text == "stale":
        return [stale_nan()]
    blanks = _BLANKS.match(text)
    if blanks:
        return [None] * (_count(word, blanks["n"], total) if blanks["n"] is not None else 1)
    named = _WORD_NUMBER.match(text)
    if named:
        sign = -1.0 if named[1] == "-" else 1.0
        return [sign * float(named[2])]
    found = _ITEM.match(text)
    if found is None:
        raise NotationError(word.offset, f"invalid series value {text!r}", _hint(text))
    start = float(found["a"])
    if found["n"] is None:
        return [start]
    count = _count(word, found["n"], total)
    step = float(found["b"]) if found["b"] is not None else 0.0
    out: list[Value] = []
    current = start
    for _ in range(count + 1):  # promtool also yields the value at step 0
        out.append(current)
        current += step
    return out


def _hint(text: str) -> str:
    if text.startswith("stale"):
        return "`stale` stands alone; it cannot be repeated with x"
    if re.match(r"^[+-]?(inf|nan)x", text, re.IGNORECASE):
        return "Inf and NaN stand alone; write them once per step"
    if "x" in text:
        return "repetition is a+bxn, a-bxn, axn or _xn with a whole number n, e.g. 0+10x5"
    return "use numbers, _ (no sample), stale, or a+bxn / axn / _xn"


def expand_values(text: str) -> list[Value]:
    """The values of the series step by step; raises NotationError on the first bad word."""
    out: list[Value] = []
    pos = _skip(text, 0)
    while pos < len(text):
        if text.startswith("{{", pos):
            values, pos = _histogram_item(text, pos, len(out))
            out += values
            if pos < len(text) and not text[pos].isspace():
                raise NotationError(
                    pos, f"unexpected {text[pos]!r} after a histogram", "separate values with a space"
                )
        else:
            end = pos
            while end < len(text) and not text[end].isspace():
                end += 1
            out += _item(_Word(text[pos:end], pos), len(out))
            pos = end
        pos = _skip(text, pos)
    return out


# -- native histograms ---------------------------------------------------------------------

_HIST_NUMBER = re.compile(rf"(?:{_NUMBER}|(?i:inf|nan)(?![a-zA-Z_]))")
_HIST_INT = re.compile(r"-?\d+")
_KEY = re.compile(r"[a-zA-Z_]+")
_KEYS = (
    "schema",
    "sum",
    "count",
    "z_bucket",
    "z_bucket_w",
    "buckets",
    "offset",
    "n_buckets",
    "n_offset",
    "counter_reset_hint",
)
_HIST_HINT = "e.g. {{schema:0 sum:5 count:4 buckets:[1 2 1]}}"


def _histogram_item(text: str, pos: int, total: int) -> tuple[list[Value], int]:
    """One ``series_item`` that starts with ``{{``: a histogram, ``{{..}}xn`` or ``{{..}}+{{..}}xn``."""
    base, end = _histogram(text, pos)
    if text.startswith("x", end):
        count, end = _times(text, end, total)
        return [base] * (count + 1), end
    if end < len(text) and text[end] in "+-":
        sign = text[end]
        if not text.startswith("{{", end + 1):
            raise NotationError(end + 1, f"expected a histogram after {sign!r}", "write {{...}}+{{...}}xn")
        step, step_end = _histogram(text, end + 1)
        if not text.startswith("x", step_end):
            raise NotationError(
                step_end, "a histogram increment needs a repetition", f"write {{{{...}}}}{sign}{{{{...}}}}xn"
            )
        count, end = _times(text, step_end, total)
        out: list[Value] = [base]
        current = base
        try:
            for _ in range(count):
                current = current.add(step) if sign == "+" else current.sub(step)
                out.append(current)
        except HistogramError as exc:
            raise NotationError(pos, str(exc), "give the increment the first histogram's schema") from None
        return out, end
    return [base], end


def _times(text: str, pos: int, total: int) -> tuple[int, int]:
    """``xn`` at ``pos``: (n, position after it)."""
    digits = re.compile(r"\d+").match(text, pos + 1)
    if digits is None:
        raise NotationError(pos, "expected a whole number after x", "e.g. {{count:1}}x5")
    return _count(_Word(text[pos : digits.end()], pos), digits.group(), total), digits.end()


def _histogram(text: str, start: int) -> tuple[NativeHistogram, int]:
    """``{{key:value ...}}`` at ``start``: the histogram and the position after ``}}``."""
    pos = start + 2
    items: dict[str, object] = {}
    if text.startswith("}}", pos):
        return _build(items, start), pos + 2
    if pos < len(text) and text[pos].isspace():
        after = _skip(text, pos)
        if text.startswith("}}", after):
            return _build(items, start), after + 2
        raise NotationError(pos, "space after {{", f"start with a key: {_HIST_HINT}")
    while True:
        key_at = pos
        key = _KEY.match(text, pos)
        if key is None:
            raise NotationError(pos, "expected a histogram key", f"keys are {', '.join(_KEYS)}")
        name = key.group().lower()
        if name not in _KEYS:
            raise NotationError(key_at, f"bad histogram descriptor {key.group()!r}", _descriptor_hint(name))
        pos = key.end()
        if not text.startswith(":", pos):
            raise NotationError(pos, f"missing `:` after histogram key {key.group()!r}", _HIST_HINT)
        value, pos = _descriptor_value(name, text, pos + 1)
        if name in items:
            raise NotationError(key_at, f"duplicate key {name!r} in histogram", "give each key once")
        items[name] = value
        if text.startswith("}}", pos):
            return _build(items, start), pos + 2
        if pos >= len(text):
            raise NotationError(start, "unterminated histogram", "close it with }}")
        if not text[pos].isspace():
            raise NotationError(pos, f"unexpected {text[pos]!r} in a histogram", "separate keys with a space")
        pos = _skip(text, pos)
        if text.startswith("}}", pos):
            return _build(items, start), pos + 2
        if pos >= len(text):
            raise NotationError(start, "unterminated histogram", "close it with }}")


def _descriptor_hint(name: str) -> str:
    if name == "custom_values":
        return "custom-bucket histograms (Prometheus 3) are not supported by the Prometheus tests run on"
    return f"keys are {', '.join(_KEYS)}"


def _descriptor_value(name: str, text: str, pos: int) -> tuple[object, int]:
    if name in ("schema", "offset", "n_offset"):
        found = _HIST_INT.match(text, pos)
        if found is None:
            raise NotationError(pos, f"{name} needs a whole number", f"e.g. {name}:0")
        return int(found.group()), found.end()
    if name == "counter_reset_hint":
        word = _KEY.match(text, pos)
        if word is None or word.group().lower() not in RESET_HINTS:
            raise NotationError(pos, "invalid counter_reset_hint", f"one of {', '.join(RESET_HINTS)}")
        return RESET_HINTS[word.group().lower()], word.end()
    if name in ("buckets", "n_buckets"):
        return _bucket_set(name, text, pos)
    return _hist_number(name, text, pos, signed=name != "z_bucket_w")


def _hist_number(name: str, text: str, pos: int, *, signed: bool) -> tuple[float, int]:
    sign = 1.0
    at = pos
    if signed and pos < len(text) and text[pos] in "+-":
        sign = -1.0 if text[pos] == "-" else 1.0
        pos += 1
    found = _HIST_NUMBER.match(text, pos)
    if found is None:
        what = "a number" if signed else "an unsigned number"
        raise NotationError(at, f"{name} needs {what}", f"e.g. {name}:1.5")
    return sign * float(found.group()), found.end()


def _bucket_set(name: str, text: str, pos: int) -> tuple[list[float], int]:
    if not text.startswith("[", pos):
        raise NotationError(pos, f"{name} needs a list of counts", f"e.g. {name}:[1 2 1]")
    pos += 1
    counts: list[float] = []
    while True:
        value, pos = _hist_number(name, text, pos, signed=True)
        counts.append(value)
        if text.startswith("]", pos):
            return counts, pos + 1
        if pos >= len(text) or not text[pos].isspace():
            raise NotationError(pos, f"expected a space or ] in {name}", f"e.g. {name}:[1 2 1]")
        pos = _skip(text, pos)
        if text.startswith("]", pos):
            return counts, pos + 1


def _build(items: dict[str, object], start: int) -> NativeHistogram:
    """``buildHistogramFromMap``: one span per side, at ``offset``, as long as its bucket list."""
    schema = items.get("schema", 0)
    assert isinstance(schema, int)
    if not MIN_SCHEMA <= schema <= MAX_SCHEMA:
        raise NotationError(start, f"schema {schema} is out of range", f"use {MIN_SCHEMA} to {MAX_SCHEMA}")

    def number(key: str) -> float:
        value = items.get(key, 0.0)
        assert isinstance(value, float)
        return value

    def side(buckets_key: str, offset_key: str) -> tuple[tuple[int, float], ...]:
        counts = items.get(buckets_key, [])
        offset = items.get(offset_key, 0)
        assert isinstance(counts, list) and isinstance(offset, int)
        return tuple((offset + i, float(c)) for i, c in enumerate(counts))

    hint = items.get("counter_reset_hint", 0)
    assert isinstance(hint, int)
    return NativeHistogram(
        schema=schema,
        count=number("count"),
        sum=number("sum"),
        zero_count=number("z_bucket"),
        zero_threshold=number("z_bucket_w"),
        positive=side("buckets", "offset"),
        negative=side("n_buckets", "n_offset"),
        reset_hint=hint,
    )


def parse_histogram(text: str) -> NativeHistogram:
    """One histogram and nothing else, as an expected sample's ``histogram:`` (promtool reads it
    with ``ParseSeriesDesc`` and wants exactly one histogram value)."""
    values = expand_values(text)
    if len(values) != 1 or not isinstance(values[0], NativeHistogram):
        raise NotationError(0, f"expected one histogram, got {len(values)} values", _HIST_HINT)
    return values[0]


def parse_series(text: str, *, require_name: bool = True) -> dict[str, str]:
    """The labels of ``metric{a="b"}`` (``__name__`` included); raises NotationError.

    ``require_name`` False accepts ``{a="b"}`` and ``{}``, as expected query results may have no name.
    """
    pos = _skip(text, 0)
    labels: dict[str, str] = {}
    metric = _METRIC.match(text, pos)
    if metric:
        labels["__name__"] = metric.group()
        pos = _skip(text, metric.end())
    if pos < len(text) and text[pos] == "{":
        pos = _label_set(text, pos + 1, labels)
    pos = _skip(text, pos)
    if pos < len(text):
        raise NotationError(pos, f"unexpected {text[pos:]!r} after the series", 'write metric{label="value"}')
    if require_name and not labels.get("__name__"):
        raise NotationError(0, "the series has no metric name", 'write metric{...} or {__name__="metric"}')
    return labels


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _label_set(text: str, pos: int, labels: dict[str, str]) -> int:
    """Parse ``name="value", ...}`` starting after ``{``; returns the position after ``}``."""
    while True:
        pos = _skip(text, pos)
        if pos < len(text) and text[pos] == "}":
            return pos + 1
        name = _LABEL.match(text, pos)
        if name is None:
            raise NotationError(pos, "expected a label name or }", 'labels are written name="value"')
        pos = _skip(text, name.end())
        if not text.startswith("=", pos) or text.startswith("=~", pos):
            raise NotationError(
                pos, f"expected = after label {name.group()!r}", "input series take exact values"
            )
        value, pos = _string(text, _skip(text, pos + 1))
        if name.group() in labels:
            raise NotationError(name.start(), f"label {name.group()!r} is given twice")
        labels[name.group()] = value
        pos = _skip(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif not (pos < len(text) and text[pos] == "}"):
            raise NotationError(pos, "expected , or } after a label", "close the label set with }")


_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


def _string(text: str, pos: int) -> tuple[str, int]:
    """A double- or single-quoted label value with Go escapes; returns (value, position after it)."""
    if pos >= len(text) or text[pos] not in "\"'":
        raise NotationError(pos, "expected a quoted label value", 'e.g. model_name="llama"')
    quote = text[pos]
    out: list[str] = []
    i = pos + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            escaped = _ESCAPES.get(text[i + 1])
            if escaped is None:
                raise NotationError(i, f"unknown escape \\{text[i + 1]} in a label value")
            out.append(escaped)
            i += 2
            continue
        if char == quote:
            return "".join(out), i + 1
        out.append(char)
        i += 1
    raise NotationError(pos, "unterminated label value", f"close it with {quote}")
