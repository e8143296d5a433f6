"""Loading and checking config and rule files: every bad input gives file:line, field and a hint."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from alerter import cli
from alerter.config import load
from alerter.config.yamlfile import MAX_LINE_CHARS
from alerter.core.errors import ConfigErrors
from alerter.engine.engine import plan

REPO = Path(__file__).resolve().parents[2]
BAD = Path(__file__).parent / "bad"
BASE_CONFIG = BAD / "_base.config.yaml"
FIXTURES = sorted(p for p in BAD.glob("*.yaml") if not p.name.startswith("_"))


def _expectation(path: Path) -> tuple[str, str, int | None]:
    """(field path, message fragment, line) from the fixture's header and `# <-` marker."""
    lines = path.read_text().splitlines()
    header = re.match(r"# expect: ?(.*?) ?\| (.*)$", lines[0])
    assert header, f"{path.name}: first line must be '# expect: FIELD | MESSAGE'"
    marked = [n for n, text in enumerate(lines, start=1) if text.rstrip().endswith("# <-")]
    return header.group(1).strip(), header.group(2).strip(), marked[0] if marked else None


def _check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    if path.name.startswith("c-"):
        code = cli.main(["check", "--config", str(path)])
    else:
        code = cli.main(["check", "--config", str(BASE_CONFIG), str(path)])
    return code, capsys.readouterr().err


def test_there_are_enough_bad_fixtures() -> None:
    assert len(FIXTURES) >= 40


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_bad_fixture_reports_file_line_field_and_message(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    field, fragment, line = _expectation(path)
    code, err = _check(path, capsys)
    assert code == 1
    assert "Traceback" not in err
    errors = [e for e in err.splitlines() if e.startswith(str(path))]
    assert errors, f"no error names {path}:\n{err}"
    prefix = f"{path}:{line}:" if line else str(path)
    matching = [
        e for e in errors if e.startswith(prefix) and fragment in e and (not field or f" {field}: " in e)
    ]
    assert matching, f"expected {prefix} ... {field}: ...{fragment}... in:\n{err}"


def test_shipped_rules_and_example_config_pass(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["check", "--config", str(REPO / "deploy" / "alerter.yaml"), str(REPO / "rules")])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "rules/vllm-latency.yaml: OK" in out.out


def test_all_errors_of_a_file_are_reported_together(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text(
        "groups:\n  - name: g\n    rules:\n"
        "      - alert: A\n        expr: up\n        for: -1m\n"
        "      - alert: B\n        expr: 'sum(x'\n        baseline: {sensitivity: 0}\n"
        "      - alert: ''\n        expr: up\n        labelz: {}\n"
    )
    with pytest.raises(ConfigErrors) as caught:
        load(None, [path])
    lines = [e.location.line for e in caught.value.errors]
    assert sorted(lines) == [6, 8, 9, 10, 12]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (bytes(range(256)) * 4, "binary"),
        (b"groups:\n  - name: caf\xe9\n", "not valid UTF-8"),
        (b"", "is empty"),
        (b"\n\n   \n", "is empty"),
        (b"groups: " + b"[" * 1200, "YAML"),
    ],
    ids=["binary", "latin1", "empty", "blank", "deep-nesting"],
)
def test_unreadable_files_give_one_clear_error(
    tmp_path: Path, content: bytes, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_bytes(content)
    assert cli.main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith(str(path)) and message in err


def test_ten_megabyte_file_is_refused_without_parsing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("groups:\n" + "  - name: g\n    rules: []\n" * 400_000)
    assert path.stat().st_size > 10_000_000
    assert cli.main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}: rule file is" in err and "MiB limit" in err


def test_missing_and_directory_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", str(tmp_path / "nope.yaml")]) == 1
    assert "nope.yaml: rule file not found" in capsys.readouterr().err
    empty = tmp_path / "empty-dir"
    empty.mkdir()
    assert cli.main(["check", str(empty)]) == 1
    assert "no rule files match" in capsys.readouterr().err


def test_check_without_arguments_explains_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check"]) == 2
    assert "--config" in capsys.readouterr().err


def test_a_group_name_may_be_used_in_two_files(tmp_path: Path) -> None:
    # Prometheus scopes a group to its file (rules/manager.go keys groups by file and name).
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(
            "groups:\n  - name: latency\n    rules:\n      - alert: A\n        expr: up\n"
        )
    bundle = load(None, [tmp_path])
    assert [g.name for f in bundle.rule_files for g in f.rules.groups] == ["latency", "latency"]
    plans = plan(bundle)
    assert sorted(plans) == [f"{tmp_path / 'a.yaml'};latency", f"{tmp_path / 'b.yaml'};latency"]
    assert {ctx.group.name for p in plans.values() for ctx in p.rules} == set(plans)


def test_a_mixed_file_loads_its_recording_rules_and_plans_only_alerts(tmp_path: Path) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text(
        "groups:\n  - name: g\n    rules:\n"
        "      - record: job:up:sum\n        expr: sum by (job) (up)\n        labels: {team: x}\n"
        "      - alert: JobDown\n        expr: job:up:sum == 0\n        for: 5m\n"
        "      - alert: JobDown\n        expr: job:up:sum == 0\n        for: 15m\n"
        "        labels: {severity: critical}\n"
    )
    bundle = load(None, [path])
    (group,) = bundle.rule_files[0].rules.groups
    assert [r.record for r in group.recording] == ["job:up:sum"]
    assert [r.alert for r in group.alerting] == ["JobDown", "JobDown"]
    (rules,) = [p.rules for p in plan(bundle).values()]
    assert [ctx.name for ctx in rules] == ['JobDown{severity=""}', 'JobDown{severity="critical"}']
    assert all(ctx.baseline is None for ctx in rules)


RULE = b"groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    baseline: {}\n"


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (b"# " + b"x" * 900_000, "comment line"),
        (b"    annotations: {summary: " + b"y" * 70_000 + b"}", "line"),
    ],
    ids=["900-KB-comment", "long-value"],
)
def test_a_line_longer_than_the_limit_is_refused_at_its_position(
    tmp_path: Path, line: bytes, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rules.yaml"
    at_end = kind == "line"
    path.write_bytes(RULE + line + b"\n" if at_end else line + b"\n" + RULE)
    assert cli.main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    number = 7 if at_end else 1
    assert err.startswith(f"{path}:{number}:{MAX_LINE_CHARS + 1}:"), err
    assert f"{kind} {number} of the rule file is" in err and "block scalar" in err


def test_a_line_at_the_limit_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rules.yaml"
    path.write_bytes(b"#" + b"x" * (MAX_LINE_CHARS - 1) + b"\n" + RULE)
    assert cli.main(["check", str(path)]) == 0, capsys.readouterr().err


PROMETHEUS_STYLE = """\
groups:
  - name: nodes
    rules:
      - alert: node-down/(critical)
        expr: 1
        for: 5m
      - alert: Disk full on sda
        expr: 0.5
  - name: empty
    rules: []
  - name: nothing-yet
    rules:
"""


def test_what_prometheus_accepts_about_names_numbers_and_empty_groups_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Alert names are label values, ``expr: 1`` is a YAML number, ``rules:`` may be empty (rulefmt)."""
    import shutil
    import subprocess

    path = tmp_path / "rules.yaml"
    path.write_text(PROMETHEUS_STYLE)
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr  # the real rule checker accepts the file
    assert cli.main(["check", str(path)]) == 0, capsys.readouterr().err
    bundle = load(None, [path])
    groups = {g.name: g for f in bundle.rule_files for g in f.rules.groups}
    assert [r.alert for r in groups["nodes"].rules] == ["node-down/(critical)", "Disk full on sda"]
    assert [r.expr for r in groups["nodes"].rules] == ["1", "0.5"]
    assert groups["empty"].rules == [] and groups["nothing-yet"].rules == []


BROKEN_CONFIG = """\
prometheus: {url: http://127.0.0.1:9090, timeout: soon}
rule_files: [rules/*.yaml, missing/*.yaml]
receivers:
  - name: oncall
    alertmanager: {url: http://am:9093}
  - name: tickets
    webhook: {url: http://tickets:8080, retries: 3}
route:
  receiver: oncall
  routes:
    - matchers: ['severity="info"']
      receiver: ticket
policies:
  - name: scale-vllm
    scale: {deployment: inference/vllm, step: 1, max_replicas: 4}
  - name: fallback
    route: {httproute: gateway/chat, backend: backup, weigth: 100}
"""

BROKEN_RULES = """\
groups:
  - name: latency
    rules:
      - alert: SlowTTFT
        expr: histogram_quantile(0.99, sum by (le) (rate(ttft_bucket[5m]))
        remediate: [scale-vlm, fallback]
        baseline: {detector: stl, seasonality: [1d], history: 36h}
"""


def test_a_config_failing_validation_still_has_its_rule_files_and_references_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Schema errors, a missing rule file, an unknown receiver and every rule-file error in one run."""
    config = tmp_path / "alerter.yaml"
    config.write_text(BROKEN_CONFIG)
    (tmp_path / "rules").mkdir()
    rules = tmp_path / "rules" / "latency.yaml"
    rules.write_text(BROKEN_RULES)
    with pytest.raises(ConfigErrors) as caught:
        load(config)
    found = [(e.location.file, e.location.line, e.path) for e in caught.value.errors]
    assert found == [
        (str(config), 1, "prometheus.timeout"),
        (str(config), 2, "rule_files[1]"),
        (str(config), 7, "receivers[1].webhook.retries"),
        (str(config), 12, "route.routes[0].receiver"),
        (str(config), 17, "policies[1].route.weigth"),
        (str(rules), 5, "groups[0].rules[0].expr"),
        (str(rules), 6, "groups[0].rules[0].remediate[0]"),
        (str(rules), 7, "groups[0].rules[0].baseline.history"),
    ]
    # `fallback` fails validation, yet it is defined: naming it is not a second error.
    assert "policy `scale-vlm` is not defined" in caught.value.errors[6].message
    assert cli.main(["check", "--config", str(config)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[:-1] == [str(e) for e in caught.value.errors]
    assert err[-1] == "8 error(s) in 2 file(s)"


POLICY = "policies: [{name: p, scale: {deployment: inference/vllm, step: 1, max_replicas: 2}}]\n"


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("receivers: oncall\nroute: {receiver: oncall}\n" + POLICY, ["receivers"]),
        (
            "receivers: [{name: oncall, slack: nope}]\nroute: {receiver: oncall}\n" + POLICY,
            ["receivers[0].slack"],
        ),
        ("route: [oncall]\n" + POLICY, ["route"]),
        ("policies: {name: p}\n", ["policies"]),
        (
            "policies: [{name: p, scale: {deployment: vllm, max_replicas: 2}}]\n",
            ["policies[0].scale.deployment"],
        ),
    ],
    ids=["receivers-not-a-list", "bad-receiver", "route-not-a-mapping", "policies-not-a-list", "bad-policy"],
)
def test_what_validation_refuses_is_not_reported_again_as_a_reference(
    tmp_path: Path, section: str, expected: list[str]
) -> None:
    """A list that cannot be read proves nothing about the names in it: only the schema error."""
    config = tmp_path / "alerter.yaml"
    config.write_text("prometheus: {url: http://127.0.0.1:9090}\n" + section)
    rules = tmp_path / "r.yaml"
    rules.write_text(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        remediate: [p]\n"
    )
    with pytest.raises(ConfigErrors) as caught:
        load(config, [rules])
    assert [e.path for e in caught.value.errors] == expected


def test_a_problem_found_twice_is_reported_once(tmp_path: Path) -> None:
    pattern = str(tmp_path / "nope" / "*.yaml")
    with pytest.raises(ConfigErrors) as caught:
        load(None, [pattern, pattern])
    assert [str(e) for e in caught.value.errors] == [
        f"{pattern}: no rule files match (check the path or glob)"
    ]
