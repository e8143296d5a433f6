"""Units of a rule's values, and numbers written in them for people.

Called by the rule model (``config.rules.Rule.unit`` is checked with :func:`parse`), by the unit
inference from metric names (``config.units``) and by the explanations of verdicts
(``detect.explain``). A message that says "2.42 s" or "89.6%" is read at a glance; "2.42" and
"0.896" make the reader find out what the series measures first.

A unit is one of a small vocabulary, each with its own way of writing numbers:

=================  ====================================  ===================================
unit               written                               examples (``unit:`` accepts)
=================  ====================================  ===================================
``seconds``        µs, ms, s, min, h by magnitude        ``seconds``, ``s``, ``ms``
``bytes``          B, KiB, MiB, GiB, TiB (binary)        ``bytes``, ``B``
``ratio``          a percentage (0.25 -> 25%)            ``ratio``
``percent``        already in percent (25 -> 25%)        ``percent``, ``%``
currency           symbol or code, two decimals          ``usd``, ``$``, ``eur``, ``CHF``
count              thousands separators, M/G/T beyond    ``tokens``, ``requests``, ``count``
per second         any of the above followed by ``/s``   ``requests/s``, ``bytes/s``, ``usd/s``
free text          the number and the text               ``widgets``, ``°C``
=================  ====================================  ===================================

Every unit but free text is of a quantity that cannot be negative (a duration, a size, a share,
a spend, a count, a rate of events), so a band around such a series is drawn from 0 at the
lowest: a band of "-$3 – $40" describes nothing a series can do.

Numbers in one sentence are written on one scale (``scale_for``): "2.42 s vs 0.61 s expected
(band 0.40–0.83 s)", not "2.42 s vs 610 ms expected (band 400 ms–830 ms)", with as many decimals
as three significant digits of the largest of them need.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

SECONDS = "seconds"
BYTES = "bytes"
RATIO = "ratio"
PERCENT = "percent"
CURRENCY = "currency"
COUNT = "count"
TEXT = "text"
KINDS = (SECONDS, BYTES, RATIO, PERCENT, CURRENCY, COUNT, TEXT)

MAX_TEXT = 32
"""Characters of a free-text unit: a unit, not a sentence."""

_CURRENCY_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "inr": "₹"}
_ALIASES: dict[str, tuple[str, str]] = {
    # written -> (kind, noun); the noun is what a count or a rate is of.
    "seconds": (SECONDS, ""),
    "second": (SECONDS, ""),
    "s": (SECONDS, ""),
    "sec": (SECONDS, ""),
    "milliseconds": (SECONDS, "ms"),
    "millisecond": (SECONDS, "ms"),
    "ms": (SECONDS, "ms"),
    "bytes": (BYTES, ""),
    "byte": (BYTES, ""),
    "b": (BYTES, ""),
    "ratio": (RATIO, ""),
    "percent": (PERCENT, ""),
    "%": (PERCENT, ""),
    "count": (COUNT, ""),
    "dollars": (CURRENCY, "usd"),
    "$": (CURRENCY, "usd"),
    "€": (CURRENCY, "eur"),
    "£": (CURRENCY, "gbp"),
}
_COUNT_NOUNS = ("tokens", "requests", "errors", "events", "messages", "items", "jobs", "retries")
_ISO_CURRENCIES = frozenset(
    [
        "usd",
        "eur",
        "gbp",
        "jpy",
        "chf",
        "cad",
        "aud",
        "nzd",
        "cny",
        "inr",
        "sek",
        "nok",
        "dkk",
        "pln",
        "czk",
        "brl",
        "mxn",
        "krw",
        "sgd",
        "hkd",
        "zar",
    ]
)


@dataclass(frozen=True)
class Unit:
    """A parsed unit: its ``kind``, what it counts or which currency (``noun``), per second or not.

    ``noun`` is the currency code for ``currency`` (``usd``), the counted thing for ``count``
    (``tokens``; empty for a bare count), ``ms`` for a series in milliseconds, the text itself
    for ``text``. ``text`` is the unit as the rule wrote it (or as it was inferred).
    """

    kind: str
    noun: str = ""
    per_second: bool = False
    text: str = ""

    @property
    def nonnegative(self) -> bool:
        """Whether values in this unit can never be below 0 (every kind but free text)."""
        return self.kind != TEXT


def parse(text: str) -> Unit:
    """The unit ``text`` names; raises ``ValueError`` saying what is accepted.

    Known names are case-insensitive (``seconds``, ``ms``, ``bytes``, ``ratio``, ``percent``,
    ``usd``...); a trailing ``/s`` or ``_per_second`` makes any of them a rate. Anything else of
    at most ``MAX_TEXT`` characters on one line is free text, written after the number.
    """
    raw = text.strip()
    if not raw:
        raise ValueError("must not be empty (e.g. seconds, bytes, ratio, percent, usd, tokens, requests/s)")
    if len(raw) > MAX_TEXT or "\n" in raw or "\r" in raw:
        raise ValueError(
            f"must be one line of at most {MAX_TEXT} characters, got {len(raw)} (a unit such as "
            "seconds or requests/s, not a sentence: the summary annotation is for sentences)"
        )
    lowered = raw.lower()
    per_second = False
    for suffix in ("/s", "/sec", "/second", "_per_second", " per second"):
        if lowered.endswith(suffix) and len(lowered) > len(suffix):
            lowered = lowered[: -len(suffix)].strip()
            per_second = True
            break
    if lowered in _ALIASES:
        kind, noun = _ALIASES[lowered]
        if kind == PERCENT and per_second:
            return Unit(TEXT, raw, text=raw)
        return Unit(kind, noun, per_second, raw)
    if lowered in _ISO_CURRENCIES:
        return Unit(CURRENCY, lowered, per_second, raw)
    if lowered in _COUNT_NOUNS or (lowered.endswith("s") and lowered[:-1] in _COUNT_NOUNS):
        return Unit(COUNT, lowered, per_second, raw)
    if per_second and lowered.isidentifier():
        # "widgets/s": a rate of something counted.
        return Unit(COUNT, lowered, True, raw)
    return Unit(TEXT, raw, text=raw)


@dataclass(frozen=True)
class Scale:
    """How the numbers of one sentence are written: divide by ``factor``, ``decimals`` places,
    then the ``suffix`` (with ``prefix`` before, for currency symbols)."""

    factor: float = 1.0
    decimals: int = 2
    suffix: str = ""
    prefix: str = ""
    grouping: bool = False
    significant: bool = False
    """No fixed decimals: three significant digits each (when no unit is known)."""


_SECOND_STEPS = ((1e-3, 1e-6, "µs"), (1.0, 1e-3, "ms"), (60.0, 1.0, "s"), (3600.0, 60.0, "min"))
_BYTE_STEPS = tuple((1024.0 ** (i + 1), 1024.0**i, name) for i, name in enumerate(("B", "KiB", "MiB", "GiB")))
_COUNT_STEPS = ((1e6, 1.0, ""), (1e9, 1e6, "M"), (1e12, 1e9, "G"))


def _decimals(reference: float) -> int:
    """Decimals that give ``reference`` three significant digits (none for 100 and more)."""
    if reference <= 0 or not math.isfinite(reference):
        return 2
    return max(0, 2 - math.floor(math.log10(reference)))


def _stepped(
    reference: float, steps: tuple[tuple[float, float, str], ...], last: tuple[float, str]
) -> tuple[float, str]:
    for limit, factor, name in steps:
        if reference < limit:
            return factor, name
    return last


def scale_for(unit: Unit | None, values: Iterable[float]) -> Scale:
    """The scale for writing ``values`` together, chosen from the largest finite magnitude."""
    finite = [abs(v) for v in values if math.isfinite(v)]
    reference = max(finite) if finite else 0.0
    rate = "/s" if unit is not None and unit.per_second else ""
    if unit is None:
        return Scale(significant=True)
    if unit.kind == SECONDS:
        seconds = reference / 1000 if unit.noun == "ms" else reference
        factor, name = _stepped(seconds, _SECOND_STEPS, (3600.0, "h"))
        if unit.noun == "ms":
            factor *= 1000
        return Scale(factor, _decimals(reference / factor), " " + name + rate)
    if unit.kind == BYTES:
        factor, name = _stepped(reference, _BYTE_STEPS, (1024.0**4, "TiB"))
        return Scale(factor, _decimals(reference / factor) if factor > 1 else 0, " " + name + rate)
    if unit.kind == RATIO:
        return Scale(0.01, _decimals(reference * 100), "%" + rate)
    if unit.kind == PERCENT:
        return Scale(1.0, _decimals(reference), "%")
    if unit.kind == CURRENCY:
        symbol = _CURRENCY_SYMBOLS.get(unit.noun, "")
        # Two decimals, as money is written; a fraction of a cent (per-token prices) keeps
        # three significant digits instead of reading $0.00.
        decimals = 2 if reference >= 0.01 or reference == 0 else _decimals(reference)
        suffix = ("" if symbol else " " + unit.noun.upper()) + rate
        return Scale(1.0, decimals, suffix, symbol, grouping=True)
    if unit.kind == COUNT:
        factor, name = _stepped(reference, _COUNT_STEPS, (1e12, "T"))
        noun = f" {unit.noun}" if unit.noun else ""
        decimals = _decimals(reference / factor) if factor > 1 or rate else 0
        if factor == 1 and not rate and reference != round(reference):
            decimals = _decimals(reference)
        return Scale(factor, decimals, name + noun + rate, grouping=factor == 1)
    return Scale(significant=True, suffix=" " + unit.text)


def write(value: float, scale: Scale) -> str:
    """``value`` on ``scale``: ``2.42 s``, ``89.6%``, ``$1,240.00``, ``n/a`` when not finite."""
    if not math.isfinite(value):
        return "n/a"
    if value == 0:
        return f"{scale.prefix}0{scale.suffix}"
    scaled = value / scale.factor
    if scale.significant:
        number = f"{scaled:.3g}"
    else:
        number = f"{abs(scaled):{',' if scale.grouping else ''}.{scale.decimals}f}"
        number = ("-" if scaled < 0 and float(number.replace(",", "")) != 0 else "") + number
    if scale.prefix and number.startswith("-"):
        return f"-{scale.prefix}{number[1:]}{scale.suffix}"
    return f"{scale.prefix}{number}{scale.suffix}"


def number(value: float, unit: Unit | None) -> str:
    """One value on its own scale."""
    return write(value, scale_for(unit, [value]))


def span(low: float, high: float, scale: Scale) -> str:
    """A range on one scale with the unit written once: ``0.40–0.83 s``, ``$0.00–$40.00``."""
    lo, hi = write(low, scale), write(high, scale)
    if scale.suffix and not scale.prefix and lo.endswith(scale.suffix) and lo != "n/a":
        lo = lo[: -len(scale.suffix)]
    return f"{lo}–{hi}"
