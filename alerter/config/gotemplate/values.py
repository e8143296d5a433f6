"""Go values as the interpreter holds them, and how Go's ``fmt`` prints them.

Python types stand for Go's: ``str`` string, ``bool`` bool, ``int`` int, ``float`` float64,
``dict`` a map, ``list``/``tuple`` a slice, ``None`` nil (an absent value), :class:`Struct` a
struct, :class:`GoTime` a ``time.Time``. Printing follows Go's ``fmt`` package (src/fmt/print.go,
src/fmt/format.go, src/strconv/ftoa.go in golang/go): ``%v`` of a float64 is the shortest
representation that round-trips, in exponent form when the exponent is below -4 or at least
6: ``fmt`` formats ``%v`` as ``%g`` with the shortest precision, for which strconv decides with
precision 6 (``fmt.Println(1e6)`` prints ``1e+06``, ``fmt.Println(123456.0)`` prints ``123456``). Maps print as ``map[k:v ...]`` in key order,
slices as ``[a b]``, structs as ``{a b}``, nil as ``<nil>``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any


class Struct:
    """A Go struct: named fields in declaration order, read by ``.Field`` and printed as ``{a b}``."""

    __slots__ = ("fields", "type_name")

    def __init__(self, type_name: str, fields: Mapping[str, Any]) -> None:
        self.type_name = type_name
        self.fields = dict(fields)


class Sample(Struct):
    """One query result as Prometheus' templates see it: ``.Labels`` and ``.Value``
    (prometheus/prometheus template/template.go, ``type sample struct``)."""

    __slots__ = ()

    def __init__(self, labels: Mapping[str, str], value: float) -> None:
        super().__init__("*template.sample", {"Labels": dict(labels), "Value": float(value)})


class QueryResult(list[Sample]):
    """The ``[]*sample`` that ``query`` returns (Go type ``template.queryResult``)."""


class GoTime:
    """A ``time.Time`` in UTC, as ``toTime`` returns it; prints like Go's ``Time.String``."""

    __slots__ = ("nanos",)

    def __init__(self, nanos: int) -> None:
        self.nanos = nanos

    def datetime(self) -> dt.datetime:
        seconds, _ = divmod(self.nanos, 1_000_000_000)
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)

    def __str__(self) -> str:
        when = self.datetime()
        frac = self.nanos % 1_000_000_000
        text = f"{when.year:04d}-{when.month:02d}-{when.day:02d} {when:%H:%M:%S}"
        if frac:
            text += "." + f"{frac:09d}".rstrip("0")
        return text + " +0000 UTC"


def type_name(value: Any) -> str:
    """The Go type of a value, as ``%T`` and error messages name it."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, QueryResult):
        return "template.queryResult"
    if isinstance(value, Struct):
        return value.type_name
    if isinstance(value, GoTime):
        return "*time.Time"
    if isinstance(value, Mapping):
        if all(isinstance(v, str) for v in value.values()):
            return "map[string]string"
        return "map[string]interface {}"
    if isinstance(value, Sequence):
        return "[]interface {}"
    return type(value).__name__


def shortest_digits(value: float) -> tuple[str, int]:
    """Digits and decimal exponent of the shortest round-tripping form: 1234.5 -> ("12345", 4)."""
    _, digits, exponent = Decimal(repr(abs(value))).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    assert isinstance(exponent, int)
    point = len(digits) + exponent  # position of the decimal point after the first digit run
    if text == "0":
        point = 1
    return text, point


def _exponent(exp: int) -> str:
    return ("e-" if exp < 0 else "e+") + f"{abs(exp):02d}"


def format_float_v(value: float) -> str:
    """A float64 as ``%v`` prints it: 0.5, 1e+06, 3.3333333333333335, +Inf, NaN."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    digits, point = shortest_digits(value)
    sign = "-" if value < 0 else ""
    exp = point - 1
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return sign + mantissa + _exponent(exp)
    if point <= 0:
        return sign + "0." + "0" * -point + digits
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return sign + digits[:point] + "." + digits[point:]


def _format_map(value: Mapping[Any, Any]) -> str:
    items = sorted(value.items(), key=lambda kv: _sort_key(kv[0]))
    return "map[" + " ".join(f"{sprint_one(k)}:{sprint_one(v)}" for k, v in items) + "]"


def _sort_key(key: Any) -> tuple[int, Any]:
    if isinstance(key, bool):
        return (0, key)
    if isinstance(key, int | float):
        return (1, key)
    return (2, str(key))


def sprint_one(value: Any) -> str:
    """One operand as ``fmt.Sprint`` (``%v``) prints it."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float_v(value)
    if isinstance(value, str):
        return value
    if isinstance(value, GoTime):
        return str(value)
    if isinstance(value, Struct):
        body = "{" + " ".join(sprint_one(v) for v in value.fields.values()) + "}"
        return "&" + body if value.type_name.startswith("*") else body
    if isinstance(value, Mapping):
        return _format_map(value)
    if isinstance(value, Sequence):
        return "[" + " ".join(sprint_one(v) for v in value) + "]"
    return str(value)


def sprint(args: Sequence[Any]) -> str:
    """``fmt.Sprint``: operands side by side, a space between two that are neither strings."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i > 0 and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(sprint_one(arg))
    return "".join(out)


def sprintln(args: Sequence[Any]) -> str:
    """``fmt.Sprintln``: operands separated by spaces, then a newline."""
    return " ".join(sprint_one(a) for a in args) + "\n"


def print_value(value: Any) -> str:
    """What an action ``{{ x }}`` writes: like ``%v``, but nil is ``<no value>`` (exec.go printValue)."""
    if value is None:
        return "<no value>"
    if isinstance(value, Struct) and value.type_name.startswith("*"):
        return "{" + " ".join(sprint_one(v) for v in value.fields.values()) + "}"
    return sprint_one(value)


def truth(value: Any) -> bool:
    """Go template truth (exec.go isTrue): false, 0, nil and empty strings, slices and maps are false."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | Mapping | Sequence):
        return len(value) > 0
    return True
