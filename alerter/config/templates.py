"""Annotation and label templates in two dialects, each in a sandbox, checked at load.

alerter's own rules write Jinja2: ``{{ labels.model_name }}``, ``{{ value | duration }}``.
Rules brought over from Prometheus write Go text/template: ``{{ $labels.instance }}``,
``{{ $value | humanizePercentage }}`` (``alerter.config.gotemplate``). One rule's templates
share one dialect, chosen by :func:`dialect`:

1. Go when at least one template of the rule uses syntax only Go has (a ``$variable``, a
   ``.Field`` or dot, a Go keyword such as ``{{ if }}``/``{{ range }}``/``{{ end }}``, a
   ``{{/* */}}`` comment, a function applied by juxtaposition such as ``{{ humanize $value }}``)
   and every template of the rule is valid Go;
2. otherwise Jinja2 when every template is valid Jinja2 (or none uses Go syntax);
3. otherwise, neither being valid, the dialect with more marks in the rule (Go on a tie,
   since a rule with any Go syntax was most likely written for Prometheus), whose errors
   :func:`problems` then reports.

The sandbox means a rule file can never run code in the engine, and checking at load means a
typo is an ``alerter check`` error instead of a broken Slack message at 3 a.m.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal, NamedTuple

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from alerter.config import gotemplate
from alerter.config.gotemplate.lex import Kind as GoKind
from alerter.config.gotemplate.lex import LexError as GoLexError
from alerter.config.gotemplate.lex import tokens as go_tokens
from alerter.core import codec

Dialect = Literal["go", "jinja"]

CONTEXT_EXTRAS: tuple[str, ...] = ("external_labels", "external_url")
"""Optional render-context entries besides ``codec.template_context``: the config's external labels
(a mapping) and external URL, as Prometheus' ``$externalLabels`` and ``$externalURL``."""
VARIABLES = (*codec.TEMPLATE_VARIABLES, *CONTEXT_EXTRAS)
"""Names a Jinja2 template may use; anything else is reported at load."""
GO_EXTRA: tuple[str, ...] = tuple(v for v in codec.TEMPLATE_VARIABLES if v not in ("labels", "value"))
"""alerter's numbers in Go templates, beside Prometheus' variables: ``$expected`` / ``.Expected``..."""


class Problem(NamedTuple):
    """A template problem: 0-based character offset within the template (None when the dialect's
    parser gives no position, then ``line`` is all there is), 1-based line, message, hint."""

    offset: int | None
    line: int
    message: str
    hint: str


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


def _jinja_problems(source: str) -> list[tuple[int, str, str]]:
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


_JINJA_MARK = re.compile(r"\{%|\{#|\|\s*(?:duration|percent|money)\b")


def _jinja_marks(source: str) -> int:
    """Constructs only Jinja2 has: ``{% %}`` blocks, ``{# #}`` comments, alerter's filters, and the
    bare template variables (``{{ labels.x }}``, ``{{ value }}``) that Go would call as functions."""
    bare = re.findall(r"\{\{-?\s*(" + "|".join(VARIABLES) + r")\b(?!\s*[\"`(\d$.])", source)
    return len(_JINJA_MARK.findall(source)) + len(bare)


def _go_valid(source: str) -> bool:
    return not gotemplate.check(source, GO_EXTRA)


def dialect(sources: Iterable[str]) -> Dialect:
    """The dialect of one rule's templates (all its annotations and labels); see the module doc."""
    texts = [s for s in sources if "{{" in s or "{%" in s or "{#" in s]
    go_marks = sum(gotemplate.go_marks(s) for s in texts)
    if not go_marks:
        return "jinja"
    if all(_go_valid(s) for s in texts):
        return "go"
    if all(not _jinja_problems(s) for s in texts):
        return "jinja"
    return "go" if go_marks >= sum(_jinja_marks(s) for s in texts) else "jinja"


def problems(source: str, dialect: Dialect = "jinja") -> list[Problem]:
    """Every problem of one template in ``dialect``; empty when valid."""
    if dialect == "go":
        found = [Problem(p.offset, p.line, p.message, p.hint) for p in gotemplate.check(source, GO_EXTRA)]
        jinja_like = re.search(r"\{\{-?\s*(?:" + "|".join(VARIABLES) + r")\b", source)
        if found and jinja_like and "$" not in source:
            first = found[0]
            found[0] = first._replace(
                hint=f"{first.hint}; the rule is read as Go text/template (Prometheus) because it uses Go "
                "syntax (`$`, `.Field`, ...): write `{{ $labels.x }}` and `{{ $value }}` here too"
            )
        return found
    return [Problem(None, line, message, hint) for line, message, hint in _jinja_problems(source)]


@functools.lru_cache(maxsize=4096)
def _compiled(source: str) -> Any:
    return environment().from_string(source)


def render(
    source: str,
    context: Mapping[str, Any],
    *,
    dialect: Dialect = "jinja",
    query: gotemplate.Query | None = None,
) -> str:
    """Render a template that passed ``problems``; a rendering failure yields the error text inline,
    because an alert with a broken annotation must still be delivered.

    ``context`` is ``codec.template_context(alert)`` plus, optionally, ``external_labels`` and
    ``external_url``. ``query`` runs Go's ``query`` function (PromQL at render time); without it
    ``query`` renders its error inline. Jinja2 failures read ``SOURCE [template error: ...]``, Go
    failures ``<error expanding template: ...>`` as in Prometheus."""
    if dialect == "go":
        return gotemplate.render(source, context, extra=GO_EXTRA, query=query)
    try:
        full = {"external_labels": {}, "external_url": "", **context}
        return str(_compiled(source).render(**full))
    except Exception as exc:
        return f"{source} [template error: {exc}]"


_JINJA_DICT_METHODS = frozenset(("get", "items", "keys", "values"))


def label_reads(source: str, dialect: Dialect = "jinja") -> list[tuple[str, int]]:
    """The alert labels ``source`` reads by name, each with the offset of the name in ``source``.

    Go: ``$labels.x``, ``.Labels.x``, ``$.Labels.x`` and ``index $labels "x"``; Jinja2:
    ``labels.x``, ``labels["x"]`` and ``labels.get("x")``. What ``alerter check --prometheus``
    looks for on the server's series; a template that does not parse reads nothing."""
    if dialect == "go":
        return _go_label_reads(source)
    try:
        ast = environment().parse(source)
    except TemplateSyntaxError:
        return []
    names: list[tuple[str, int]] = []
    for node in ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Call)):
        key: Any = None
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr) and node.args:
            if (
                node.node.attr == "get"
                and _is_labels(node.node.node)
                and isinstance(node.args[0], nodes.Const)
            ):
                key = node.args[0].value
        elif (
            isinstance(node, nodes.Getattr) and _is_labels(node.node) and node.attr not in _JINJA_DICT_METHODS
        ):
            key = node.attr
        elif isinstance(node, nodes.Getitem) and _is_labels(node.node) and isinstance(node.arg, nodes.Const):
            key = node.arg.value
        if isinstance(key, str):
            names.append((key, node.lineno))
    out: list[tuple[str, int]] = []
    for name, lineno in names:
        line_start = sum(len(line) for line in source.splitlines(keepends=True)[: lineno - 1])
        pattern = r"\blabels\s*(?:\.\s*get\s*\(\s*|\[\s*|\.\s*)['\"]?(" + re.escape(name) + r")\b"
        found = re.compile(pattern).search(source, line_start)
        out.append((name, found.start(1) if found else line_start))
    return out


def _is_labels(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Name) and node.name == "labels"


def _go_label_reads(source: str) -> list[tuple[str, int]]:
    try:
        toks = [t for t in go_tokens(source) if t.kind is not GoKind.SPACE]
    except GoLexError:
        return []
    out: list[tuple[str, int]] = []
    for i, tok in enumerate(toks[:-1]):
        after = toks[i + 1]
        before = toks[i - 1] if i else None
        # `.Labels` of the alert data, not a field of some other value (`$x.Labels`, `(f).Labels`)
        of_data = (
            before is None
            or before.text == "$"
            or before.kind not in (GoKind.FIELD, GoKind.RPAREN, GoKind.VARIABLE)
        )
        if after.kind is GoKind.FIELD and (
            (tok.kind is GoKind.VARIABLE and tok.text == "$labels")
            or (tok.kind is GoKind.FIELD and tok.text == ".Labels" and of_data)
        ):
            out.append((after.text[1:], after.pos + 1))
        elif (
            tok.kind is GoKind.IDENT
            and tok.text == "index"
            and after.kind is GoKind.VARIABLE
            and after.text == "$labels"
            and i + 2 < len(toks)
            and toks[i + 2].kind in (GoKind.STRING, GoKind.RAW)
        ):
            out.append((toks[i + 2].text[1:-1], toks[i + 2].pos + 1))
    return out
