"""``alerter test`` end to end: real Prometheus, alerter's engine, promtool-style reports."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from alerter import ruletest

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
    blocks = err.split("    name: wrong expectations,\n")
    assert blocks[0] == f"Unit Testing:  {FILES / 'failing.yaml'}\n  FAILED:\n"
    pending, expr, labels = blocks[1:]
    assert pending.startswith("    alertname: QueueTooLong, time: 1m,\n")
    assert "        got:[]\n        note: not compared: 1 pending" in pending
    assert expr.startswith("    expr: 'queue_depth', time: 5m,")
    assert "Value:21.0" in expr and "Value:20.0" in expr
    assert labels.startswith("    alertname: QueueTooLong, time: 10m,")
    exp, got = labels.split("        got:")
    assert 'severity="warning"' in exp and 'severity="page"' in got
    assert 'Annotations:{summary="llama has 20 requests waiting"}' in got


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
        (
            "missing-rules.yaml",
            ["missing-rules.yaml:1:14: rule_files[0]: no rule files match `../no-such-rules.yaml`"],
        ),
        (
            "unknown-alert.yaml",
            [
                "unknown-alert.yaml:2:20: group_eval_order[0]: no rule group `queues` (did you mean `queue`?)",
                "unknown-alert.yaml:9:20: tests[0].alert_rule_test[0].alertname: no rule in the rule files raises `QueueToLong` (did you mean `QueueTooLong`?)",
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
    code, out, err = _run(capsys, str(FILES / "bad" / "missing-rules.yaml"), str(FILES / "passing.yaml"))
    assert code == 1
    assert "SUCCESS" in out and "no rule files match" in err


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
