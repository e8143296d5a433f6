"""``alerter test`` end to end: real Prometheus, alerter's engine, promtool-style reports."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import pytest

from alerter import ruletest
from alerter.ruletest import run

FILES = Path(__file__).parent / "files"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = ruletest.main([*argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_passing_file_succeeds(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, str(FILES / "passing.yaml"))
    assert (code, err) == (0, "")
    assert out.startswith(f"Unit Testing:  {FILES / 'passing.yaml'}\n  SUCCESS (9 cases, ")


def test_failing_file_reports_every_mismatch(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, str(FILES / "failing.yaml"))
    assert code == 1 and out == ""
    head, rest = err.split("  FAILED:\n", 1)
    assert head == f"Unit Testing:  {FILES / 'failing.yaml'}\n"
    pending, labels = rest.split("    expr: ")[0].split("    name: wrong expectations,\n")[1:]
    assert pending.startswith("    alertname: QueueTooLong, time: 1m, \n")
    assert "        got:[]\n        note: not compared: 1 pending" in pending
    assert labels.startswith("    alertname: QueueTooLong, time: 10m, \n")
    exp, got = labels.split("        got:")
    assert 'severity="warning"' in exp and 'severity="page"' in got
    assert 'Annotations:{summary="llama has 20 requests waiting"}' in got
    # promtool's sample lines: labels, then the value as Go's FormatFloat(v, 'E', -1, 64).
    assert err.endswith(
        '    expr: "queue_depth", time: 5m,\n'
        '        exp: {__name__="queue_depth", model_name="llama"} 2.1E+01\n'
        '        got: {__name__="queue_depth", model_name="llama"} 2E+01\n'
    )


PROMTOOL = FILES / "promtool"


def test_promtool_defaults_and_semantics(capsys: pytest.CaptureFixture[str]) -> None:
    """Defaults, the Unix-epoch clock, staleness, recording rules and ALERTS, as promtool runs them."""
    code, out, err = _run(capsys, str(PROMTOOL / "compatible.yaml"), str(PROMTOOL / "default-interval.yaml"))
    assert (code, err) == (0, "")
    assert "SUCCESS (19 cases" in out and "SUCCESS (3 cases" in out


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_itself_passes_the_compatible_file() -> None:
    """The fixture encodes promtool's behaviour: promtool agrees (a guard against a wrong fixture)."""
    done = subprocess.run(
        ["promtool", "test", "rules", str(PROMTOOL / "compatible.yaml")], capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_each_case_fails_on_its_own(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, str(PROMTOOL / "per-case.yaml"))
    assert code == 1 and out == ""
    assert err.count("    alertname: ") == 1 and err.count("    expr: ") == 1
    assert "    alertname: Constnat, time: 0s, \n" in err
    assert "note: no rule in the rule files raises `Constnat` (did you mean `Constant`?)" in err
    assert '    expr: "up", time: 1m,\n' in err
    assert 'time: 0s,\n        exp: {__name__="up"' not in err


def test_a_rule_that_fails_to_evaluate_stops_its_group(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, str(PROMTOOL / "eval-error.yaml"))
    assert code == 1
    lines = err.splitlines()[2:]
    assert len(lines) == 1
    assert lines[0].startswith(
        "    rule: matched, time: 1m0s, err: found duplicate series for the match group {} "
        "on the right hand-side of the operation"
    )


def test_fuzzy_compare_allows_one_ulp(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, str(PROMTOOL / "fuzzy.yaml"))
    assert code == 1
    assert err.count("    expr: ") == 1
    assert 'got: {__name__="below"} 2.9999999999999987E+00' in err


def test_run_selects_test_groups_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--run", "^one ulp$", str(PROMTOOL / "fuzzy.yaml"))
    assert code == 0 and "SUCCESS (2 cases" in out


def test_missing_rule_files_and_groups_are_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    """promtool prints "WARNING: no file match pattern" and runs the tests anyway."""
    code, out, _ = _run(
        capsys, str(FILES / "bad" / "missing-rules.yaml"), str(FILES / "bad" / "unknown-alert.yaml")
    )
    assert code == 0
    assert f"  WARNING: no file match pattern {FILES / 'no-such-rules.yaml'}\n" in out
    assert "  WARNING: group_eval_order: no rule group `queues` (did you mean `queue`?)\n" in out


@pytest.mark.parametrize(
    ("name", "errors"),
    [
        (
            "notation.yaml",
            [
                "notation.yaml:5:17: tests[0].input_series[0].values: invalid series value 'oops' at character 5",
                "notation.yaml:6:17: tests[0].input_series[1].series: expected = after label 'model_name' at character 23",
            ],
        ),
        (
            "histogram-notation.yaml",
            [
                "histogram-notation.yaml:4:17: tests[0].input_series[0].values: bad histogram descriptor 'bukets' at character 36",
                "histogram-notation.yaml:6:17: tests[0].input_series[1].values: cannot merge from schema -1 to 0",
                "histogram-notation.yaml:11:24: tests[0].promql_expr_test[0].exp_samples[0].histogram: expected one histogram, got 2 values",
            ],
        ),
        (
            "fields.yaml",
            [
                "fields.yaml:2:22: evaluation_interval: input should be greater than 0",
                "fields.yaml:6:9: tests[0].input_series[0].value: unknown key `value` (did you mean `values`?)",
                "fields.yaml:8:20: tests[0].alert_rule_test[0].eval_time: invalid duration 'soon'",
                "fields.yaml:14:24: tests[0].alert_rule_test[1].exp_alerts[0].exp_state: input should be 'pending'",
            ],
        ),
        (
            "uses-broken-rules.yaml",
            [
                "broken-rules.yaml:5:18: groups[0].rules[0].expr: PromQL: '(' is never closed",
                "broken-rules.yaml:6:30: groups[0].rules[0].baseline.detector: unknown detector 'stll'",
            ],
        ),
    ],
)
def test_bad_test_files_list_every_problem_with_its_place(
    capsys: pytest.CaptureFixture[str], name: str, errors: list[str]
) -> None:
    code, out, err = _run(capsys, str(FILES / "bad" / name))
    assert code == 1 and out == ""
    lines = err.splitlines()
    assert lines[:2] == [f"Unit Testing:  {FILES / 'bad' / name}", "  FAILED:"]
    assert len(lines) == 2 + len(errors)
    for line, expected in zip(lines[2:], errors, strict=True):
        assert line.startswith(f"    {FILES / 'bad'}/{expected}")


def test_bad_file_does_not_stop_the_others(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, str(FILES / "bad" / "notation.yaml"), str(FILES / "passing.yaml"))
    assert code == 1
    assert "SUCCESS" in out and "invalid series value" in err


def test_config_checks_the_rules_remediate_policies(capsys: pytest.CaptureFixture[str]) -> None:
    test_file = str(FILES / "remediate.yaml")
    assert _run(capsys, test_file)[0] == 0
    assert _run(capsys, "--config", str(FILES / "alerter.yaml"), test_file)[0] == 0
    code, _, err = _run(capsys, "--config", str(FILES / "alerter-other-policy.yaml"), test_file)
    assert code == 1
    assert (
        "remediate-rules.yaml:10:21: groups[0].rules[0].remediate[0]: policy `scale-up` is not defined" in err
    )
    assert "did you mean `scale-out`?" in err


def test_missing_prometheus_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "--prometheus", "/no/such/prometheus", str(FILES / "passing.yaml"))
    assert (code, out) == (1, "")
    assert err.startswith("alerter test: cannot run rule tests: '/no/such/prometheus' is not an executable")


def test_register_adds_the_test_subcommand() -> None:
    root = argparse.ArgumentParser(prog="alerter")
    sub = root.add_subparsers(dest="command", required=True)
    ruletest.register(sub)
    args = root.parse_args(["test", "--config", "a.yaml", "x.yaml", "y.yaml"])
    assert args.func is ruletest.command
    assert (args.config, args.prometheus, args.test_files) == ("a.yaml", None, ["x.yaml", "y.yaml"])


def test_prometheus_that_does_not_start_fails_the_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "--prometheus", "false", str(FILES / "passing.yaml"))
    assert (code, out) == (1, "")
    assert err.startswith(f"Unit Testing:  {FILES / 'passing.yaml'}\n  FAILED:\n    ")
    assert "did not start" in err


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (60, "1m0s"), (90.5, "1m30.5s"), (3725, "1h2m5s"), (0.25, "0.25s")]
)
def test_times_in_rule_errors_are_go_durations(seconds: float, text: str) -> None:
    assert run._go_duration(seconds) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.0, "1E+00"), (21.0, "2.1E+01"), (0.3999999999999991, "3.999999999999991E-01"), (-0.5, "-5E-01")],
)
def test_values_print_as_go_formats_them(value: float, text: str) -> None:
    assert run._float_text(value) == text


def test_float_comparison_is_exact_or_one_ulp() -> None:
    assert run.same_value(3.0, 3.0, fuzzy=False)
    assert not run.same_value(3.0, 3.0000000000000004, fuzzy=False)
    assert run.same_value(3.0, 3.0000000000000004, fuzzy=True)
    assert run.same_value(3.0, 2.9999999999999996, fuzzy=True)
    assert not run.same_value(3.0, 3.0000000000000013, fuzzy=True)
    assert run.same_value(float("nan"), float("nan"), fuzzy=False)


HISTOGRAMS = PROMTOOL / "histograms.yaml"


def test_native_histogram_inputs_expressions_and_alerts(capsys: pytest.CaptureFixture[str]) -> None:
    """Histogram input series, histogram_count/histogram_quantile and exp_samples[].histogram,
    and an alert over histogram_count(rate(...[5m]))."""
    code, out, err = _run(capsys, str(HISTOGRAMS))
    assert (code, err) == (0, "")
    assert "SUCCESS (6 cases" in out


def test_a_wrong_expected_histogram_is_shown_as_promtool_shows_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = HISTOGRAMS.read_text().replace("buckets:[3 6 3]", "buckets:[3 5 4]")
    (tmp_path / "histogram-rules.yaml").write_text((PROMTOOL / "histogram-rules.yaml").read_text())
    (tmp_path / "wrong.yaml").write_text(text)
    code, _, err = _run(capsys, str(tmp_path / "wrong.yaml"))
    assert code == 1
    assert err.endswith(
        '    expr: "request_duration_seconds{job=\\"api\\"}", time: 2m,\n'
        '        exp: {__name__="request_duration_seconds", job="api"} {{count:12 sum:15 buckets:[3 5 4]}}\n'
        '        got: {__name__="request_duration_seconds", job="api"} {{count:12 sum:15 buckets:[3 6 3]}}\n'
    )


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_itself_passes_the_histogram_file() -> None:
    """promtool agrees with the fixture where it reads native histograms at all. Prometheus
    before 2.44 (Debian 12 ships 2.42) has neither the {{...}} notation nor exp_samples[].histogram
    and says so; that promtool cannot judge the file, and the check is skipped."""
    done = subprocess.run(["promtool", "test", "rules", str(HISTOGRAMS)], capture_output=True, check=False)
    output = (done.stdout + done.stderr).decode()
    if "field histogram not found" in output or "unexpected character in series sequence: '{'" in output:
        pytest.skip("the installed promtool predates native histograms in test files")
    assert done.returncode == 0, output


def test_a_rule_recording_native_histograms_is_an_error_naming_the_fix() -> None:
    from alerter.config.rules import RuleGroup
    from alerter.ruletest.histogram import ServedHistogram
    from alerter.ruletest.prometheus import QueryFailed, Sample

    group = RuleGroup.model_validate({"name": "g", "rules": [{"record": "r", "expr": "rate(h[5m])"}]})
    served = Sample({"job": "a"}, float("nan"), ServedHistogram(1.0, 1.0, ()))
    with pytest.raises(QueryFailed, match="histogram_count"):
        run._recorded(group.recording[0], group, [served])
    assert run._recorded(group.recording[0], group, [Sample({"job": "a"}, 2.0)]) == [
        ({"job": "a", "__name__": "r"}, 2.0)
    ]
