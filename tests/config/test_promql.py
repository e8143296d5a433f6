"""PromQL checks of rule expressions: what Prometheus accepts and refuses, and where the problem is.

Valid and invalid cases follow prometheus/prometheus ``promql/parser/parse_test.go`` (``testExpr``:
scalars, ``1 and 1`` / ``1 == 1`` refused, offsets, vector matching, selectors, functions),
written here as our own fixtures. Regex cases follow Go's ``regexp/syntax/parse.go``, which
Prometheus uses for every ``=~`` matcher (``model/labels/regexp.go``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alerter.config import check, goregexp, promql, yamlfile

# The five that passed the old bracket-only check and failed at run time.
RUN_TIME_FAILURES = [
    ("rate(x)", 0, "expected type matrix in call to function 'rate'"),
    ("nosuchfunc(up)", 0, "unknown function `nosuchfunc`"),
    ("test +", 6, "unexpected end of input"),
    ("rate(x[5x])", 7, "bad number or duration syntax: 5x"),
    ('x{a=~"("}', 6, "missing closing )"),
]

VALID = [
    "1",
    "+Inf",
    "-Inf",
    ".5",
    "5.",
    "123.4567",
    "5e-3",
    "0xc",
    "0755",
    "+5.5e-3",
    "1 + 1",
    "1 == bool 1",
    "-1^2",
    "1 < bool 2 - 1 * 2",
    "-some_metric",
    ' +{"some_metric"}',
    'offset{step="1s"}[5m]',
    'step{offset="1s"}[5m]',
    "foo * bar",
    "foo == bool 1",
    "foo and bar",
    "foo + bar or bla and blub",
    "bar + on(foo) bla / on(baz, buz) group_right(test) blub",
    "foo * on(test,blub) group_left bar",
    "foo and on() bar",
    "foo and ignoring(test,blub) bar",
    "foo unless on(bar) baz",
    "foo offset 5m",
    "foo offset -7m",
    "foo @ 1603774568",
    "foo @ start()",
    'foo:bar{a="bc"}',
    'foo{NaN="bc"}',
    'foo{a="b", foo!="bar", test=~"test", bar!~"baz"}',
    'min_over_time(rate(foo{bar="baz"}[2s])[5m:5s])',
    "rate(foo[5m:])",
    "sum by (foo)(some_metric)",
    "sum without (foo) (some_metric)",
    "sum (some_metric) without (foo)",
    "topk(5, some_metric)",
    'count_values("value", some_metric)',
    "quantile(0.1, some_metric)",
    "histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))",
    'label_replace(up, "dst", "$1", "src", "(.*)")',
    'label_join(up, "dst", ",", "a", "b")',
    "time()",
    "vector(1) + scalar(up)",
    "absent_over_time(up[5m])",
    "predict_linear(x[1h], 3600)",
    "x > bool 1",
    "x[1d2h]",
    "# a comment\nup",
    "up # trailing comment",
    # Regexes Go accepts and the parser package's Rust engine does not.
    r'x{a=~"\\Q.*\\E"}',
    r'x{a=~"\\0"}',
    r'x{a=~"[\\d-z]"}',
    'x{a=~"(?P<name>a)|b"}',
    'x{a=~"a{,3}"}',
    "x{a=~`[[:alpha:]]+`}",
]

INVALID = [
    # (expression, offset of the problem, part of the message); from parse_test.go where noted.
    ("1+", 2, "unexpected end of input"),  # parse_test.go: "unexpected end of input" at 2
    ("1 /", 3, "unexpected end of input"),
    ("*1", 0, "unexpected `*`"),  # parse_test.go: unexpected <op:*>
    ("(1))", 3, "unexpected ')'"),
    ("((1)", 0, "never closed"),
    ("1 and 1", 2, "set operator 'and' not allowed"),
    ("1 or 1", 2, "set operator 'or' not allowed"),
    ("1 == 1", 2, "must use BOOL modifier"),
    # parse_test.go says "unexpected <ignoring>" at 10; a bare `ignoring` also lexes as a metric
    # name, so the first token no completion can follow is its `(`.
    ("a - on(b) ignoring(c) d", 18, "unexpected `(`"),
    ("foo + bool bar", 6, "bool modifier can only be used on comparison operators"),
    ("foo and on(bar) group_left(baz) bar", 4, "no grouping allowed for 'and'"),
    ('foo{a="b" c="d"}', 10, "unexpected `c`"),
    ("foo{a=b}", 6, "unexpected identifier 'b'"),
    ("{}", 0, "at least one non-empty matcher"),
    ('{x=""}', 0, "at least one non-empty matcher"),
    ('{x=~".*"}', 0, "at least one non-empty matcher"),
    ('foo{__name__="bar"}', 0, "metric name must not be set twice"),
    ("foo[5mm]", 4, "bad number or duration syntax"),
    ("foo[0m]", 4, "duration must be greater than 0"),
    ("rate(x[5m]) by (a)", 12, "unexpected `by`"),
    ("sum(x) without (a) by (b)", 19, "unexpected `by`"),
    ("x @ foo", 4, "unexpected `foo`"),
    ("avg(x, y)", 0, "wrong number of arguments for aggregate expression"),
    ('topk("a", x)', 0, "expected type scalar in aggregation expression"),
    ("count_values(1, x)", 0, "expected type string in aggregation expression"),
    ("histogram_quantile(rate(x[5m]))", 0, "expected 2 argument(s)"),
    ("time(1)", 0, "expected 0 argument(s)"),
    ("abs(x[5m])", 0, "expected type vector in call to function 'abs'"),
    ("rate(x[5m]) / rate(y)", 14, "in call to function 'rate'"),
    ("x[5m] + 1", 6, "binary expression must contain only scalar and instant vector types"),
    ("holt_winters(x[5m], 0.5, 0.5)", 0, "unknown function `holt_winters`"),
    ('{a="b" or c="d"}', 7, "`or` inside a selector is not PromQL"),
    ('x{a=~"a++"}', 7, "invalid nested repetition operator"),
    ('x{a=~"a{1001}"}', 7, "invalid repeat count"),
    ('x{a=~"(?=a)"}', 6, "invalid or unsupported Perl syntax"),
    ('x{a=~"\\\\1"}', 6, "invalid escape sequence"),
    ('x{a=~"[[:foo:]]"}', 7, "invalid character class range"),
    ('x{a!~"(?x) a"}', 6, "invalid or unsupported Perl syntax"),
    ('label_replace(up, "dst", "$1", "src", "(.*")', 39, "invalid label_replace() regex"),
    ('up{job="api}', 7, "unterminated string"),
    ("", 0, "empty expression"),
    ("# only a comment", 0, "empty expression"),
]


@pytest.mark.parametrize(("expr", "offset", "message"), RUN_TIME_FAILURES + INVALID)
def test_invalid_expressions_are_reported_where_they_break(expr: str, offset: int, message: str) -> None:
    found = promql.problems(expr)
    assert found, f"{expr!r} passed"
    assert message in found[0].message
    assert found[0].offset == offset, (expr, found[0])
    assert found[0].hint


@pytest.mark.parametrize("expr", VALID)
def test_valid_expressions_pass(expr: str) -> None:
    assert promql.problems(expr) == []


@pytest.mark.parametrize(
    "expr",
    [
        "WITH (q = rate(x[5m])) q > 1",
        "sum(rate(x[5m])) keep_metric_names",
        "x default 0",
        "rollup_rate(x[5m])",
        "range_median(x)",
    ],
)
def test_metricsql_needs_the_victoriametrics_flavor(expr: str) -> None:
    assert promql.problems(expr), f"{expr!r} passed as PromQL"
    assert promql.problems(expr, "victoriametrics") == []


def test_the_victoriametrics_flavor_still_checks_brackets_and_go_regexes() -> None:
    assert "never closed" in promql.problems("rollup_rate(x[5m]", "victoriametrics")[0].message
    found = promql.problems('x{a=~"a**"} default 0', "victoriametrics")
    assert found[0].offset == 7 and "invalid nested repetition" in found[0].message


@pytest.mark.parametrize(
    ("pattern", "nullable"),
    [("", True), ("a", False), (".*", True), ("a|", True), (r"\b", False), ("^$", True), ("(a*)+", True)],
)
def test_go_regex_knows_what_matches_the_empty_string(pattern: str, nullable: bool) -> None:
    assert goregexp.check(pattern) is nullable


def test_a_regex_error_points_into_the_string_past_escapes() -> None:
    # `\\.` is two characters in the literal and one in the regex: the `**` is at literal offset 9.
    expr = 'x{a=~"\\\\.a**"}'
    found = promql.problems(expr)
    assert expr[found[0].offset :].startswith("*")


def test_analyze_lists_selectors_with_real_regexes_grouping_and_created_labels() -> None:
    expr = (
        'sum by (model) (rate(vllm:x{a=~"\\\\Q.\\\\E",c!="d"}[5m])) / on(model) group_left(pod) y'
        ' + label_replace(z, "dst", "$1", "src", "(.*)") + {__name__="q", b="1"} + {"r.s"}'
    )
    analysis = promql.analyze(expr)
    assert analysis is not None
    assert [s.promql() for s in analysis.selectors] == [
        'vllm:x{a=~"\\\\Q.\\\\E",c!="d"}',
        "y",
        "z",
        'q{b="1"}',
        '{"r.s"}',
    ]
    assert [expr[s.offset :].split("{")[0][:6] for s in analysis.selectors][:3] == [
        "vllm:x",
        "y + la",
        'z, "ds',
    ]
    assert [(label, expr[at : at + len(label)]) for label, at in analysis.grouping] == [
        ("model", "model"),
        ("model", "model"),
        ("pod", "pod"),
    ]
    assert analysis.created == {"dst"}
    assert promql.analyze("rollup_rate(x[5m])") is None


def test_errors_map_to_file_line_and_column_in_block_and_plain_scalars(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "groups:\n"
        "  - name: g\n"
        "    rules:\n"
        "      - alert: A\n"
        "        expr: rate(x)\n"
        "      - alert: B\n"
        "        expr: |\n"
        "          sum by (model) (\n"
        "            rate(x[5m])\n"
        "          ) > bogus(1)\n"
        "      - alert: C\n"
        '        expr: "up + nosuch(1)"\n'
    )
    errors = check.rule_file(yamlfile.read(path, what="rule file"), None)
    where = [(e.location.line, e.location.column, e.path) for e in errors]
    assert where == [
        (5, 15, "groups[0].rules[0].expr"),
        (10, 15, "groups[0].rules[1].expr"),
        (12, 21, "groups[0].rules[2].expr"),
    ]
    assert "unknown function `bogus`" in errors[1].message


def test_the_flavor_reaches_the_rule_file_check(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: x default 0\n")
    doc = yamlfile.read(path, what="rule file")
    assert check.rule_file(doc, None)
    assert check.rule_file(doc, None, "victoriametrics") == []
