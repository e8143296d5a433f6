"""The audit log on the engine's store: action rows, events, history for the gates, kill switch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alerter.remediate.audit import ActionRecord, AuditLog, format_actions, is_paused, pause, resume
from alerter.remediate.policy import Outcome
from alerter.store.sqlite import Store

T0 = 1_800_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "state.db", synchronous="NORMAL") as s:
        yield s


def record(
    at: float, target: str = "deployment/inference/vllm", outcome: Outcome = Outcome.APPLIED
) -> ActionRecord:
    return ActionRecord(
        0, at, at, "scale-vllm", target, "fp", "TTFTAnomaly", "auto", outcome, False, None, "why"
    )


def test_actions_update_and_history(store: Store) -> None:
    log = AuditLog(store)
    first = log.add_action(record(T0))
    log.add_action(record(T0 + 10, target="httproute/inference/chat"))
    log.update(first, T0 + 60, outcome=Outcome.INEFFECTIVE, reason="still out of band")
    got = log.get(first)
    assert got is not None and (got.outcome, got.updated_at, got.reason) == (Outcome.INEFFECTIVE, T0 + 60,
                                                                             "still out of band")  # fmt: skip
    (attempt,) = log.history("deployment/inference/vllm")
    assert (attempt.at, attempt.outcome) == (T0, Outcome.INEFFECTIVE)
    assert [r.target for r in log.in_flight()] == ["httproute/inference/chat"]
    assert log.get(999) is None


def test_history_is_by_count_so_an_old_breaker_stays_open(store: Store) -> None:
    log = AuditLog(store)
    for i in range(5):
        log.add_action(record(T0 - 86400 * 30 + i, outcome=Outcome.INEFFECTIVE))
    assert len(log.history("deployment/inference/vllm", limit=3)) == 3
    assert len(log.history("deployment/inference/vllm")) == 5


def test_update_refuses_unknown_fields(store: Store) -> None:
    log = AuditLog(store)
    with pytest.raises(ValueError, match=r"cannot update \['policy'\]"):
        log.update(log.add_action(record(T0)), T0, policy="other")


def test_schema_is_created_once_and_survives_reopening(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as s:
        AuditLog(s).add_action(record(T0))
        assert s.schema_version("remediation") == 1
    with Store(tmp_path / "s.db") as s:
        assert len(AuditLog(s).actions()) == 1


def test_events_and_last_event(store: Store) -> None:
    log = AuditLog(store)
    log.add_event(T0, None, "p", "t", "fp", "r", "skipped", "cooldown", "cooldown: 1m")
    log.add_event(T0 + 1, 3, "p", "t", "fp", "r", "taken", "", "scaled")
    assert log.last_event("fp", "p") == ("taken", "")
    assert log.last_event("fp", "other") is None
    assert [e["decision"] for e in log.events()] == ["taken", "skipped"]


def test_kill_switch_and_table(store: Store) -> None:
    assert not is_paused(store)
    pause(store, T0, "alice")
    assert is_paused(store)
    resume(store, T0 + 1, "alice")
    assert not is_paused(store)
    assert format_actions([]).split() == ["ID", "CREATED", "POLICY", "TARGET", "MODE", "OUTCOME", "REASON"]
