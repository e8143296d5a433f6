"""Go's ``fmt.Sprintf`` for the verbs templates use, with Go's output byte for byte.

The rules follow src/fmt/doc.go and src/fmt/print.go in golang/go: ``%v`` prints any value in
its default format; ``%d`` wants an integer and ``%f``/``%e``/``%g`` a float, and a value of the
wrong type prints as ``%!d(float64=1.5)`` instead of failing; a verb without an operand prints
``%!d(MISSING)`` and operands left over append ``%!(EXTRA int=1, string=a)``. Flags ``+ - # 0``
and space, width and precision (also ``*``) work as in Go. Widths and precisions are capped at
:data:`MAX_WIDTH` so that a template cannot make the engine build a gigabyte string.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from alerter.config.gotemplate.values import GoTime, Struct, format_float_v, sprint_one, type_name

MAX_WIDTH = 1000
"""The largest width or precision a verb may ask for; beyond it the verb prints ``%!(BADWIDTH)``."""

_SIMPLE_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\v": r"\v"}


def quote(text: str, mark: str = '"') -> str:
    """``strconv.Quote`` (or ``QuoteRune`` with ``mark="'"``): Go escapes, printable runes kept."""
    out = [mark]
    for char in text:
        if char == mark or char == "\\":
            out.append("\\" + char)
        elif char in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[char])
        elif char == " " or char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append(mark)
    return "".join(out)


class _Spec:
    __slots__ = ("minus", "plus", "precision", "sharp", "space", "width", "zero")

    def __init__(self) -> None:
        self.minus = self.plus = self.sharp = self.space = self.zero = False
        self.width: int | None = None
        self.precision: int | None = None


def _pad(text: str, spec: _Spec, numeric: bool) -> str:
    width = spec.width or 0
    if len(text) >= width:
        return text
    if spec.minus:
        return text + " " * (width - len(text))
    if spec.zero and numeric:
        sign = text[0] if text[:1] in ("+", "-", " ") else ""
        body = text[len(sign) :]
        prefix = ""
        if body[:2] in ("0x", "0X", "0b", "0o"):
            prefix, body = body[:2], body[2:]
        return sign + prefix + "0" * (width - len(text)) + body
    return " " * (width - len(text)) + text


def _bad(verb: str, value: Any) -> str:
    if value is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({type_name(value)}={sprint_one(value)})"


def _sign(text: str, negative: bool, spec: _Spec) -> str:
    if negative:
        return "-" + text
    if spec.plus:
        return "+" + text
    if spec.space:
        return " " + text
    return text


def _integer(value: int, verb: str, spec: _Spec) -> str | None:
    magnitude = abs(value)
    if verb in ("d", "v"):
        digits = str(magnitude)
    elif verb == "b":
        digits = format(magnitude, "b")
    elif verb in ("o", "O"):
        digits = format(magnitude, "o")
    elif verb in ("x", "X"):
        digits = format(magnitude, verb)
    elif verb == "c":
        return _pad(chr(value) if 0 <= value <= 0x10FFFF else "\ufffd", spec, False)
    elif verb == "q":
        return _pad(quote(chr(value) if 0 <= value <= 0x10FFFF else "\ufffd", "'"), spec, False)
    elif verb == "U":
        return _pad(f"U+{value:04X}", spec, False)
    else:
        return None
    if spec.precision is not None:
        digits = digits.rjust(spec.precision, "0") if spec.precision else ("" if value == 0 else digits)
    if verb == "O" or (spec.sharp and verb == "o" and not digits.startswith("0")):
        digits = ("0o" if verb == "O" else "0") + digits
    elif spec.sharp and verb in ("x", "X"):
        digits = "0" + verb + digits
    elif spec.sharp and verb == "b":
        digits = "0b" + digits
    return _pad(_sign(digits, value < 0, spec), spec, spec.precision is None)


def _hex_float(value: float, upper: bool) -> str:
    mantissa, _, exponent = float.hex(abs(value)).partition("p")
    mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
    exp = int(exponent)
    text = f"{mantissa}p{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return text.upper().replace("0X", "0X") if upper else text


def format_float(value: float, verb: str, precision: int | None) -> str:
    """A finite or infinite float64 under ``%e %E %f %F %g %G %v %x %X``, without sign flags."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if verb in ("v", "g", "G") and precision is None:
        text = format_float_v(value)
        return text.upper() if verb == "G" else text
    if verb in ("x", "X"):
        return ("-" if value < 0 else "") + _hex_float(value, verb == "X")
    prec = 6 if precision is None else precision
    if verb in ("v", "g", "G"):
        text = f"{value:.{max(prec, 1)}g}"
        return text.upper() if verb == "G" else text
    if verb in ("e", "E"):
        return f"{value:.{prec}{verb}}"
    return f"{value:.{prec}f}"


def _float(value: float, verb: str, spec: _Spec) -> str | None:
    if verb not in ("v", "e", "E", "f", "F", "g", "G", "x", "X"):
        return None
    text = format_float(value, verb, spec.precision)
    # fmt/format.go fmtFloat: an infinity always shows its sign (a space replaces "+" under the
    # space flag), NaN only when a flag asks; neither is padded with zeros.
    if math.isinf(value):
        text = " Inf" if value > 0 and spec.space and not spec.plus else text
    elif not text.startswith("-"):
        text = _sign(text, False, spec)
    return _pad(text, spec, math.isfinite(value))


def _string(value: str, verb: str, spec: _Spec) -> str | None:
    if verb in ("s", "v"):
        text = value if spec.precision is None else value[: spec.precision]
    elif verb == "q":
        text = quote(value if spec.precision is None else value[: spec.precision])
        if spec.sharp and "`" not in value and value.isprintable():
            text = "`" + value + "`"
    elif verb in ("x", "X"):
        data = value.encode()
        if spec.precision is not None:
            data = data[: spec.precision]
        parts = [format(b, "02" + ("x" if verb == "x" else "X")) for b in data]
        text = " ".join(parts) if spec.space else "".join(parts)
    else:
        return None
    return _pad(text, spec, False)


def format_one(value: Any, verb: str, spec: _Spec) -> str:
    """One operand under one verb, or Go's ``%!verb(type=value)`` when they do not go together."""
    if verb == "T":
        return _pad(type_name(value), spec, False)
    text: str | None
    if value is None:
        text = _pad("<nil>", spec, False) if verb in ("v", "s") else None
    elif isinstance(value, bool):
        text = _pad("true" if value else "false", spec, False) if verb in ("t", "v") else None
    elif isinstance(value, int):
        text = _integer(value, verb, spec)
    elif isinstance(value, float):
        text = _float(value, verb, spec)
    elif isinstance(value, str):
        text = _string(value, verb, spec)
    elif isinstance(value, GoTime):
        text = _string(str(value), verb, spec)
    elif isinstance(value, Struct | Mapping | Sequence):
        text = _pad(sprint_one(value), spec, False) if verb in ("v", "s") else None
    else:
        text = None
    return _bad(verb, value) if text is None else text


def _number(fmt: str, i: int) -> tuple[int | None, int]:
    start = i
    while i < len(fmt) and fmt[i].isdigit():
        i += 1
    return (int(fmt[start:i]) if i > start else None), i


def sprintf(fmt: str, args: Sequence[Any]) -> str:
    """``fmt.Sprintf(fmt, args...)`` with Go's output, including its in-band error notes."""
    out: list[str] = []
    arg = 0
    i = 0
    while i < len(fmt):
        if fmt[i] != "%":
            j = fmt.find("%", i)
            j = len(fmt) if j < 0 else j
            out.append(fmt[i:j])
            i = j
            continue
        i += 1
        spec = _Spec()
        while i < len(fmt) and fmt[i] in "+-# 0":
            flag = fmt[i]
            spec.plus |= flag == "+"
            spec.minus |= flag == "-"
            spec.sharp |= flag == "#"
            spec.space |= flag == " "
            spec.zero |= flag == "0"
            i += 1
        bad_width = False
        if i < len(fmt) and fmt[i] == "*":
            i += 1
            if arg < len(args) and isinstance(args[arg], int) and not isinstance(args[arg], bool):
                spec.width = args[arg]
                if spec.width < 0:
                    spec.minus, spec.width = True, -spec.width
            else:
                bad_width = True
            arg += 1
        else:
            spec.width, i = _number(fmt, i)
        if i < len(fmt) and fmt[i] == ".":
            i += 1
            if i < len(fmt) and fmt[i] == "*":
                i += 1
                if arg < len(args) and isinstance(args[arg], int) and not isinstance(args[arg], bool):
                    spec.precision = args[arg] if args[arg] >= 0 else None
                else:
                    out.append("%!(BADPREC)")
                arg += 1
            else:
                precision, i = _number(fmt, i)
                spec.precision = precision or 0
        if (spec.width or 0) > MAX_WIDTH or (spec.precision or 0) > MAX_WIDTH:
            bad_width = True
        if bad_width:
            out.append("%!(BADWIDTH)")
            spec.width = None
            spec.precision = None if (spec.precision or 0) > MAX_WIDTH else spec.precision
        if i >= len(fmt):
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            out.append("%")
            continue
        if arg >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(format_one(args[arg], verb, spec))
        arg += 1
    if arg < len(args):
        extra = ", ".join("<nil>" if a is None else f"{type_name(a)}={sprint_one(a)}" for a in args[arg:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)
