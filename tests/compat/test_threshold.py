"""Rules without ``baseline:`` fire as Prometheus fires them: promtool and ``alerter test`` agree.

``threshold.test.yaml`` holds the expectations; ``promtool test rules`` (the real Prometheus rule
engine, from Debian's package) must pass it, which is what makes them Prometheus' behaviour and
not ours, and ``alerter test`` must pass the same file through alerter's engine: ``for``,
``keep_firing_for``, resolution when a series stops being returned, a recording rule read by an
alert, two rules sharing an alert name, a numeric expression and an alert name with ``-/()``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from alerter import cli

HERE = Path(__file__).parent
TEST_FILE = HERE / "threshold.test.yaml"
TEST_FILES = sorted(HERE.glob("*.test.yaml"))
"""``threshold``: the lifecycle; ``community``: rules as public collections write them."""


def test_there_are_test_files() -> None:
    assert [p.name for p in TEST_FILES] == ["community.test.yaml", "threshold.test.yaml"]


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.stem)
def test_promtool_passes_the_expectations(path: Path) -> None:
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    done = subprocess.run(
        [promtool, "test", "rules", path.name], cwd=HERE, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.stem)
def test_alerter_passes_the_same_expectations(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["test", str(path)])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert "SUCCESS" in out.out


def test_a_wrong_expectation_fails_in_both(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The instance that came back up at 10m is said to be still firing: both must refuse it.
    text = TEST_FILE.read_text()
    wrong = text.replace(
        "      - eval_time: 10m\n        alertname: InstanceDown\n        exp_alerts:\n",
        "      - eval_time: 10m\n        alertname: InstanceDown\n        exp_alerts:\n"
        "          - exp_labels: {severity: page, job: api, instance: a}\n"
        "            exp_annotations: {summary: An instance is down}\n",
    )
    assert wrong != text
    shutil.copy(HERE / "threshold.rules.yaml", tmp_path)
    (tmp_path / "wrong.test.yaml").write_text(wrong)
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    done = subprocess.run(
        [promtool, "test", "rules", "wrong.test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert cli.main(["test", str(tmp_path / "wrong.test.yaml")]) == 1
    out = capsys.readouterr()
    assert "time: 10m" in out.out + out.err
