"""The shipped rule packs: valid, each with unit tests, and the recording rules pass promtool.

``alerter test rules/tests/*.yaml`` (run by ``make test``) executes the rule tests; this module
checks what holds them together: every shipped alerter rule file is covered by a test file that
has at least one case expecting a firing alert and one expecting none, and the Prometheus
recording rules load and pass their own promtool tests.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from alerter.config import load
from alerter.ruletest.file import LoadedTests, load_tests

RULES = Path(__file__).resolve().parents[2] / "rules"
SHIPPED = sorted([*RULES.glob("*.yaml"), *(RULES / "unified").glob("*.yaml")])
TEST_FILES = sorted((RULES / "tests").glob("*.yaml"))
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def test_every_shipped_rule_file_is_valid() -> None:
    bundle = load(None, [str(p) for p in SHIPPED])
    assert sorted(Path(f.path).resolve() for f in bundle.rule_files) == SHIPPED


@pytest.fixture(scope="module")
def rule_tests() -> list[LoadedTests]:
    return [load_tests(path) for path in TEST_FILES]


def test_every_shipped_rule_file_has_a_test_file(rule_tests: list[LoadedTests]) -> None:
    covered = {Path(f.path).resolve() for tests in rule_tests for f in tests.bundle.rule_files}
    assert [p for p in SHIPPED if p not in covered] == []


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.name)
def test_each_test_file_expects_a_firing_alert_and_a_quiet_case(path: Path) -> None:
    tests = load_tests(path)
    cases = [c for group in tests.spec.tests for c in group.alert_rule_test]
    assert any(any(a.exp_state == "firing" for a in c.exp_alerts) for c in cases)
    assert any(not c.exp_alerts for c in cases)


def test_recording_rules_pass_promtool_check() -> None:
    files = sorted(str(p) for p in (RULES / "prometheus").glob("*.yaml"))
    assert files
    result = subprocess.run([PROMTOOL, "check", "rules", *files], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_recording_rules_pass_their_promtool_unit_tests() -> None:
    files = sorted(str(p) for p in (RULES / "prometheus" / "tests").glob("*.yaml"))
    assert files
    result = subprocess.run([PROMTOOL, "test", "rules", *files], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
