"""``alerter check --prometheus``: do the rules' selectors and labels exist on the server now?

A rule that is valid PromQL can still watch nothing: ``vllm_time_to_first_token_seconds_bucket``
where vLLM exports ``vllm:time_to_first_token_seconds_bucket``, ``by (model)`` where the label
is ``model_name``, a template reading ``$labels.nosuch``. Such a rule never fires and nothing
says so. This module asks the server, for every selector of every rule, whether it matches any
series in the window ``[at - lookback, at]``, and whether each label the rule groups or matches
on (``by``, ``without``, ``on``, ``ignoring``, ``group_left``, ``group_right``) or its templates
read (``$labels.x``, ``.Labels.x``, ``labels.x``) is on those series.

It lives here, beside the client, because it needs both the config's analysis of each rule
(``config.promql.analyze``, ``config.templates.label_reads``, positions in the file) and the
server; ``alerter.config`` may not import ``alerter.source``.

The answers describe the server's data at one moment, so they are findings, not errors: a
rule over a counter that only appears during incidents (errors by class) matches nothing on a
quiet day and is still right. The CLI prints them as warnings and fails only with ``--strict``.

Requests are bounded: one ``/api/v1/label/__name__/values`` call gives every metric name (a
bare selector whose name is missing needs no request of its own, and the names are the
suggestions); a selector with label matchers costs one ``/api/v1/labels`` call, deduplicated
across rules; the labels of a rule's bare selectors cost one call with several ``match[]``
(their union is what the rule can group by), deduplicated too; at most ``max_requests`` calls
in all, the rest is reported as not checked. A failure of the server itself (unreachable,
refused credentials, timeout) is raised as one ``SourceError``; a selector the server rejects
is a finding of its rule.

A label is checked only when every selector of the rule matches: with one selector missing,
the label may well be on its series. Labels the rule makes itself are not looked for: the
rule's and its group's ``labels:``, ``alertname``, the targets of ``label_replace`` /
``label_join`` / ``count_values``, and the equality matchers of a selector inside ``absent()``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from alerter.config import check as config_check
from alerter.config import promql, templates, yamlfile
from alerter.config.load import LoadedRules
from alerter.config.rules import RecordingRule, Rule, RuleGroup
from alerter.config.validate import field_path
from alerter.config.yamlfile import Document, Loc
from alerter.core.errors import Location, SourceError

__all__ = ["DEFAULT_MAX_REQUESTS", "Finding", "LabelSource", "Report", "check_rules"]

DEFAULT_MAX_REQUESTS = 200
"""Enough for a few hundred rules (most selectors are bare metric names, which cost nothing)."""

TEMPLATE = "template"
"""What reads a label that a template reads (the others are ``by``, ``on``...)."""
_ABSENT = re.compile(r"\babsent(?:_over_time)?\s*\(\s*$")
_SERVER_FAILURES = frozenset({"unreachable", "timeout", "auth", "server_error", "malformed"})


class LabelSource(Protocol):
    """What the check asks of a server; ``alerter.source.prometheus.PrometheusSource`` has it."""

    url: str

    def label_names(self, matches: Sequence[str], start: float, end: float) -> list[str]: ...

    def label_values(
        self, label: str, start: float, end: float, matches: Sequence[str] = ()
    ) -> list[str]: ...


@dataclass(frozen=True)
class Finding:
    """One thing the server's data says about a rule: where, which field, what, and what to try."""

    location: Location
    path: str
    message: str
    hint: str = ""

    def render(self, severity: str = "") -> str:
        """``file:line:col: [severity: ]field: message; hint``, the line ``alerter check`` prints."""
        head = f"{self.location}: {severity}: " if severity else f"{self.location}: "
        return f"{head}{self.path}: {self.message}" + (f"; {self.hint}" if self.hint else "")

    def __str__(self) -> str:
        return self.render()


@dataclass
class Report:
    """The findings in file order, and how much was checked with how many requests."""

    findings: list[Finding] = field(default_factory=list)
    rules: int = 0
    not_promql: int = 0
    unchecked: int = 0
    requests: int = 0


@dataclass(frozen=True)
class _Use:
    """A selector or label of a rule at its place in the file."""

    name: str
    location: Location
    path: str


@dataclass
class _Rule:
    selectors: list[tuple[promql.Selector, _Use, bool]]  # (selector, where, inside absent())
    labels: list[tuple[_Use, str]]  # (label, what uses it: "by (...)", "template")
    known: set[str]


Answer = list[str] | SourceError | None
"""What the server said: a list of names, its refusal of the selectors, or None past the cap."""


class _Budget:
    """Sends the requests, each set of selectors once, and stops at the cap instead of sending more."""

    def __init__(self, source: LabelSource, limit: int, start: float, end: float) -> None:
        self.source, self.limit, self.start, self.end = source, limit, start, end
        self.sent = 0
        self._cache: dict[tuple[str, frozenset[str]], Answer] = {}

    def labels(self, matches: Sequence[str]) -> Answer:
        """The label names of the series matching any of ``matches``."""
        return self._ask("labels", matches)

    def names(self, matches: Sequence[str]) -> Answer:
        """The metric names of the series matching any of ``matches``: empty exactly when none does."""
        return self._ask("names", matches)

    def _ask(self, what: str, matches: Sequence[str]) -> Answer:
        key = (what, frozenset(matches))
        if key in self._cache:
            return self._cache[key]
        if self.sent >= self.limit:
            return None
        self.sent += 1
        answer: list[str] | SourceError
        selectors = sorted(key[1])
        try:
            if what == "labels":
                answer = self.source.label_names(selectors, self.start, self.end)
            else:
                answer = self.source.label_values("__name__", self.start, self.end, selectors)
        except SourceError as exc:
            if exc.kind in _SERVER_FAILURES:
                raise
            answer = exc
        self._cache[key] = answer
        return answer


def check_rules(
    source: LabelSource,
    files: Sequence[LoadedRules],
    *,
    at: float,
    lookback: float,
    max_requests: int = DEFAULT_MAX_REQUESTS,
) -> Report:
    """Check every rule of ``files`` against the series ``source`` holds in ``[at - lookback, at]``."""
    if max_requests < 1:
        raise ValueError(f"max_requests must be at least 1, got {max_requests}")
    start = at - lookback
    report = Report()
    rules: list[_Rule] = []
    recorded: dict[str, str] = {}
    for loaded in files:
        doc = yamlfile.read(loaded.path, what="rule file")
        for gi, group in enumerate(loaded.rules.groups):
            for ri, rule in enumerate(group.rules):
                report.rules += 1
                where: Loc = ("groups", gi, "rules", ri)
                if isinstance(rule, RecordingRule):
                    recorded.setdefault(rule.record, f"{loaded.path}: {field_path(where)}")
                planned = _plan(doc, where, group, rule)
                if planned is None:
                    report.not_promql += 1
                else:
                    rules.append(planned)
    names = set(source.label_values("__name__", start, at))
    budget = _Budget(source, max_requests - 1, start, at)
    for planned in rules:
        findings, complete = _check_rule(planned, names, budget, source.url, recorded)
        report.findings += findings
        report.unchecked += not complete
    report.requests = budget.sent + 1
    return report


def _plan(doc: Document, where: Loc, group: RuleGroup, rule: Rule | RecordingRule) -> _Rule | None:
    """What one rule reads, located in its file; None when its expression is not PromQL."""
    analysis = promql.analyze(rule.expr)
    if analysis is None:
        return None
    expr_at: Loc = (*where, "expr")
    expr_path = field_path(expr_at)

    def in_expr(name: str, offset: int) -> _Use:
        return _Use(name, config_check._offset_location(doc, expr_at, offset), expr_path)

    selectors = [
        (s, in_expr(s.promql(), s.offset), bool(_ABSENT.search(rule.expr[: s.offset])))
        for s in analysis.selectors
    ]
    labels = [(in_expr(label, offset), _clause(rule.expr, offset)) for label, offset in analysis.grouping]
    known = {"alertname", "__name__", *analysis.created, *rule.labels, *group.labels}
    for selector, _, absent in selectors:
        if absent:
            known.update(label for label, op, _ in selector.matchers if op == "=")
    if isinstance(rule, Rule):
        texts = {("annotations", k): v for k, v in rule.annotations.items()}
        texts |= {("labels", k): v for k, v in rule.labels.items()}
        dialect = templates.dialect(texts.values())
        for (section, key), text in texts.items():
            at: Loc = (*where, section, key)
            for label, offset in templates.label_reads(text, dialect):
                use = _Use(label, config_check._offset_location(doc, at, offset), field_path(at))
                labels.append((use, TEMPLATE))
    return _Rule(selectors, labels, known)


def _clause(expr: str, offset: int) -> str:
    """The clause a grouping label stands in (``by``, ``on``...), read back from the text before it."""
    opening = expr.rfind("(", 0, offset)
    words = re.findall(r"[A-Za-z_]+", expr[max(0, opening - 16) : max(0, opening)])
    return words[-1] if words else "by"


def _check_rule(
    rule: _Rule, names: set[str], budget: _Budget, url: str, recorded: dict[str, str]
) -> tuple[list[Finding], bool]:
    """The rule's findings, and whether all of it could be checked within the request cap."""
    findings: list[Finding] = []
    matched: list[str] = []  # label names of the selectors that matched
    bare: list[str] = []  # existing bare selectors, whose labels are asked together
    all_match = True
    complete = True
    reported: set[str] = set()
    for selector, use, absent in rule.selectors:
        text = use.name
        if selector.name is not None and selector.name not in names:
            found: list[str] | SourceError | None = []
        elif not selector.matchers and selector.name is not None:
            bare.append(text)
            continue
        else:
            found = budget.labels([text])
            if isinstance(found, list) and found and not set(found) - {"__name__"}:
                # VictoriaMetrics names __name__ for a selector that matches nothing: ask which series
                exists = budget.names([text])
                found = found if exists else exists  # [] (no series), None (past the cap) or a refusal
        if found is None:
            complete = all_match = False
            continue
        if isinstance(found, SourceError):
            all_match = False
            if text not in reported:
                reported.add(text)
                findings.append(Finding(use.location, use.path, f"{url} rejected selector {text}: {found}"))
            continue
        if found:
            matched += found
            continue
        all_match = False
        if text not in reported:
            reported.add(text)
            findings.append(_missing(selector, use, absent, names, url, recorded))
    if not rule.labels or not all_match:
        return findings, complete
    if bare:
        found = budget.labels(bare)
        if found is None:
            return findings, False
        if isinstance(found, SourceError):
            use = next(u for s, u, _ in rule.selectors if u.name in bare)
            findings.append(
                Finding(use.location, use.path, f"{url} rejected selector {' or '.join(bare)}: {found}")
            )
            return findings, complete
        matched += found
    findings += _missing_labels(rule, set(matched), [u.name for _, u, _ in rule.selectors], url)
    return findings, complete


def _missing(
    selector: promql.Selector, use: _Use, absent: bool, names: set[str], url: str, recorded: dict[str, str]
) -> Finding:
    text = use.name
    where = " inside absent(), so the alert is firing now" if absent else ""
    message = f"selector {text} matches no series on {url}{where}"
    if selector.name is not None and selector.name in recorded:
        hint = f"it is recorded by {recorded[selector.name]}: is that rule loaded in Prometheus?"
    elif selector.name is not None and selector.name not in names:
        close = _close_names(selector.name, names)
        hint = f"did you mean {' or '.join(close)}?" if close else ""
    else:
        hint = f"series named {selector.name} exist: check the label matchers" if selector.name else ""
    return Finding(use.location, use.path, message, hint)


def _close_names(name: str, names: set[str]) -> list[str]:
    """Metric names ``name`` was probably meant to be: the same with ``:`` for ``_`` (vLLM's
    ``vllm:`` prefix), else the closest by spelling."""
    flat = name.replace(":", "_")
    same = sorted(n for n in names if n.replace(":", "_") == flat)
    return same or difflib.get_close_matches(name, sorted(names), n=1, cutoff=0.8)


def _missing_labels(rule: _Rule, present: set[str], selectors: list[str], url: str) -> Iterator[Finding]:
    seen: set[tuple[str, str]] = set()
    for use, clause in rule.labels:
        if use.name in present or use.name in rule.known or (use.path, use.name) in seen:
            continue
        seen.add((use.path, use.name))
        of = ", ".join(dict.fromkeys(selectors))
        there = sorted(present - {"__name__"})
        what = (
            f"the template reads label {use.name}, which"
            if clause == TEMPLATE
            else f"label {use.name} in {clause}(...)"
        )
        close = difflib.get_close_matches(use.name, there, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else "labels there: " + ", ".join(there)
        yield Finding(use.location, use.path, f"{what} is on no series of {of} on {url}", hint)
