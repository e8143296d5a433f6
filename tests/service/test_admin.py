"""Operator commands on the state database: silences, the remediation kill switch, the
notification log."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from alerter import cli
from alerter.notify.base import Payload, PayloadKind
from alerter.notify.outbox import FAILED, SENT, Outbox
from alerter.remediate import audit
from alerter.service import admin
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


T0 = 1767225600.0  # 2026-01-01T00:00Z


def _log(config: str) -> None:
    """Four outbox rows as the pipeline and sender leave them: an opened thread, a failed
    reply, a closing message to Slack and one still waiting for another receiver."""
    with open_store(config) as store:
        outbox = Outbox(store)
        rows = [
            ("oncall", "first", Payload(PayloadKind.OPEN, {"text": "[FIRING:1] TTFTAnomaly · model=a"}), T0),
            (
                "oncall",
                "note",
                Payload(PayloadKind.REPLY, {"text": "Dry run (scale-vllm):\nnothing"}),
                T0 + 60,
            ),
            ("oncall", "resolved", Payload(PayloadKind.CLOSE, {"text": "Resolved TTFTAnomaly"}), T0 + 3000),
            ("tickets", "first", Payload(PayloadKind.OPEN, {"text": "[FIRING:1] SpendForecast"}), T0 + 3500),
        ]
        for receiver, reason, payload, created in rows:
            with store.transaction() as db:
                outbox.enqueue(db, receiver, f"{receiver}/0/g", reason, payload, created)
        first, note, closing, _ = sorted(outbox.open_entries(), key=lambda e: e.id)
        outbox.mark(first.id, SENT, now=T0 + 1)
        outbox.mark(note.id, FAILED, now=T0 + 70, error="channel_not_found")
        outbox.mark(closing.id, SENT, now=T0 + 3001)


def _namespace(config: str, **given: object) -> argparse.Namespace:
    values: dict[str, object] = {
        "config": config,
        "since": None,
        "receiver": None,
        "limit": 100,
        "json": False,
    }
    return argparse.Namespace(**{**values, **given})


def test_notifications_list_reads_the_log_oldest_first(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _log(config)
    assert cli.main(["notifications", "list", "-c", config]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["CREATED", "RECEIVER", "STATE", "KIND", "REASON", "TEXT"]
    assert [line.split()[3:6] for line in lines[1:]] == [
        ["oncall", "sent", "open"],
        ["oncall", "failed", "reply"],
        ["oncall", "sent", "close"],
        ["tickets", "pending", "open"],
    ]
    assert lines[1].startswith("2026-01-01 00:00:00 UTC") and lines[1].endswith(
        "[FIRING:1] TTFTAnomaly · model=a"
    )
    # a multi-line text stays on its row; the receiver's error is shown with it
    assert lines[2].endswith("Dry run (scale-vllm): nothing  (error: channel_not_found)")


def test_notifications_list_filters(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    _log(config)
    assert cli.main(["notifications", "list", "-c", config, "--receiver", "tickets"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "SpendForecast" in out[1]
    # --since counts back from now: at T0 + 1h, the last 10 minutes hold the closing and the ticket
    assert admin.notifications_list(_namespace(config, since="10m"), now=T0 + 3600) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[5] for line in out[1:]] == ["close", "open"]
    assert (
        admin.notifications_list(_namespace(config, since="10m", receiver="oncall", limit=5), now=T0 + 3600)
        == 0
    )
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert admin.notifications_list(_namespace(config, since="1m"), now=T0 + 3600) == 0
    assert capsys.readouterr().out.strip() == "no notifications"
    assert cli.main(["notifications", "list", "-c", config, "--limit", "2"]) == 0
    assert [line.split()[5] for line in capsys.readouterr().out.splitlines()[1:]] == ["close", "open"]


def test_notifications_list_json(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    _log(config)
    assert cli.main(["notifications", "list", "-c", config, "--json", "-r", "oncall"]) == 0
    listed = json.loads(capsys.readouterr().out)["notifications"]
    assert [(n["kind"], n["state"], n["reason"]) for n in listed] == [
        ("open", "sent", "first"),
        ("reply", "failed", "note"),
        ("close", "sent", "resolved"),
    ]
    assert listed[0]["created"] == T0 and listed[0]["doneAt"] == T0 + 1
    assert listed[1]["lastError"] == "channel_not_found"


def test_notifications_list_bad_arguments(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["notifications", "list", "-c", config, "--since", "yesterday"]) == 2
    assert "--since" in capsys.readouterr().err
    assert cli.main(["notifications", "list", "-c", config, "--limit", "0"]) == 2
    assert "--limit must be at least 1" in capsys.readouterr().err
    assert cli.main(["notifications", "list", "-c", config]) == 0
    assert capsys.readouterr().out.strip() == "no notifications"
