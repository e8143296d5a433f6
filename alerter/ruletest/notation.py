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

Errors are :class:`NotationError` carrying the character offset of the bad word, so the caller
can point at the column inside the YAML value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from alerter.ruletest.prometheus import stale_nan

Value = float | None
"""One step of a series: a float (possibly NaN or the staleness marker) or None for no sample."""

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


def _words(text: str) -> list[_Word]:
    return [_Word(m.group(), m.start()) for m in re.finditer(r"\S+", text)]


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
    for word in _words(text):
        out += _item(word, len(out))
    return out


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
