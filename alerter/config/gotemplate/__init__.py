"""Go text/template, the language of Prometheus alert templates, in a sandbox.

Prometheus expands every label and annotation of an alerting rule as a Go template
(prometheus/prometheus rules/alerting.go): the data is ``.Labels``, ``.ExternalLabels``,
``.ExternalURL`` and ``.Value`` (template/template.go ``AlertTemplateData``) and it prepends
``{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}
{{$value := .Value}}`` so a template can say ``{{ $labels.instance }}``; a template that fails
becomes ``<error expanding template: ...>``. This package does the same with the same function
map (``funcs``), so rule files written for Prometheus render as Prometheus renders them. The
variables are declared up front instead of prepended as text, so positions in errors are the
template's own. alerter's baseline numbers come along: ``$expected``, ``$lower``, ``$upper``,
``$score``, ``$fraction``, ``$since``, ``$tier``, ``$rule`` and the fields ``.Expected`` etc.

:func:`check` finds at load what Go finds when it parses (syntax, undefined functions and
variables) plus what can be known before data exists (fields of the alert data that do not
exist, regular expressions that do not compile), each at its offset with a hint.
:func:`render` never raises and is bounded by :class:`Limits`.

Modules: ``lex`` (tokens), ``parse`` (tree and load-time checks), ``exec`` (the interpreter),
``funcs`` (Go's built-ins and Prometheus' functions), ``printf`` and ``values`` (Go's fmt).
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import regex  # type: ignore[import-untyped]

from alerter.config.gotemplate import parse as p
from alerter.config.gotemplate.exec import ExecError, Executor, Limits
from alerter.config.gotemplate.funcs import FUNCTIONS, Env, Query, go_regex
from alerter.config.gotemplate.lex import Kind, LexError, tokens
from alerter.config.gotemplate.values import Struct

PROMETHEUS_VARIABLES: tuple[tuple[str, str], ...] = (
    ("labels", "Labels"),
    ("externalLabels", "ExternalLabels"),
    ("externalURL", "ExternalURL"),
    ("value", "Value"),
)
"""Prometheus' variables and the data fields they name (rules/alerting.go)."""

_DATA_TYPE = "template.alertTemplateData"


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem of a template: 0-based character offset, 1-based line and column, message, hint."""

    offset: int
    line: int
    column: int
    message: str
    hint: str


def _field_name(variable: str) -> str:
    return variable[:1].upper() + variable[1:]


def data_names(extra: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """(variable, field) pairs of the alert data: Prometheus' four, then ``extra`` (alerter's numbers)."""
    known = {v for v, _ in PROMETHEUS_VARIABLES}
    more = tuple((v, _field_name(v)) for v in extra if v not in known and v != "labels")
    return PROMETHEUS_VARIABLES + more


def _position(source: str, offset: int) -> tuple[int, int]:
    before = source[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _problem(source: str, offset: int, message: str, hint: str) -> Problem:
    line, column = _position(source, offset)
    return Problem(offset, line, column, message, hint)


@functools.lru_cache(maxsize=4096)
def _parse(source: str, variables: tuple[str, ...]) -> p.Tree:
    return p.parse(source, FUNCTIONS, variables)


def check(source: str, extra: Sequence[str] = ()) -> list[Problem]:
    """Every problem Go or the data layout makes certain before the template runs; empty when valid."""
    names = data_names(extra)
    try:
        tree = _parse(source, tuple("$" + v for v, _ in names))
    except p.ParseError as exc:
        return [_problem(source, exc.pos, f"Go template: {exc.message}", exc.hint)]
    fields = [f for _, f in names]
    found: list[Problem] = []
    for node, root in _operands(tree.body, root=True):
        if isinstance(node, p.Field) and root:
            first: str | None = node.names[0]
        elif isinstance(node, p.Variable) and node.name == "$" and node.names:
            first = node.names[0]
        else:
            first = None
        if first is not None and first not in fields:
            close = difflib.get_close_matches(first, fields, n=1)
            hint = (
                f"did you mean `.{close[0]}`?" if close else f"fields: {', '.join('.' + f for f in fields)}"
            )
            message = f"Go template: can't evaluate field {first} in type {_DATA_TYPE}"
            found.append(_problem(source, node.pos, message, hint))
        if isinstance(node, p.Command):
            found += _regex_problems(source, node)
    return found


def _regex_problems(source: str, cmd: p.Command) -> list[Problem]:
    head = cmd.args[0]
    if not isinstance(head, p.Identifier) or head.name not in ("match", "reReplaceAll") or len(cmd.args) < 2:
        return []
    pattern = cmd.args[1]
    if not isinstance(pattern, p.Literal) or not isinstance(pattern.value, str):
        return []
    try:
        regex.compile(go_regex(pattern.value))
    except regex.error as exc:
        return [
            _problem(source, pattern.pos, f"Go template: error parsing regexp: {exc}", "RE2 syntax, as in Go")
        ]
    return []


def _operands(nodes: Iterable[p.Node], root: bool) -> Iterator[tuple[p.Node, bool]]:
    """Every command and operand with whether dot is still the alert data there."""
    for node in nodes:
        if isinstance(node, p.Action):
            yield from _pipe_operands(node.pipe, root)
        elif isinstance(node, p.Branch):
            yield from _pipe_operands(node.pipe, root)
            yield from _operands(node.body, root and node.keyword == "if")
            yield from _operands(node.orelse, root)
        elif isinstance(node, p.TemplateCall) and node.pipe is not None:
            yield from _pipe_operands(node.pipe, root)


def _pipe_operands(pipe: p.Pipe, root: bool) -> Iterator[tuple[p.Node, bool]]:
    for cmd in pipe.cmds:
        yield cmd, root
        for arg in cmd.args:
            yield arg, root
            if isinstance(arg, p.Pipe):
                yield from _pipe_operands(arg, root)
            elif isinstance(arg, p.Chain) and isinstance(arg.node, p.Pipe):
                yield from _pipe_operands(arg.node, root)


_KEYWORDS = frozenset(
    {"if", "range", "with", "end", "else", "define", "template", "block", "break", "continue"}
)


_CONTINUES = (Kind.IDENT, Kind.RPAREN, Kind.FIELD, Kind.VARIABLE)


def go_marks(source: str) -> int:
    """How many constructs of ``source`` only Go templates have: ``$variables``, ``.Fields``, dot,
    Go keywords, ``{{/* */}}`` comments and functions applied by juxtaposition (``humanize $value``)."""
    marks = source.count("{{/*") + source.count("{{- /*")
    try:
        toks = tokens(source)
    except LexError as exc:
        toks = tokens(source[: exc.pos]) if exc.pos > 0 and _lexes(source[: exc.pos]) else []
    inside = False
    for i, tok in enumerate(toks):
        if tok.kind is Kind.LEFT:
            inside = True
        elif tok.kind is Kind.RIGHT:
            inside = False
        elif not inside:
            continue
        elif (
            tok.kind in (Kind.VARIABLE, Kind.RAW)
            # `.x` right after a name is Jinja's attribute access (`labels.x`); a Go field starts an operand
            or (tok.kind in (Kind.FIELD, Kind.DOT) and toks[i - 1].kind not in _CONTINUES)
            or (tok.kind is Kind.KEYWORD and tok.text in _KEYWORDS)
            or (
                tok.kind is Kind.IDENT
                and i + 2 < len(toks)
                and toks[i + 1].kind is Kind.SPACE
                and toks[i + 2].kind
                in (Kind.VARIABLE, Kind.FIELD, Kind.DOT, Kind.STRING, Kind.RAW, Kind.NUMBER, Kind.LPAREN)
            )
        ):
            marks += 1
    return marks


def _lexes(source: str) -> bool:
    try:
        tokens(source)
    except LexError:
        return False
    return True


def _float(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def alert_data(context: Mapping[str, Any], extra: Sequence[str] = ()) -> tuple[Struct, dict[str, Any]]:
    """The data (``.Labels``...) and variables (``$labels``...) of an alert template from a render
    context: ``labels``, ``value``, ``external_labels``, ``external_url`` and the ``extra`` names.

    ``labels`` are given as the caller means them: Prometheus hands alert templates the series'
    labels as the query returned them, ``__name__`` included (promtool shows ``{{ $labels }}`` of
    ``expr: up`` as ``map[__name__:up job:a]``, though the alert itself drops the name)."""
    labels = {str(k): str(v) for k, v in dict(context.get("labels") or {}).items()}
    values: dict[str, Any] = {
        "labels": labels,
        "externalLabels": {str(k): str(v) for k, v in dict(context.get("external_labels") or {}).items()},
        "externalURL": str(context.get("external_url") or ""),
        "value": _float(context.get("value")),
    }
    for name in extra:
        if name in values or name == "labels":
            continue
        raw = context.get(name)
        values[name] = raw if isinstance(raw, str) else _float(raw)
    names = data_names(extra)
    root = Struct(_DATA_TYPE, {f: values[v] for v, f in names})
    return root, {"$" + v: values[v] for v, _ in names}


class TemplateError(Exception):
    """A template that failed to parse or run, with Go's message."""


def execute(
    source: str,
    context: Mapping[str, Any],
    *,
    extra: Sequence[str] = (),
    name: str = "__alert",
    query: Query | None = None,
    limits: Limits | None = None,
) -> str:
    """The expansion of ``source`` for ``context``; raises :class:`TemplateError` as Go would fail."""
    names = data_names(extra)
    try:
        tree = _parse(source, tuple("$" + v for v, _ in names))
    except p.ParseError as exc:
        line, _ = _position(source, exc.pos)
        raise TemplateError(
            f"error parsing template {name}: template: {name}:{line}: {exc.message}"
        ) from None
    root, variables = alert_data(context, extra)
    limits = limits or Limits()
    env = Env(
        query=query, external_url=str(context.get("external_url") or ""), regex_timeout=limits.regex_seconds
    )
    try:
        return Executor(tree, source, name, env, limits, variables).run(root)
    except ExecError as exc:
        raise TemplateError(f"error executing template {name}: {exc}") from None
    except RecursionError:
        raise TemplateError(f"error executing template {name}: template nests too deeply") from None


def render(
    source: str,
    context: Mapping[str, Any],
    *,
    extra: Sequence[str] = (),
    query: Query | None = None,
    limits: Limits | None = None,
) -> str:
    """Expand ``source``; a failure becomes ``<error expanding template: ...>`` as in Prometheus
    (rules/alerting.go), so the alert is still delivered and says what went wrong."""
    name = "__alert_" + str(context.get("rule") or "")
    try:
        return execute(source, context, extra=extra, name=name, query=query, limits=limits)
    except TemplateError as exc:
        return f"<error expanding template: {exc}>"


FUNCTION_NAMES: tuple[str, ...] = tuple(sorted(FUNCTIONS))
"""Every function a template may call."""

__all__ = [
    "FUNCTION_NAMES",
    "PROMETHEUS_VARIABLES",
    "Limits",
    "Problem",
    "Query",
    "TemplateError",
    "alert_data",
    "check",
    "data_names",
    "execute",
    "go_marks",
    "render",
]
