"""Operator commands on the state database: silences and the remediation kill switch."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerter import cli
from alerter.remediate import audit
from alerter.service.admin import open_store


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "alerter.yaml"
    path.write_text("prometheus: {url: http://127.0.0.1:9090}\nstorage: {path: state/alerter.db}\n")
    return str(path)


def test_silence_add_list_expire(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli.main(
            [
                "silence",
                "add",
                "-c",
                config,
                'alertname="TTFTAnomaly"',
                "--duration",
                "30m",
                "--comment",
                "deploy",
            ]
        )
        == 0
    )
    silence_id = capsys.readouterr().out.split()[1]
    assert cli.main(["silence", "list", "-c", config]) == 0
    listed = capsys.readouterr().out
    assert (
        silence_id in listed
        and "active" in listed
        and 'alertname="TTFTAnomaly"' in listed
        and "deploy" in listed
    )
    assert cli.main(["silence", "expire", "-c", config, silence_id]) == 0
    capsys.readouterr()
    assert cli.main(["silence", "list", "-c", config]) == 0
    assert capsys.readouterr().out.strip() == "no silences"
    assert cli.main(["silence", "list", "-c", config, "--all"]) == 0
    assert "expired" in capsys.readouterr().out


def test_silence_errors_are_one_line(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["silence", "add", "-c", config, 'severity=~".*"']) == 1
    assert "match alerts without those labels" in capsys.readouterr().err
    assert cli.main(["silence", "add", "-c", config, 'a="b"', "--duration", "soon"]) == 2
    assert "invalid duration" in capsys.readouterr().err
    assert cli.main(["silence", "expire", "-c", config, "nope"]) == 1
    assert "no silence with id" in capsys.readouterr().err


def test_kill_switch_persists(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["remediation", "pause", "-c", config, "--by", "alice"]) == 0
    with open_store(config) as store:
        assert audit.is_paused(store)
    assert cli.main(["remediation", "resume", "-c", config]) == 0
    with open_store(config) as store:
        assert not audit.is_paused(store)
    assert cli.main(["actions", "list", "-c", config]) == 0
    assert "POLICY" in capsys.readouterr().out
