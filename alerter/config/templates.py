"""Annotation templates: Jinja2 in a sandbox, compiled once at load.

Rule authors write ``{{ labels.model_name }}`` and ``{{ value | duration }}``; the sandbox
means a rule file can never run code in the engine, and compiling at load means a typo is a
``alerter check`` error instead of a broken Slack message at 3 a.m.
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from alerter.core import codec

VARIABLES = codec.TEMPLATE_VARIABLES
"""Names a template may use; anything else is reported at load."""


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def duration(value: Any) -> str:
    """Seconds as a short human duration: 0.734 -> 734ms, 95 -> 1m35s."""
    seconds = _number(value)
    if seconds is None:
        return "n/a"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 1:
        return f"{sign}{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{sign}{seconds:.3g}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    text = "".join(f"{n}{u}" for n, u in parts if n)
    return sign + text


def percent(value: Any, digits: int = 1) -> str:
    """A ratio as a percentage: 0.0523 -> 5.2%."""
    ratio = _number(value)
    return "n/a" if ratio is None else f"{ratio * 100:.{digits}f}%"


def money(value: Any, currency: str = "$") -> str:
    """An amount with two decimals and thousands separators: 1234.5 -> $1,234.50."""
    amount = _number(value)
    return "n/a" if amount is None else f"{currency}{amount:,.2f}"


def humanize(value: Any) -> str:
    """A count with an SI suffix: 1234567 -> 1.23M."""
    number = _number(value)
    if number is None:
        return "n/a"
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(number) >= factor:
            return f"{number / factor:.3g}{suffix}"
    return f"{number:.3g}"


FILTERS = {"duration": duration, "percent": percent, "money": money, "humanize": humanize}


@functools.cache
def environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    env.filters.update(FILTERS)
    return env


def problems(source: str) -> list[tuple[int, str, str]]:
    """Every problem of a template as (line within the template, message, hint); empty when valid."""
    env = environment()
    try:
        ast = env.parse(source)
    except TemplateSyntaxError as exc:
        return [(exc.lineno or 1, f"template syntax error: {exc.message}", "check {{ }} and {% %} pairs")]
    found: list[tuple[int, str, str]] = []
    for node in ast.find_all(nodes.Filter):
        if node.name not in env.filters:
            close = difflib.get_close_matches(node.name, list(env.filters), n=1)
            hint = f"did you mean `{close[0]}`?" if close else f"custom filters: {', '.join(FILTERS)}"
            found.append((node.lineno, f"unknown template filter `{node.name}`", hint))
    if found:
        return found  # finding variables compiles the template, which fails on unknown filters
    for name in sorted(meta.find_undeclared_variables(ast) - set(VARIABLES)):
        close = difflib.get_close_matches(name, VARIABLES, n=1)
        hint = f"did you mean `{close[0]}`?" if close else f"available: {', '.join(VARIABLES)}"
        found.append((1, f"unknown template variable `{name}`", hint))
    return found


@functools.lru_cache(maxsize=4096)
def _compiled(source: str) -> Any:
    return environment().from_string(source)


def render(source: str, context: Mapping[str, Any]) -> str:
    """Render a template that passed ``problems``; a rendering failure yields the error text inline,
    because an alert with a broken annotation must still be delivered."""
    try:
        return str(_compiled(source).render(**context))
    except Exception as exc:
        return f"{source} [template error: {exc}]"
