"""The functions a Prometheus alert template may call: Go's built-ins and Prometheus' map.

Go's built-ins follow src/text/template/funcs.go in golang/go (``and or not len index slice
print printf println html js urlquery eq ne lt le gt ge call``; comparing a float with an int is
"incompatible types for comparison", as in Go). Prometheus' functions follow
prometheus/prometheus template/template.go (``NewTemplateExpander``'s FuncMap) and
util/strutil (graphLink, tableLink); the humanizers format with ``%.4g`` exactly as there.

Every function takes already evaluated arguments and raises :class:`FuncError` with Go's
message; the interpreter reports it as ``error calling NAME: MESSAGE``. Regular expressions run
in the ``regex`` engine with a timeout, because Python's backtracking engine, unlike Go's RE2,
can take exponential time on a hostile pattern.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import regex  # type: ignore[import-untyped]

from alerter.config.gotemplate.printf import format_float, sprintf
from alerter.config.gotemplate.values import (
    GoTime,
    QueryResult,
    Sample,
    Struct,
    sprint,
    sprint_one,
    sprintln,
    truth,
    type_name,
)

Query = Callable[[str], Iterable[tuple[Mapping[str, str], float]]]
"""Runs a PromQL instant query for ``query``: (labels, value) per sample."""


class FuncError(Exception):
    """A function's error value, reported as ``error calling NAME: MESSAGE``."""


class InterfaceMap(dict[str, Any]):
    """A ``map[string]interface{}`` (what ``args`` returns): a missing key reads as nil, not ""."""


@dataclass(frozen=True, slots=True)
class Env:
    """What the functions may reach besides their arguments."""

    query: Query | None
    external_url: str
    regex_timeout: float


@dataclass(frozen=True, slots=True)
class Func:
    """A function: its parameter kinds (``string``, ``any``, ``sample``, ``samples``), whether the
    last repeats, and its implementation, which gets the :class:`Env` first."""

    params: tuple[str, ...]
    variadic: bool
    impl: Callable[..., Any]


def _float(value: Any) -> float:
    """Prometheus' convertToFloat: float64, int and numeric strings become a float64."""
    if isinstance(value, bool) or value is None or not isinstance(value, int | float | str):
        raise FuncError(f"can't convert {type_name(value)} to float")
    if isinstance(value, str):
        return _parse_float(value)
    return float(value)


def _parse_float(text: str) -> float:
    """strconv.ParseFloat(text, 64), with its error message."""
    clean = text
    lower = clean.lower().lstrip("+-")
    if lower in ("inf", "infinity", "nan"):
        return float(clean.replace("Infinity", "inf").replace("infinity", "inf"))
    try:
        if lower.startswith("0x"):
            return float.fromhex(clean)
        if "_" in clean or not clean or clean.strip() != clean:
            raise ValueError
        return float(clean)
    except (ValueError, OverflowError):
        raise FuncError(f'strconv.ParseFloat: parsing "{text}": invalid syntax') from None


def _g4(value: float, suffix: str = "") -> str:
    return format_float(value, "g", 4) + suffix


def humanize(_: Env, arg: Any) -> str:
    value = _float(arg)
    if value == 0 or not math.isfinite(value):
        return _g4(value)
    if abs(value) >= 1:
        prefix = ""
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(value) < 1000:
                break
            prefix = p
            value /= 1000
        return _g4(value, prefix)
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(value) >= 1:
            break
        prefix = p
        value *= 1000
    return _g4(value, prefix)


def humanize1024(_: Env, arg: Any) -> str:
    value = _float(arg)
    if abs(value) <= 1 or not math.isfinite(value):
        return _g4(value)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(value) < 1024:
            break
        prefix = p
        value /= 1024
    return _g4(value, prefix)


def humanize_duration(_: Env, arg: Any) -> str:
    value = _float(arg)
    if not math.isfinite(value):
        return _g4(value)
    if value == 0:
        return _g4(value, "s")
    if abs(value) >= 1:
        sign = "-" if value < 0 else ""
        value = abs(value)
        whole = int(value)
        seconds, minutes, hours, days = whole % 60, whole // 60 % 60, whole // 3600 % 24, whole // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return sign + _g4(value, "s")
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(value) >= 1:
            break
        prefix = p
        value *= 1000
    return _g4(value, prefix + "s")


def humanize_percentage(_: Env, arg: Any) -> str:
    return _g4(_float(arg) * 100, "%")


def _to_time(value: float) -> GoTime:
    """model.TimeFromUnixNano(int64(v*1e9)).Time(): millisecond precision, UTC."""
    nanos = value * 1e9
    if not -(2**63) <= nanos <= 2**63 - 1:
        raise FuncError(
            f"{sprint_one(value)} cannot be represented as a nanoseconds timestamp since it overflows int64"
        )
    whole = int(nanos)  # truncates toward zero, like Go's conversion
    millis = abs(whole) // 1_000_000 * (1 if whole >= 0 else -1)
    return GoTime(millis * 1_000_000)


def humanize_timestamp(_: Env, arg: Any) -> str:
    if isinstance(arg, GoTime):
        return str(arg)
    value = _float(arg)
    if not math.isfinite(value):
        return _g4(value)
    try:
        return str(_to_time(value))
    except (OverflowError, ValueError):
        raise FuncError(f"{sprint_one(value)} is outside the range of dates that can be shown") from None


def to_time(_: Env, arg: Any) -> GoTime:
    value = _float(arg)
    if not math.isfinite(value):
        raise FuncError("value is NaN or Inf")
    return _to_time(value)


_DURATION = regex.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")


def parse_duration(_: Env, text: str) -> float:
    """model.ParseDuration: ``1h30m``, units y w d h m s ms; the result in seconds."""
    if text == "":
        raise FuncError("empty duration string")
    if text == "0":
        return 0.0
    match = _DURATION.match(text)
    if match is None:
        raise FuncError(f'not a valid duration string: "{text}"')
    units = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
    return float(sum(int(g) * u for g, u in zip(match.groups(), units, strict=True) if g))


def _split_host_port(text: str) -> tuple[str, str] | None:
    """net.SplitHostPort: ``host:port`` or ``[v6]:port``; None where Go returns an error."""
    colon = text.rfind(":")
    if colon < 0:
        return None
    if text.startswith("["):
        close = text.find("]")
        if close < 0 or close + 1 != colon:
            return None
        host = text[1:close]
    else:
        host = text[:colon]
        if ":" in host:
            return None
    if "[" in text[1:] or "]" in text[colon:]:
        return None
    return host, text[colon + 1 :]


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def strip_port(_: Env, text: str) -> str:
    parts = _split_host_port(text)
    return text if parts is None else parts[0]


def strip_domain(_: Env, text: str) -> str:
    parts = _split_host_port(text)
    host, port = parts if parts is not None else (text, "")
    if _is_ip(host):
        return text
    host = host.split(".")[0]
    if port:
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return host


def _compile(env: Env, pattern: str) -> Any:
    try:
        return regex.compile(go_regex(pattern))
    except regex.error as exc:
        raise FuncError(f"regexp: Compile({sprintf('%q', [pattern])}): error parsing regexp: {exc}") from None


def go_regex(pattern: str) -> str:
    """An RE2 pattern in the ``regex`` module's syntax (``\\z`` is ``\\Z`` there)."""
    return pattern.replace(r"\z", r"\Z")


def _expand(template: str, match: Any) -> str:
    """Regexp.Expand: ``$1``, ``${1}``, ``$name``, ``${name}``; ``$$`` is a dollar; unknown is empty."""
    out: list[str] = []
    i = 0
    while i < len(template):
        char = template[i]
        if char != "$" or i + 1 >= len(template):
            out.append(char)
            i += 1
            continue
        nxt = template[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
            continue
        if nxt == "{":
            close = template.find("}", i + 2)
            name = template[i + 2 : close] if close > 0 else ""
            if close < 0 or not name or not all(c == "_" or c.isalnum() for c in name):
                out.append(char)
                i += 1
                continue
            i = close + 1
        else:
            j = i + 1
            while j < len(template) and (template[j] == "_" or template[j].isalnum()):
                j += 1
            name = template[i + 1 : j]
            if not name:
                out.append(char)
                i += 1
                continue
            i = j
        try:
            group = match.group(int(name)) if name.isdigit() else match.group(name)
        except (IndexError, regex.error):
            group = None
        out.append(group or "")
    return "".join(out)


def re_replace_all(env: Env, pattern: str, repl: str, text: str) -> str:
    compiled = _compile(env, pattern)
    try:
        return str(compiled.sub(lambda m: _expand(repl, m), text, timeout=env.regex_timeout))
    except TimeoutError:
        raise FuncError(f"regular expression {pattern!r} took longer than {env.regex_timeout}s") from None


def match(env: Env, pattern: str, text: str) -> bool:
    compiled = _compile(env, pattern)
    try:
        return compiled.search(text, timeout=env.regex_timeout) is not None
    except TimeoutError:
        raise FuncError(f"regular expression {pattern!r} took longer than {env.regex_timeout}s") from None


def title(_: Env, text: str) -> str:
    """strings.Title: the first letter of every word in upper case, the rest kept."""
    out: list[str] = []
    previous = " "
    for char in text:
        separator = not (previous.isalnum() or previous == "_") if previous.isascii() else previous.isspace()
        out.append(char.upper() if separator else char)
        previous = char
    return "".join(out)


def _link(expr: str, tab: int) -> str:
    return f"/graph?g0.expr={urllib.parse.quote_plus(expr, safe='')}&g0.tab={tab}"


def query(env: Env, expr: str) -> QueryResult:
    if env.query is None:
        raise FuncError("no Prometheus to query here: templates are checked and tested without one")
    try:
        return QueryResult(Sample(labels, value) for labels, value in env.query(expr))
    except FuncError:
        raise
    except Exception as exc:
        raise FuncError(str(exc) or type(exc).__name__) from None


def first(_: Env, samples: QueryResult) -> Sample:
    if not samples:
        raise FuncError("first() called on vector with no elements")
    return samples[0]


def label(_: Env, name: str, sample: Sample) -> str:
    labels = sample.fields["Labels"]
    return str(labels.get(name, ""))


def sort_by_label(_: Env, name: str, samples: QueryResult) -> QueryResult:
    return QueryResult(sorted(samples, key=lambda s: str(s.fields["Labels"].get(name, ""))))


def args(_: Env, *values: Any) -> InterfaceMap:
    return InterfaceMap({f"arg{i}": v for i, v in enumerate(values)})


# ---- Go built-ins ------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "invalid"


def eq(_: Env, first_arg: Any, *others: Any) -> bool:
    if not others:
        raise FuncError("missing argument for comparison")
    k1 = _kind(first_arg)
    for other in others:
        k2 = _kind(other)
        if k1 != k2:
            if first_arg is not None and other is not None:
                raise FuncError(
                    f"incompatible types for comparison: {type_name(first_arg)} and {type_name(other)}"
                )
            if (first_arg is None) == (other is None):
                return True
            continue
        if k1 == "invalid":
            if first_arg is None or other is None:
                if (first_arg is None) == (other is None):
                    return True
                continue
            raise FuncError(f"non-comparable type {sprint_one(other)}: {type_name(other)}")
        if first_arg == other:
            return True
    return False


def ne(env: Env, a: Any, b: Any) -> bool:
    return not eq(env, a, b)


def lt(_: Env, a: Any, b: Any) -> bool:
    k1, k2 = _kind(a), _kind(b)
    if "invalid" in (k1, k2):
        raise FuncError("invalid type for comparison")
    if k1 != k2:
        raise FuncError(f"incompatible types for comparison: {type_name(a)} and {type_name(b)}")
    if k1 == "bool":
        raise FuncError("invalid type for comparison")
    return bool(a < b)


def le(env: Env, a: Any, b: Any) -> bool:
    return lt(env, a, b) or eq(env, a, b)


def gt(env: Env, a: Any, b: Any) -> bool:
    return not le(env, a, b)


def ge(env: Env, a: Any, b: Any) -> bool:
    return not lt(env, a, b)


def not_(_: Env, value: Any) -> bool:
    return not truth(value)


def length(_: Env, value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, Mapping | list | tuple):
        return len(value)
    raise FuncError(f"len of type {type_name(value)}")


def _index_int(value: Any, size: int, cap: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FuncError(f"cannot index slice/array with type {type_name(value)}")
    if value < 0 or value > (size if cap is None else cap):
        raise FuncError(f"index out of range: {value}")
    return value


def index(_: Env, item: Any, *indexes: Any) -> Any:
    for key in indexes:
        if item is None:
            raise FuncError("index of untyped nil")
        if isinstance(item, Mapping):
            if not isinstance(key, str):
                raise FuncError(f"value has type {type_name(key)}; should be string")
            default = None if isinstance(item, InterfaceMap) else ""
            item = item.get(key, default)
        elif isinstance(item, str | list | tuple):
            position = _index_int(key, len(item) - 1)
            item = item.encode()[position] if isinstance(item, str) else item[position]
        else:
            raise FuncError(f"can't index item of type {type_name(item)}")
    return item


def slice_(_: Env, item: Any, *indexes: Any) -> Any:
    if not isinstance(item, str | list | tuple):
        raise FuncError(f"can't slice item of type {type_name(item)}")
    if len(indexes) > 2 + (0 if isinstance(item, str) else 1):
        raise FuncError(f"too many slice indexes: {len(indexes)}")
    bounds = [_index_int(i, len(item)) for i in indexes]
    start = bounds[0] if bounds else 0
    stop = bounds[1] if len(bounds) > 1 else len(item)
    if start > stop:
        raise FuncError(f"invalid slice index: {start} > {stop}")
    return item[start:stop]


def _html(text: str) -> str:
    table = {"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;"}
    return "".join(table.get(c, c) for c in text)


def _js(text: str) -> str:
    table = {
        "\\": "\\\\",
        "'": "\\'",
        '"': '\\"',
        "<": "\\u003C",
        ">": "\\u003E",
        "&": "\\u0026",
        "=": "\\u003D",
    }
    out: list[str] = []
    for char in text:
        if char in table:
            out.append(table[char])
        elif char < " ":
            out.append(f"\\u00{ord(char):02X}")
        elif ord(char) >= 0x80 and not char.isprintable():
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return "".join(out)


def _eval_args(values: Sequence[Any]) -> str:
    if len(values) == 1 and isinstance(values[0], str):
        return values[0]
    return sprint(values)


def call(_: Env, fn: Any, *rest: Any) -> Any:
    if fn is None:
        raise FuncError("call of nil")
    raise FuncError(f"non-function of type {type_name(fn)}")


FUNCTIONS: dict[str, Func] = {
    # Go text/template built-ins (funcs.go builtins()); and/or are evaluated lazily by the interpreter.
    "and": Func(("any", "any"), True, lambda _, *v: v[-1]),
    "or": Func(("any", "any"), True, lambda _, *v: v[-1]),
    "not": Func(("any",), False, not_),
    "len": Func(("any",), False, length),
    "index": Func(("any", "any"), True, index),
    "slice": Func(("any", "any"), True, slice_),
    "print": Func(("any",), True, lambda _, *v: sprint(v)),
    "printf": Func(("string", "any"), True, lambda _, f, *v: sprintf(f, v)),
    "println": Func(("any",), True, lambda _, *v: sprintln(v)),
    "html": Func(("any",), True, lambda _, *v: _html(_eval_args(v))),
    "js": Func(("any",), True, lambda _, *v: _js(_eval_args(v))),
    "urlquery": Func(("any",), True, lambda _, *v: urllib.parse.quote_plus(_eval_args(v), safe="")),
    "eq": Func(("any", "any"), True, eq),
    "ne": Func(("any", "any"), False, ne),
    "lt": Func(("any", "any"), False, lt),
    "le": Func(("any", "any"), False, le),
    "gt": Func(("any", "any"), False, gt),
    "ge": Func(("any", "any"), False, ge),
    "call": Func(("any", "any"), True, call),
    # Prometheus (template/template.go NewTemplateExpander).
    "query": Func(("string",), False, query),
    "first": Func(("samples",), False, first),
    "label": Func(("string", "sample"), False, label),
    "value": Func(("sample",), False, lambda _, s: s.fields["Value"]),
    "strvalue": Func(("sample",), False, lambda _, s: str(s.fields["Labels"].get("__value__", ""))),
    "sortByLabel": Func(("string", "samples"), False, sort_by_label),
    "args": Func(("any",), True, args),
    "reReplaceAll": Func(("string", "string", "string"), False, re_replace_all),
    "match": Func(("string", "string"), False, match),
    "safeHtml": Func(("string",), False, lambda _, s: s),
    "title": Func(("string",), False, title),
    "toUpper": Func(("string",), False, lambda _, s: s.upper()),
    "toLower": Func(("string",), False, lambda _, s: s.lower()),
    "graphLink": Func(("string",), False, lambda _, e: _link(e, 0)),
    "tableLink": Func(("string",), False, lambda _, e: _link(e, 1)),
    "stripPort": Func(("string",), False, strip_port),
    "stripDomain": Func(("string",), False, strip_domain),
    "humanize": Func(("any",), False, humanize),
    "humanize1024": Func(("any",), False, humanize1024),
    "humanizeDuration": Func(("any",), False, humanize_duration),
    "humanizePercentage": Func(("any",), False, humanize_percentage),
    "humanizeTimestamp": Func(("any",), False, humanize_timestamp),
    "toTime": Func(("any",), False, to_time),
    "parseDuration": Func(("string",), False, parse_duration),
    "externalURL": Func((), False, lambda env: env.external_url),
    "pathPrefix": Func((), False, lambda env: urllib.parse.urlsplit(env.external_url).path),
}
"""Every function by name."""

PARAM_TYPES = {"string": "string", "sample": "*template.sample", "samples": "template.queryResult"}


def accepts(kind: str, value: Any) -> bool:
    """Whether a parameter of ``kind`` takes ``value`` (Go's assignability for these few types)."""
    if kind == "any":
        return True
    if kind == "string":
        return isinstance(value, str)
    if kind == "sample":
        return isinstance(value, Sample)
    if kind == "samples":
        return isinstance(value, QueryResult)
    return isinstance(value, Struct)
