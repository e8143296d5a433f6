"""The audit log on the engine's store: action rows, events, history for the gates, kill switch."""

from __future__ import annotations

import pytest
from harness.postgres import StoreFactory

from alerter.remediate import audit
from alerter.remediate.audit import (
    SCHEMA,
    SCHEMA_VERSION,
    ActionRecord,
    AuditLog,
    format_actions,
    is_paused,
    pause,
    resume,
)
from alerter.remediate.policy import Episode, Outcome
from alerter.store.sqlite import Store

T0 = 1_800_000_000.0


@pytest.fixture
def store(open_store: StoreFactory) -> Store:
    return open_store()


def record(
    at: float,
    target: str = "deployment/inference/vllm",
    outcome: Outcome = Outcome.APPLIED,
    *,
    decided_by: str = "",
    dry_run: bool = False,
) -> ActionRecord:
    return ActionRecord(
        0, at, at, "scale-vllm", target, "fp", "TTFTAnomaly", "auto", outcome, dry_run, None, "why",
        decided_by=decided_by,
    )  # fmt: skip


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


def test_schema_is_created_once_and_survives_reopening(open_store: StoreFactory) -> None:
    with open_store() as s:
        AuditLog(s).add_action(record(T0))
        assert s.schema_version("remediation") == SCHEMA_VERSION == 2
    with open_store() as s:
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


def test_history_says_which_alert_and_whether_a_human_decided(store: Store) -> None:
    log = AuditLog(store)
    log.add_action(record(T0, decided_by="auto"))
    log.add_action(record(T0 + 1, decided_by="alice"))
    log.add_action(record(T0 + 2, outcome=Outcome.WOULD_APPLY, dry_run=True))
    got = [(a.fingerprint, a.alert, a.auto) for a in log.history("deployment/inference/vllm")]
    assert got == [("fp", "TTFTAnomaly", True), ("fp", "TTFTAnomaly", False), ("fp", "TTFTAnomaly", True)]
    assert [a.dry_run for a in log.history("deployment/inference/vllm")] == [True, False, False]


def test_history_keeps_automatic_actions_that_approval_requests_pushed_out(store: Store) -> None:
    """A flapping alert's approval requests must not hide the day's actions from the daily budget."""
    log = AuditLog(store)
    for i in range(3):
        log.add_action(record(T0 + i, outcome=Outcome.EFFECTIVE, decided_by="auto"))
    for i in range(10):
        log.add_action(record(T0 + 100 + i, outcome=Outcome.EXPIRED))
    history = log.history("deployment/inference/vllm", limit=5)
    assert [a.at for a in history] == [T0 + 109, T0 + 108, T0 + 107, T0 + 106, T0 + 105, T0 + 2, T0 + 1, T0]


def test_episodes_are_kept_once_newest_first_and_pruned(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = AuditLog(store)
    log.add_episode("fp", T0, T0 + 600)
    log.add_episode("fp", T0, T0 + 600)  # the runner reports a resolved alert on every pass
    log.add_episode("fp", T0 + 1800, T0 + 2400)
    log.add_episode("other", T0 + 60, T0 + 120)
    assert log.episodes("fp") == [Episode(T0 + 1800, T0 + 2400), Episode(T0, T0 + 600)]
    monkeypatch.setattr(audit, "EPISODES_PER_ALERT", 2)
    log.add_episode("fp", T0 + 3600, T0 + 4200)
    assert [e.fired_at for e in log.episodes("fp")] == [T0 + 3600, T0 + 1800], "only the latest per alert"
    log.add_episode("fp", T0 + audit.EPISODE_RETENTION + 1000, T0 + audit.EPISODE_RETENTION + 1100)
    assert log.episodes("other") == [], "episodes older than the retention are deleted"


def test_a_version_1_log_gains_the_episodes_and_keeps_its_actions(open_store: StoreFactory) -> None:
    with open_store() as s:
        s.ensure_schema("remediation", 1, SCHEMA)
        with s.transaction() as db:
            db.execute(
                "INSERT INTO remediation_actions (created_at, updated_at, policy, target, alert, rule, mode, "
                "outcome, dry_run, reason) VALUES (?, ?, 'p', 't', 'fp', 'r', 'auto', 'effective', 0, 'why')",
                (T0, T0),
            )
    with open_store() as s:
        log = AuditLog(s)
        assert s.schema_version("remediation") == 2
        assert [r.reason for r in log.actions()] == ["why"]
        log.add_episode("fp", T0, T0 + 60)
        assert log.episodes("fp") == [Episode(T0, T0 + 60)]


def test_an_update_that_expects_an_outcome_claims_the_action_once(open_store: StoreFactory) -> None:
    """Two replicas deciding on one approval: the conditional update lets exactly one go on."""
    with open_store() as one, open_store() as two:
        action = AuditLog(one).add_action(record(T0, outcome=Outcome.PENDING_APPROVAL))
        won = AuditLog(one).update(action, T0 + 1, expect=Outcome.PENDING_APPROVAL, outcome=Outcome.APPLIED)
        lost = AuditLog(two).update(action, T0 + 2, expect=Outcome.PENDING_APPROVAL, outcome=Outcome.REJECTED)
        got = AuditLog(two).get(action)
    assert (won, lost) == (True, False)
    assert got is not None and (got.outcome, got.updated_at) == (Outcome.APPLIED, T0 + 1)
