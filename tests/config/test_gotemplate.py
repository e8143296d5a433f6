"""Go text/template as Prometheus runs alert templates.

Expected strings marked "template_test.go" are prometheus/prometheus template/template_test.go's
documented behaviour (TestTemplateExpansion); Go's formatting rules are those of golang/go
src/fmt and src/text/template (exec.go, funcs.go, parse/lex.go).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import pytest

from alerter.config import gotemplate
from alerter.config.gotemplate import Limits, TemplateError, check, execute, render
from alerter.config.gotemplate.printf import sprintf
from alerter.config.gotemplate.values import format_float_v

CTX = {"labels": {"__name__": "up", "instance": "node1:9100", "job": "node"}, "value": 0.25, "rule": "R"}
EXTRA = ("expected", "lower", "upper", "score", "fraction", "since", "tier", "rule")


def _run(source: str, ctx: Mapping[str, object] = CTX, **kw: object) -> str:
    return execute(source, ctx, extra=EXTRA, **kw)  # type: ignore[arg-type]


def _samples(*items: tuple[dict[str, str], float]) -> object:
    def query(_: str) -> Iterable[tuple[Mapping[str, str], float]]:
        return list(items)

    return query


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("plain text", "plain text"),  # template_test.go
        ("{{ 1 }}", "1"),  # template_test.go
        ('{{ "<b>" }}', "<b>"),  # template_test.go: no HTML escaping in text mode
        ('{{ reReplaceAll "(a)b" "x$1" "ab" }}', "xa"),  # template_test.go
        (
            "{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:"
            "{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}",
            "-22.22%:0%:12.35%:123.5%",
        ),
        ("{{ 1435065584.128 | humanizeTimestamp }}", "2015-06-23 13:19:44.128 +0000 UTC"),  # template_test.go
        ('{{ "aa bb CC" | title }}', "Aa Bb CC"),  # template_test.go
        ('{{ "aa bb CC" | toUpper }}', "AA BB CC"),  # template_test.go
        ('{{ "aA bB CC" | toLower }}', "aa bb cc"),  # template_test.go
        ('{{ match "a+" "aa" }} {{ match "a+" "b" }}', "true false"),  # template_test.go
        ('{{ graphLink "up" }}', "/graph?g0.expr=up&g0.tab=0"),  # template_test.go
        ('{{ tableLink "up" }}', "/graph?g0.expr=up&g0.tab=1"),  # template_test.go
        ('{{define "x"}}{{.arg0}} {{.arg1}}{{end}}{{template "x" (args 1 "2")}}', "1 2"),  # template_test.go
        (
            '{{ "node1.example.com:9100" | stripDomain }} {{ "10.0.0.1:80" | stripDomain }}',
            "node1:9100 10.0.0.1:80",
        ),
        (
            '{{ "node1:9100" | stripPort }} {{ "[::1]:80" | stripPort }} {{ "host" | stripPort }}',
            "node1 ::1 host",
        ),
        ('{{ parseDuration "1h30m" }} {{ parseDuration "250ms" }}', "5400 0.25"),
    ],
)
def test_prometheus_functions(source: str, expected: str) -> None:
    assert _run(source) == expected


def _each(function: str, values: list[float]) -> str:
    return "".join(_run("{{ " + function + " $value }}:", {**CTX, "value": v}) for v in values)


def test_humanizers_as_in_prometheus_tests() -> None:
    """template_test.go: Humanize, Humanize1024, HumanizeDuration, Inf and NaN."""
    assert _each("humanize", [0.0, 1.0, 1234567.0, 0.12]) == "0:1:1.235M:120m:"
    assert _each("humanize1024", [0.0, 1.0, 1048576.0, 0.12]) == "0:1:1Mi:0.12:"
    durations = [0, 1, 60, 3600, 86400, 86400 + 3600, -(86400 * 2 + 3600 * 3 + 60 * 4 + 5), 899.99]
    assert (
        _each("humanizeDuration", durations)
        == "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:"
    )
    fractions = [0.1, 0.0001, 0.12345, 60.1, 60.5, 1.2345, 12.345]
    assert _each("humanizeDuration", fractions) == "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:"
    for function in ("humanize", "humanize1024", "humanizeDuration", "humanizeTimestamp"):
        assert _each(function, [math.inf, -math.inf, math.nan]) == "+Inf:-Inf:NaN:"


def test_query_functions_as_in_prometheus_tests() -> None:
    """template_test.go: value and label from a query, missing labels empty, sorting by label."""
    one = _samples(({"__name__": "metric", "instance": "a"}, 11.0))
    assert _run('{{ query "metric" | first | value }}', query=one) == "11"
    assert _run('{{ query "metric" | first | label "instance" }}', query=one) == "a"
    assert _run('{{ query "metric" | first | label "foo" }}', query=one) == ""
    assert _run('{{ $x := query "metric" | first }}{{ $x.Labels.foo }}', query=one) == ""
    two = _samples(({"instance": "b"}, 21.0), ({"instance": "a"}, 11.0))
    text = '{{ range query "metric" | sortByLabel "instance" }}{{.Labels.instance}}:{{.Value}}: {{end}}'
    assert _run(text, query=two) == "a:11: b:21: "
    with pytest.raises(
        TemplateError,
        match=r"1:21: executing .* at <first>: error calling first: first\(\) called on vector with no elements",
    ):
        _run('{{ query "missing" | first }}', query=_samples())


def test_query_without_a_source_renders_its_error_inline() -> None:
    out = render('{{ query "up" | first | value }}', CTX, extra=EXTRA)
    assert out.startswith(
        "<error expanding template: error executing template __alert_R: template: __alert_R:1:3:"
    )
    assert "error calling query: no Prometheus to query here" in out


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.5, "0.5"),
        (1e6, "1e+06"),
        (10 / 3, "3.3333333333333335"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (1e-5, "1e-05"),
        (0.0001, "0.0001"),
        (100.0, "100"),
        (-2.5, "-2.5"),
        (math.inf, "+Inf"),
        (math.nan, "NaN"),
    ],
)
def test_a_float_prints_as_go_prints_float64(value: float, text: str) -> None:
    assert format_float_v(value) == text
    assert _run("{{ $value }}", {**CTX, "value": value}) == text


@pytest.mark.parametrize(
    ("fmt", "args", "text"),
    [
        ("%.2f", [3.14159], "3.14"),
        ("%d", [42], "42"),
        ("%s", ["a"], "a"),
        ("%v", [0.5], "0.5"),
        ("%q", ['a"b'], '"a\\"b"'),
        ("%x", [255], "ff"),
        ("%X", ["hi"], "6869"),
        ("%g", [1e6], "1e+06"),
        ("%.3g", [1234.5], "1.23e+03"),
        ("%e", [1234.5], "1.234500e+03"),
        ("%5.1f|%-4d|%04d|%+d", [2.5, 7, 42, 5], "  2.5|7   |0042|+5"),
        ("%d", [1.5], "%!d(float64=1.5)"),
        ("%s", [2], "%!s(int=2)"),
        ("%d %d", [1], "1 %!d(MISSING)"),
        ("%s", ["a", 1], "a%!(EXTRA int=1)"),
        ("%%", [], "%"),
        ("%t", [True], "true"),
        ("%T", [1.0], "float64"),
        ("%.4g", [math.inf], "+Inf"),
        ("%c%U", [65, 65], "AU+0041"),
        ("%1000000d", [1], "%!(BADWIDTH)1"),
    ],
)
def test_printf_verbs_follow_go(fmt: str, args: list[object], text: str) -> None:
    assert sprintf(fmt, args) == text


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "{{ $labels.instance }} of job {{ $labels.job }} has been down",
            "node1:9100 of job node has been down",
        ),
        ("{{ .Labels.job }} {{ .Value }}", "node 0.25"),
        # $labels is the sample's metric, __name__ included (rules/alerting.go builds it from
        # smpl.Metric and only the alert's own labels drop the name); missingkey=zero.
        ("{{ $labels.__name__ }}|{{ $labels.missing }}|", "up||"),
        ("{{ if gt $value 0.5 }}high{{ else if gt $value 0.1 }}mid{{ else }}low{{ end }}", "mid"),
        (
            "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
            "__name__=up;instance=node1:9100;job=node;",
        ),
        ("{{ range $labels }}{{ . }};{{ end }}", "up;node1:9100;node;"),
        ("{{ range $i, $e := (args 1 2) }}{{ $i }}{{ end }}", "arg0arg1"),
        (
            "{{ range 5 }}{{ if eq . 3 }}{{ break }}{{ end }}{{ if eq . 1 }}{{ continue }}{{ end }}{{ . }}{{ end }}",
            "02",
        ),
        ("{{ range $x := 0 }}x{{ else }}empty{{ end }}", "empty"),
        (
            "{{ with $labels.job }}job={{ . }}{{ end }}{{ with $labels.nope }}x{{ else }}-{{ end }}",
            "job=node-",
        ),
        ('{{ $x := "a" }}{{ if true }}{{ $x = "b" }}{{ end }}{{ $x }}', "b"),
        ("a  {{- 1 -}}  b {{- /* note */}} c", "a1b c"),
        ("a {{/* comment */}}b", "a b"),
        ("{{ `raw \\n` }}", "raw \\n"),
        ('{{ printf "%.2f" $value }}%', "0.25%"),
        ('{{ $value | printf "%.1f" }}', "0.2"),  # 0.25 rounds half to even in Go's strconv
        (
            '{{ and 1 0 }} {{ or 0 "x" }} {{ not true }} {{ and 0 (index nil 1) }}',
            "0 x false 0",
        ),  # short-circuit
        (
            '{{ eq $labels.job "x" "node" }} {{ ne 1 2 }} {{ lt "a" "b" }} {{ ge 2.0 2.0 }}',
            "true true true true",
        ),
        ('{{ len $labels }} {{ len "é" }} {{ index $labels "job" }}', "3 2 node"),
        ('{{ print 1 2 "a" 3 }}|{{ println 1 "a" }}', "1 2a3|1 a\n"),
        (
            '{{ html "<a href=\'x\'>" }} {{ js "a\'b=" }} {{ urlquery "a b&c" }}',
            "&lt;a href=&#39;x&#39;&gt; a\\'b\\u003D a+b%26c",
        ),
        ("{{ 'a' }} {{ 0x10 }} {{ 1e3 }} {{ 1.0 }}", "97 16 1000 1"),
        ("{{ $expected }} {{ .Tier }} {{ $rule }}", "0.1 stl R"),
        ("{{ $externalLabels.cluster }} {{ externalURL }} {{ pathPrefix }}", "eu1 http://prom:9090/p /p"),
        ("{{ (toTime 1435065584.128).Unix }}", "1435065584"),
    ],
)
def test_language(source: str, expected: str) -> None:
    ctx = {
        **CTX,
        "expected": 0.1,
        "tier": "stl",
        "external_labels": {"cluster": "eu1"},
        "external_url": "http://prom:9090/p",
    }
    assert _run(source, ctx) == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "{{ if gt $value 1 }}x{{ end }}",
            '1:6: executing "__alert" at <gt>: error calling gt: incompatible types for comparison: float64 and int',
        ),
        (
            "{{ humanize $labels.job }}",
            'error calling humanize: strconv.ParseFloat: parsing "node": invalid syntax',
        ),
        ("{{ $labels.job.x }}", "can't evaluate field x in type string"),
        ("{{ toUpper 1 }}", "expected string; found 1"),
        ("{{ toUpper $value }}", "wrong type for value; expected string; got float64"),
        ('{{ label "a" }}', "wrong number of args for label: want 2 got 1"),
        ('{{ reReplaceAll "(" "" "x" }}', "error calling reReplaceAll: regexp: Compile"),
        ("{{ index $labels 1 }}", "value has type int; should be string"),
    ],
)
def test_runtime_errors_carry_gos_message(source: str, message: str) -> None:
    with pytest.raises(TemplateError, match="error executing template __alert: template: __alert:") as caught:
        _run(source)
    assert message in str(caught.value)


def test_render_turns_a_failure_into_prometheus_error_text() -> None:
    out = render("{{ $labels.job.x }}", CTX, extra=EXTRA)
    assert out.startswith(
        '<error expanding template: error executing template __alert_R: template: __alert_R:1:3: executing "__alert_R" at <$labels.job.x>:'
    )
    assert out.endswith("can't evaluate field x in type string>")


@pytest.mark.parametrize(
    ("source", "offset", "message", "hint"),
    [
        ("{{ humanise $value }}", 3, 'function "humanise" not defined', "did you mean `humanize`?"),
        ("ok\n {{ $valeu }}", 7, 'undefined variable "$valeu"', "did you mean `$value`?"),
        ("{{ .Lables.job }}", 3, "can't evaluate field Lables", "did you mean `.Labels`?"),
        ("{{ $.Vaule }}", 3, "can't evaluate field Vaule", "did you mean `.Value`?"),
        ("{{ $labels.job }", 0, "unclosed action", "close the action with }}"),
        ("{{ if 1 }}x", 11, "unexpected EOF", "lacks its {{ end }}"),
        ("x{{ end }}", 4, "unexpected {{end}}", ""),
        ('{{ "abc }}', 3, "unterminated quoted string", ""),
        ("{{ 1 | 2 }}", 7, "non executable command in pipeline stage 2", ""),
        ("{{ break }}", 3, "{{break}} outside {{range}}", ""),
        ('{{ match "(" $labels.job }}', 9, "error parsing regexp", ""),
        ("{{ $x := 1 }}{{ if true }}{{ $y := 2 }}{{ end }}{{ $y }}", 51, 'undefined variable "$y"', ""),
    ],
)
def test_load_time_problems_with_position_and_hint(source: str, offset: int, message: str, hint: str) -> None:
    found = check(source, EXTRA)
    assert found, source
    assert found[0].offset == offset
    assert message in found[0].message
    assert hint in found[0].hint
    line, column = found[0].line, found[0].column
    assert (line, column) == (source[:offset].count("\n") + 1, offset - source[:offset].rfind("\n"))


def test_fields_are_not_checked_where_dot_moved() -> None:
    assert (
        check("{{ range $labels }}{{ .Anything }}{{ end }}{{ with $labels }}{{ .job }}{{ end }}", EXTRA) == []
    )


@pytest.mark.parametrize(
    ("source", "limit"),
    [
        ("{{ range $i := 1000000 }}{{ end }}", "range iterations"),
        ("{{ range $i := 5000 }}{{ range $j := 5000 }}{{ end }}{{ end }}", "range iterations"),
        ('{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}', "maximum template depth"),
        ("{{ range $i := 9000 }}xxxxxxxxxxxxxxxxxxxx{{ end }}", "output exceeds"),
        (
            '{{ $s := "xxxxxxxxxxxxxxxx" }}{{ range $i := 30 }}{{ $s = printf "%s%s" $s $s }}{{ end }}',
            "more than",
        ),
    ],
)
def test_sandbox_limits_stop_runaway_templates(source: str, limit: str) -> None:
    with pytest.raises(TemplateError, match=limit):
        _run(source)


def test_the_step_budget_is_enforced() -> None:
    with pytest.raises(TemplateError, match="evaluation steps"):
        _run("{{ range $i := 50 }}{{ $i }}{{ end }}", limits=Limits(steps=40))


def test_go_marks_count_go_only_syntax() -> None:
    assert gotemplate.go_marks("{{ labels.x }} {{ value | duration }}") == 0
    assert gotemplate.go_marks("{{ $labels.x }}") == 1
    assert gotemplate.go_marks("{{ humanize 5 }}{{ if .Value }}{{ end }}") == 4
    assert gotemplate.go_marks("{{/* c */}}") == 1
