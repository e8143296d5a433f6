"""Scenario tests: the runner with the real Kubernetes client against the local API server."""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from harness.postgres import StoreFactory

from alerter.core.errors import ActionError
from alerter.core.model import Alert, AlertState, Labels
from alerter.remediate import audit as audit_mod
from alerter.remediate.actions import ConfigMapSpec, RouteSpec, ScaleSpec
from alerter.remediate.audit import AuditLog
from alerter.remediate.kubernetes import KubeActuator
from alerter.remediate.lease import OPEN_ACTIONS, RECENT_ACTIONS, LeaseLock
from alerter.remediate.policy import Limits, Mode, Outcome, Switches
from alerter.remediate.runner import Event, Policy, Runner
from alerter.store.sqlite import Store
from alerter.testing.kubernetes import Call, Cluster, KubeApiServer, configmap, deployment, hpa, httproute

T0 = 1_800_000_000.0
SCALE = ScaleSpec(deployment="inference/vllm", step=2, max_replicas=16)
ROUTE = RouteSpec(httproute="inference/chat", backend="backup", weight=100)


def alert(state: AlertState = AlertState.FIRING, fired_at: float = T0 - 600, value: float = 2.0) -> Alert:
    return Alert(rule="TTFTAnomaly", group="latency", labels=Labels(model_name="llama3"), state=state,
                 fired_at=fired_at, value=value, expected=0.3, lower=0.1, upper=0.5)  # fmt: skip


def in_band(at: float = T0) -> Alert:
    return replace(alert(), value=0.3, fired_at=at)


RESOLVED = alert(AlertState.RESOLVED, value=0.3)


def limits(**changes: Any) -> Limits:
    base = Limits(name="scale-vllm", mode=Mode.AUTO, min_firing=300, cooldown=600, max_actions=3, per=3600,
                  verify_within=300, after_ineffective=2, revert_on_resolve=True)  # fmt: skip
    return replace(base, **changes)


def make_runner(api_client: Any, db_path: Path, action: Any = SCALE, *, leader: Any = None,
                switches: Switches | None = None, **limit_changes: Any) -> Runner:  # fmt: skip
    db = Store(db_path, synchronous="NORMAL")
    return Runner(AuditLog(db), KubeActuator(api_client), [Policy(limits(**limit_changes), action)],
                  switches or Switches(max_concurrent=2, allow=("inference",)), leader=leader)  # fmt: skip


def decisions(events: list[Event]) -> list[str]:
    return [e.decision for e in events]


def replicas(cluster: Cluster) -> int:
    return int(cluster.get("deployments", "inference", "vllm")["spec"]["replicas"])


@pytest.fixture
def vllm(cluster: Cluster) -> Cluster:
    cluster.put("deployments", deployment("inference", "vllm", 2))
    return cluster


def test_scale_verify_and_revert_on_resolve(vllm: Cluster, api_client: Any, tmp_path: Path) -> None:
    runner = make_runner(api_client, tmp_path / "db")
    (taken,) = runner.step([(alert(), ["scale-vllm"])], T0)
    assert (taken.decision, taken.target) == ("taken", "deployment/inference/vllm")
    assert (
        taken.message is not None and "scale deployment inference/vllm 2 -> 4 replicas" in taken.message.text
    )
    assert replicas(vllm) == 4
    assert decisions(runner.step([(alert(), ["scale-vllm"])], T0 + 60)) == ["skipped"]
    assert runner.step([(alert(), ["scale-vllm"])], T0 + 120) == [], "the same refusal is recorded once"
    assert decisions(runner.step([(in_band(), ["scale-vllm"])], T0 + 180)) == ["effective"]
    (reverted,) = runner.step([(RESOLVED, ["scale-vllm"])], T0 + 900)
    assert reverted.decision == "reverted" and replicas(vllm) == 2
    assert runner.step([(RESOLVED, ["scale-vllm"])], T0 + 960) == [], "reverted once"
    assert len(vllm.calls_of("patch", "deployments/scale")) == 2
    (record,) = runner.audit.actions()
    assert record.outcome is Outcome.EFFECTIVE and record.reverted_at == T0 + 900


def test_scale_with_hpa_raises_min_replicas(vllm: Cluster, api_client: Any, tmp_path: Path) -> None:
    vllm.put("horizontalpodautoscalers", hpa("inference", "vllm", "vllm", 2, 10))
    runner = make_runner(api_client, tmp_path / "db")
    assert decisions(runner.step([(alert(), ["scale-vllm"])], T0)) == ["taken"]
    assert vllm.get("horizontalpodautoscalers", "inference", "vllm")["spec"]["minReplicas"] == 4
    assert replicas(vllm) == 2 and not vllm.calls_of("patch", "deployments/scale")
    runner.step([(RESOLVED, ["scale-vllm"])], T0 + 900)
    assert vllm.get("horizontalpodautoscalers", "inference", "vllm")["spec"]["minReplicas"] == 2


def test_route_flip_and_revert(cluster: Cluster, api_client: Any, tmp_path: Path) -> None:
    cluster.put("httproutes", httproute("inference", "chat", [("main", 100), ("backup", 0)]))
    runner = make_runner(api_client, tmp_path / "db", ROUTE)

    def weights() -> list[int]:
        refs = cluster.get("httproutes", "inference", "chat")["spec"]["rules"][0]["backendRefs"]
        return [int(r["weight"]) for r in refs]

    assert decisions(runner.step([(alert(), ["scale-vllm"])], T0)) == ["taken"]
    assert weights() == [0, 100]
    assert decisions(runner.step([(RESOLVED, ["scale-vllm"])], T0 + 600)) == ["effective", "reverted"]
    assert weights() == [100, 0]


def test_revert_leaves_a_human_change_and_says_so(vllm: Cluster, api_client: Any, tmp_path: Path) -> None:
    runner = make_runner(api_client, tmp_path / "db")
    runner.step([(alert(), ["scale-vllm"])], T0)
    vllm.put("deployments", deployment("inference", "vllm", 9))
    events = runner.step([(RESOLVED, ["scale-vllm"])], T0 + 600)
    assert decisions(events) == ["effective", "revert-skipped"]
    assert "changed since" in events[-1].reason and replicas(vllm) == 9


def test_cooldown_and_rate_limit_hold_under_a_flapping_alert(
    vllm: Cluster, api_client: Any, tmp_path: Path
) -> None:
    scale = ScaleSpec(deployment="inference/vllm", step=1, max_replicas=64)
    runner = make_runner(api_client, tmp_path / "db", scale, min_firing=0, revert_on_resolve=False)
    applied: list[float] = []
    for minute in range(0, 180):
        now = T0 + minute * 60
        firing = (minute // 2) % 2 == 0  # two minutes firing, two resolved, for three hours
        current = alert(fired_at=now - (minute % 2) * 60) if firing else RESOLVED
        events = runner.step([(current, ["scale-vllm"])], now)
        applied += [e.at for e in events if e.decision == "taken"]
    gaps = [b - a for a, b in itertools.pairwise(applied)]
    assert len(applied) >= 6 and min(gaps) >= 600, gaps
    per_hour = [sum(1 for t in applied if start <= t < start + 3600) for start in applied]
    assert max(per_hour) == 3, per_hour
    assert len(vllm.calls_of("patch", "deployments/scale")) == len(applied)


def test_circuit_breaker_trips_after_ineffective_actions(
    vllm: Cluster, api_client: Any, tmp_path: Path
) -> None:
    runner = make_runner(api_client, tmp_path / "db", cooldown=0, max_actions=100)
    seen: list[str] = []
    for minute in range(0, 60):
        seen += decisions(runner.step([(alert(), ["scale-vllm"])], T0 + minute * 60))
    assert seen.count("taken") == 2 and seen.count("ineffective") == 2
    assert replicas(vllm) == 6
    last = runner.audit.events(limit=1)[0]
    assert last["gate"] == "circuit_breaker" and "circuit breaker open" in last["reason"]
    runner.reset_breaker("deployment/inference/vllm", "alice", T0 + 3600)
    assert "taken" in decisions(runner.step([(alert(), ["scale-vllm"])], T0 + 3660))


def test_kill_switch_from_cli_and_from_config(vllm: Cluster, api_client: Any, tmp_path: Path) -> None:
    runner = make_runner(api_client, tmp_path / "db")
    db = Store(tmp_path / "db")
    audit_mod.pause(db, T0 - 1, "alice")
    assert audit_mod.is_paused(db)
    (skipped,) = runner.step([(alert(), ["scale-vllm"])], T0)
    assert skipped.decision == "skipped" and "kill switch" in skipped.reason
    assert skipped.message is not None and "kill switch" in skipped.message.text
    assert not vllm.calls_of("patch", "deployments/scale")
    audit_mod.resume(db, T0 + 1, "alice")
    assert decisions(runner.step([(alert(), ["scale-vllm"])], T0 + 60)) == ["taken"]
    paused = make_runner(api_client, tmp_path / "other", switches=Switches(paused=True, allow=("inference",)))
    assert "kill switch" in paused.step([(alert(), ["scale-vllm"])], T0 + 120)[0].reason


def test_opt_out_annotation_keeps_hands_off(cluster: Cluster, api_client: Any, tmp_path: Path) -> None:
    cluster.put("deployments", deployment("inference", "vllm", 2, {"alerter.io/remediation": "disabled"}))
    runner = make_runner(api_client, tmp_path / "db")
    (skipped,) = runner.step([(alert(), ["scale-vllm"])], T0)
    assert skipped.gate == "opt_out" and "opted out" in skipped.reason
    assert not cluster.calls_of("patch", "deployments/scale")


def test_two_replicas_one_lease_exactly_one_action(vllm: Cluster, api_client: Any, tmp_path: Path) -> None:
    def lease(identity: str) -> LeaseLock:
        return LeaseLock(api_client, namespace="alerter", name="alerter", identity=identity, duration=15)

    a = make_runner(api_client, tmp_path / "a", leader=lease("pod-a"))
    b = make_runner(api_client, tmp_path / "b", leader=lease("pod-b"))
    taken = []
    for tick in range(10):
        now = T0 + tick * 10
        for runner in (a, b) if tick % 2 else (b, a):
            taken += [e for e in runner.step([(alert(), ["scale-vllm"])], now) if e.decision == "taken"]
    assert len(taken) == 1
    assert len(vllm.calls_of("patch", "deployments/scale")) == 1
    assert replicas(vllm) == 4


def test_forbidden_gives_an_audit_entry_and_a_message(vllm: Cluster, api_client: Any, tmp_path: Path) -> None:
    vllm.forbidden.add(("deployments/scale", "patch"))
    runner = make_runner(api_client, tmp_path / "db")
    (failed,) = runner.step([(alert(), ["scale-vllm"])], T0)
    assert failed.decision == "failed" and failed.gate == "forbidden"
    assert (
        failed.message is not None
        and "forbidden" in failed.message.text
        and "not retrying" in failed.message.text
    )
    (record,) = runner.audit.actions()
    assert record.outcome is Outcome.FAILED and 'cannot patch resource "deployments/scale"' in record.reason
    assert replicas(vllm) == 2


def test_plan_failure_is_recorded_not_raised(cluster: Cluster, api_client: Any, tmp_path: Path) -> None:
    runner = make_runner(api_client, tmp_path / "db")
    (failed,) = runner.step([(alert(), ["scale-vllm"])], T0)
    assert failed.decision == "failed" and "not found" in failed.reason


def test_dry_run_records_and_changes_nothing(vllm: Cluster, api_client: Any, tmp_path: Path) -> None:
    runner = make_runner(api_client, tmp_path / "db", mode=Mode.DRY_RUN)
    (would,) = runner.step([(alert(), ["scale-vllm"])], T0)
    assert would.decision == "would-act" and would.message is not None
    assert "Dry run (scale-vllm): would scale deployment inference/vllm 2 -> 4" in would.message.text
    (paced,) = runner.step([(alert(), ["scale-vllm"])], T0 + 60)
    assert paced.decision == "skipped" and paced.gate == "cooldown"
    assert paced.message is None, "pacing after its own proposal is audited, not posted to the thread"
    assert not vllm.calls_of("patch", "deployments/scale") and replicas(vllm) == 2
    another = replace(alert(), labels=Labels(model_name="llama3-70b"))
    (other,) = runner.step([(another, ["scale-vllm"])], T0 + 61)
    assert other.gate == "cooldown" and other.message is not None, "another alert is told why nothing happens"


def test_approve_mode_waits_for_a_human(vllm: Cluster, api_client: Any, tmp_path: Path) -> None:
    runner = make_runner(api_client, tmp_path / "db", mode=Mode.APPROVE, approval_expiry=900)
    (proposed,) = runner.step([(alert(), ["scale-vllm"])], T0)
    assert proposed.decision == "pending-approval" and proposed.message is not None
    assert proposed.message.buttons and proposed.message.action_id == proposed.action_id
    runner.step([(alert(), ["scale-vllm"])], T0 + 60)
    assert not vllm.calls_of("patch", "deployments/scale")
    assert proposed.action_id is not None
    assert decisions(runner.approve(proposed.action_id, "alice", T0 + 120)) == ["approved", "taken"]
    assert replicas(vllm) == 4
    with pytest.raises(ActionError, match="not awaiting approval"):
        runner.approve(proposed.action_id, "bob", T0 + 130)


def test_rejected_and_expired_approvals_do_nothing(vllm: Cluster, api_client: Any, tmp_path: Path) -> None:
    runner = make_runner(api_client, tmp_path / "db", mode=Mode.APPROVE, approval_expiry=900, cooldown=0)
    (first,) = runner.step([(alert(), ["scale-vllm"])], T0)
    assert first.action_id is not None
    assert decisions(runner.reject(first.action_id, "alice", T0 + 10)) == ["rejected"]
    (second,) = runner.step([(alert(), ["scale-vllm"])], T0 + 20)
    assert second.decision == "pending-approval" and second.action_id is not None
    assert decisions(runner.approve(second.action_id, "bob", T0 + 20 + 900)) == ["expired"]
    assert not vllm.calls_of("patch", "deployments/scale")
    with pytest.raises(ActionError, match="no remediation action 999"):
        runner.reject(999, "alice", T0)


def episode(runner: Runner, fired_at: float, lasts: float = 600.0) -> list[Event]:
    """One firing episode of the alert: a pass while it fires, one once it has resolved."""
    firing = alert(fired_at=fired_at)
    events = runner.step([(firing, ["scale-vllm"])], fired_at)
    resolved = replace(firing, state=AlertState.RESOLVED, resolved_at=fired_at + lasts, value=0.3)
    return events + runner.step([(resolved, ["scale-vllm"])], fired_at + lasts)


def test_a_spent_chain_budget_asks_a_human_and_a_quiet_hour_refills_it(
    vllm: Cluster, api_client: Any, tmp_path: Path
) -> None:
    runner = make_runner(api_client, tmp_path / "db", min_firing=0, revert_on_resolve=False, max_per_chain=2,
                         max_per_day=10)  # fmt: skip
    assert decisions(episode(runner, T0)) == ["taken", "effective"]
    assert decisions(episode(runner, T0 + 1800)) == ["taken", "effective"]
    asked, _ = episode(runner, T0 + 3600)  # 20 minutes after the last resolution: the same incident
    assert (asked.decision, asked.gate) == ("pending-approval", "chain_budget")
    why = "auto-remediation paused: 2 actions already taken in this incident chain (since 08:00 UTC); approve to continue"
    assert asked.message is not None and asked.message.buttons
    assert asked.message.text == (f"A{why[1:]}. Proposed (scale-vllm): scale deployment inference/vllm 6 -> 8 "
                                  "replicas. Approve within 1h.")  # fmt: skip
    (logged,) = [e for e in runner.audit.events() if e["decision"] == "pending-approval"]
    assert (logged["gate"], logged["reason"]) == (
        "chain_budget", f"{why} (proposed: scale deployment inference/vllm 6 -> 8 replicas)")  # fmt: skip
    (record,) = runner.audit.actions(limit=1)
    assert replicas(vllm) == 6 and record.outcome is Outcome.EXPIRED, "resolved before anyone approved"
    assert [e.fired_at for e in runner.audit.episodes(alert().fingerprint)] == [T0 + 3600, T0 + 1800, T0]

    firing = alert(fired_at=T0 + 5400)
    (asked,) = runner.step([(firing, ["scale-vllm"])], T0 + 5400)
    assert asked.action_id is not None and asked.gate == "chain_budget"
    pending = runner.audit.get(asked.action_id)
    assert pending is not None and pending.reason.startswith(
        "auto-remediation paused: 2 actions already taken"
    )
    assert decisions(runner.approve(asked.action_id, "alice", T0 + 5460)) == ["approved", "taken"]
    assert replicas(vllm) == 8, "approving continues"
    runner.step(
        [(replace(firing, state=AlertState.RESOLVED, resolved_at=T0 + 6000), ["scale-vllm"])], T0 + 6000
    )
    assert decisions(episode(runner, T0 + 7200)) == ["pending-approval", "expired"], (
        "each further action asks"
    )
    assert decisions(episode(runner, T0 + 7800 + 3600)) == ["taken", "effective"], "a new incident acts alone"
    assert replicas(vllm) == 10


def test_a_dry_run_says_once_where_auto_mode_would_ask(
    vllm: Cluster, api_client: Any, tmp_path: Path
) -> None:
    runner = make_runner(api_client, tmp_path / "db", mode=Mode.DRY_RUN, min_firing=0, max_per_chain=2)
    assert decisions(episode(runner, T0) + episode(runner, T0 + 1800)) == ["would-act", "would-act"]
    (note,) = episode(runner, T0 + 3600)
    assert (note.decision, note.gate) == ("skipped", "chain_budget")
    assert note.message is not None and not note.message.buttons
    assert "in auto mode this would need approval: 2 actions would have been taken in this incident chain" in (
        note.message.text)  # fmt: skip
    assert episode(runner, T0 + 5400) == [], "the same reason is not posted again"
    assert not vllm.calls_of("patch", "deployments/scale")


def test_min_firing_and_unknown_policy(vllm: Cluster, api_client: Any, tmp_path: Path) -> None:
    runner = make_runner(api_client, tmp_path / "db")
    events = runner.step([(alert(fired_at=T0 - 60), ["scale-vllm", "nope"])], T0)
    assert [e.reason for e in events] == [
        "alert has been firing for 1m, policy needs 5m",
        "policy 'nope' is not configured",
    ]


def test_actions_list_prints_every_action(vllm: Cluster, api_client: Any, tmp_path: Path) -> None:
    runner = make_runner(api_client, tmp_path / "db")
    runner.step([(alert(), ["scale-vllm"])], T0)
    db = Store(tmp_path / "db")
    records = audit_mod.list_actions(db)
    table = audit_mod.format_actions(records).splitlines()
    assert table[0].split()[:6] == ["ID", "CREATED", "POLICY", "TARGET", "MODE", "OUTCOME"]
    assert table[1].split()[:6] == ["1", "2027-01-15T08:00:00Z", "scale-vllm", "deployment/inference/vllm",
                                    "auto", "applied"]  # fmt: skip
    assert records[0].to_json()["change"]["desired"] == 4


def test_every_decision_is_a_structured_log_line(
    vllm: Cluster, api_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runner = make_runner(api_client, tmp_path / "db")
    with caplog.at_level(logging.INFO, logger="alerter.remediate"):
        events = runner.step([(alert(fired_at=T0 - 60), ["scale-vllm"])], T0)
        events += runner.step([(alert(), ["scale-vllm"])], T0 + 300)
    lines = [r for r in caplog.records if hasattr(r, "remediation")]
    assert [r.remediation["decision"] for r in lines] == decisions(events) == ["skipped", "taken"]
    assert lines[1].remediation["target"] == "deployment/inference/vllm"
    assert [e["decision"] for e in runner.audit.events()] == ["taken", "skipped"]


def test_a_new_leader_honours_its_predecessors_cooldown(
    vllm: Cluster, api_client: Any, tmp_path: Path
) -> None:
    def lease(identity: str) -> LeaseLock:
        return LeaseLock(api_client, namespace="alerter", name="alerter", identity=identity, duration=15)

    a = make_runner(api_client, tmp_path / "a", leader=lease("pod-a"), revert_on_resolve=False)
    b = make_runner(api_client, tmp_path / "b", leader=lease("pod-b"), revert_on_resolve=False)
    assert decisions(a.step([(alert(), ["scale-vllm"])], T0)) == ["taken"]
    assert b.step([(alert(), ["scale-vllm"])], T0 + 10) == [], "pod-a leads"
    (skipped,) = b.step([(alert(), ["scale-vllm"])], T0 + 30)  # pod-a is gone; pod-b leads now
    assert skipped.gate == "cooldown", skipped.reason
    assert decisions(b.step([(alert(), ["scale-vllm"])], T0 + 600)) == ["taken"]
    assert replicas(vllm) == 6
    shared = json.loads(vllm.get("leases", "alerter", "alerter")["metadata"]["annotations"][RECENT_ACTIONS])
    assert shared == {"deployment/inference/vllm": [T0, T0 + 600]}


def test_a_restart_outside_the_allow_list_is_refused(
    cluster: Cluster, api_client: Any, tmp_path: Path
) -> None:
    cluster.put("configmaps", configmap("inference", "router", {"model": "a"}))
    spec = ConfigMapSpec(configmap="inference/router", key="model", value="b", restart="kube-system/router")
    runner = make_runner(api_client, tmp_path / "db", spec)
    (skipped,) = runner.step([(alert(), ["scale-vllm"])], T0)
    assert skipped.gate == "allow_list" and "kube-system/router is not in" in skipped.reason
    assert not cluster.calls_of("patch", "configmaps")


def test_a_new_leader_reverts_what_its_predecessor_applied(
    cluster: Cluster, api_client: Any, tmp_path: Path
) -> None:
    cluster.put("httproutes", httproute("inference", "chat", [("main", 100), ("backup", 0)]))

    def lease(identity: str) -> LeaseLock:
        return LeaseLock(api_client, namespace="alerter", name="alerter", identity=identity, duration=15)

    def weights() -> list[int]:
        refs = cluster.get("httproutes", "inference", "chat")["spec"]["rules"][0]["backendRefs"]
        return [int(r["weight"]) for r in refs]

    a = make_runner(api_client, tmp_path / "a", ROUTE, leader=lease("pod-a"))
    b = make_runner(api_client, tmp_path / "b", ROUTE, leader=lease("pod-b"))
    assert decisions(a.step([(alert(), ["scale-vllm"])], T0)) == ["taken"]
    assert weights() == [0, 100]
    assert b.step([(alert(), ["scale-vllm"])], T0 + 10) == [], "pod-a leads"
    events = b.step([(alert(), ["scale-vllm"])], T0 + 30)  # pod-a is gone during a rolling upgrade
    assert decisions(events) == ["adopted", "skipped"]
    assert events[1].gate == "one_in_flight"
    assert decisions(b.step([(RESOLVED, ["scale-vllm"])], T0 + 600)) == ["effective", "reverted"]
    assert weights() == [100, 0]
    annotations = cluster.get("leases", "alerter", "alerter")["metadata"]["annotations"]
    assert json.loads(annotations[OPEN_ACTIONS]) == {}
    assert b.step([(RESOLVED, ["scale-vllm"])], T0 + 660) == []
    assert not a.step([(RESOLVED, ["scale-vllm"])], T0 + 670), "pod-a came back but pod-b leads"


def test_a_malformed_handover_is_ignored(vllm: Cluster, api_client: Any, tmp_path: Path) -> None:
    vllm.put("leases", {"metadata": {"namespace": "alerter", "name": "alerter",
                                     "annotations": {OPEN_ACTIONS: '{"k": {"at": "soon"}, "j": 3}'}},
                        "spec": {"holderIdentity": "gone", "leaseDurationSeconds": 15}})  # fmt: skip
    leader = LeaseLock(api_client, namespace="alerter", name="alerter", identity="pod-a", duration=15)
    runner = make_runner(api_client, tmp_path / "db", leader=leader)
    assert runner.step([(alert(), ["scale-vllm"])], T0 - 15) == [], "waits out a Lease it never saw renewed"
    assert decisions(runner.step([(alert(), ["scale-vllm"])], T0)) == ["taken"]


class Interleaved(KubeActuator):
    """The real actuator with a hook run once, at the next ``plan`` or ``apply`` (the approval's own)."""

    def __init__(self, api_client: Any, at: str) -> None:
        super().__init__(api_client)
        self.at = at
        self.hook: Callable[[], None] | None = None

    def _maybe_hook(self, where: str) -> None:
        hook = self.hook
        if hook is not None and where == self.at:
            self.hook = None
            hook()

    def plan(self, spec: Any) -> Any:
        self._maybe_hook("plan")
        return super().plan(spec)

    def apply(self, change: Any, now: float) -> Any:
        self._maybe_hook("apply")
        return super().apply(change, now)


class Contended:
    """A lock that says when a second caller has to wait for it (so a test never guesses with sleeps)."""

    def __init__(self, waiting: threading.Event) -> None:
        self._lock = threading.Lock()
        self.waiting = waiting

    def __enter__(self) -> None:
        if not self._lock.acquire(blocking=False):
            self.waiting.set()
            self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


@pytest.mark.parametrize("at", ["plan", "apply"])
def test_a_tick_between_the_approvals_calls_waits_for_it(
    vllm: Cluster, api_client: Any, tmp_path: Path, at: str
) -> None:
    """The Slack callback approves on the HTTP thread while the scheduler ticks: one action, once."""
    actuator = Interleaved(api_client, at)
    db = Store(tmp_path / "db", synchronous="NORMAL")
    runner = Runner(AuditLog(db), actuator, [Policy(limits(mode=Mode.APPROVE, approval_expiry=900), SCALE)],
                    Switches(max_concurrent=2, allow=("inference",)))  # fmt: skip
    (proposed,) = runner.step([(alert(), ["scale-vllm"])], T0)
    assert proposed.action_id is not None
    settled = threading.Event()  # the tick ran through, or it waits for the approval to finish
    runner.lock = Contended(settled)
    tick: list[Event] = []

    def scheduler_tick() -> None:
        tick.extend(runner.step([(alert(), ["scale-vllm"])], T0 + 60))
        settled.set()

    ticker = threading.Thread(target=scheduler_tick, name="remediate")

    def run_the_tick_now() -> None:
        ticker.start()
        assert settled.wait(timeout=30), "the tick neither finished nor waited"

    actuator.hook = run_the_tick_now
    approved = runner.approve(proposed.action_id, "alice", T0 + 60)
    ticker.join(timeout=30)
    assert not ticker.is_alive() and actuator.hook is None
    assert decisions(approved) == ["approved", "taken"]
    assert "taken" not in decisions(tick), "the tick must find the action taken, not take it again"
    assert len(vllm.calls_of("patch", "deployments/scale")) == 1
    assert replicas(vllm) == 4
    (record,) = runner.audit.actions()
    assert record.outcome is Outcome.APPLIED and record.verify_by == T0 + 60 + 300


def test_an_applied_change_whose_answer_was_lost_is_verified_and_reverted(
    apiserver: KubeApiServer, vllm: Cluster, api_client: Any, tmp_path: Path
) -> None:
    """The Deployment is at 4 although the client saw an error: the record must say so, not FAILED."""
    apiserver.stall("PATCH", "/apis/apps/v1/namespaces/inference/deployments/vllm/scale", served=True,
                    times=1, held=False)  # fmt: skip
    runner = make_runner(api_client, tmp_path / "db")
    (taken,) = runner.step([(alert(), ["scale-vllm"])], T0)
    assert taken.decision == "taken" and "answer was lost" in taken.reason
    assert replicas(vllm) == 4
    (record,) = runner.audit.actions()
    assert record.outcome is Outcome.APPLIED and record.verify_by == T0 + 300
    assert decisions(runner.step([(RESOLVED, ["scale-vllm"])], T0 + 600)) == ["effective", "reverted"]
    assert replicas(vllm) == 2


class Clock:
    """The runner's monotonic clock, moved by the test: how long a step has been running."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class SlowPlan(KubeActuator):
    """Planning takes ``seconds`` of the step's time, and ``meanwhile`` happens during it."""

    def __init__(self, api_client: Any, clock: Clock, seconds: float,
                 meanwhile: Callable[[], None] = lambda: None) -> None:  # fmt: skip
        super().__init__(api_client)
        self.clock, self.seconds, self.meanwhile = clock, seconds, meanwhile

    def plan(self, spec: Any) -> Any:
        change = super().plan(spec)
        self.clock.t += self.seconds
        self.meanwhile()
        return change


def leased_runner(api_client: Any, db: Path, actuator: KubeActuator, clock: Clock) -> Runner:
    leader = LeaseLock(api_client, namespace="alerter", name="alerter", identity="pod-a", duration=15)
    return Runner(AuditLog(Store(db, synchronous="NORMAL")), actuator, [Policy(limits(), SCALE)],
                  Switches(max_concurrent=2, allow=("inference",)), leader, clock=clock)  # fmt: skip


def test_a_step_past_the_renew_deadline_renews_before_it_writes(
    vllm: Cluster, api_client: Any, tmp_path: Path
) -> None:
    clock = Clock()
    runner = leased_runner(api_client, tmp_path / "db", SlowPlan(api_client, clock, 12), clock)
    assert decisions(runner.step([(alert(), ["scale-vllm"])], T0)) == ["taken"]
    assert replicas(vllm) == 4
    calls = [(c.verb, c.resource) for c in vllm.calls]
    write = calls.index(("patch", "deployments/scale"))
    assert calls[write - 2 : write] == [("get", "leases"), ("update", "leases")], "renewed, then written"


def test_a_step_that_outlasts_the_lease_writes_nothing_once_another_replica_leads(
    vllm: Cluster, api_client: Any, tmp_path: Path
) -> None:
    """Planning took 20 s; meanwhile pod-b saw the Lease unchanged for its 15 s and took it."""
    clock = Clock()
    b = LeaseLock(api_client, namespace="alerter", name="alerter", identity="pod-b", duration=15)

    def pod_b_takes_over() -> None:
        assert not b.acquire(T0 + 1)
        assert b.acquire(T0 + 17)

    runner = leased_runner(
        api_client, tmp_path / "db", SlowPlan(api_client, clock, 20, pod_b_takes_over), clock
    )
    (held,) = runner.step([(alert(), ["scale-vllm"])], T0)
    assert (held.decision, held.gate, held.message) == ("skipped", "lease", None)
    assert "held: this replica's Lease lapsed during the step" in held.reason
    assert not vllm.calls_of("patch", "deployments/scale") and replicas(vllm) == 2
    assert runner.audit.actions() == [], "nothing was done, so no action is recorded"
    assert vllm.get("leases", "alerter", "alerter")["spec"]["holderIdentity"] == "pod-b"


def test_a_revert_is_held_when_the_renewal_finds_another_leader(
    vllm: Cluster, api_client: Any, tmp_path: Path
) -> None:
    clock = Clock()
    runner = leased_runner(api_client, tmp_path / "db", KubeActuator(api_client), clock)
    assert decisions(runner.step([(alert(), ["scale-vllm"])], T0)) == ["taken"]
    renewed = False

    def slow_renewal_then_pod_b(call: Call) -> None:
        nonlocal renewed
        if call.resource == "leases" and call.verb == "update":  # the renewal that opens the step
            renewed = True
            clock.t += 20  # the API server took 20 s to answer it
        elif call.resource == "leases" and renewed:  # the renewal before the revert finds pod-b
            vllm.on_request = None
            lease = vllm.get("leases", "alerter", "alerter")
            lease["spec"]["holderIdentity"] = "pod-b"
            vllm.put("leases", lease)

    vllm.on_request = slow_renewal_then_pod_b
    events = runner.step([(RESOLVED, ["scale-vllm"])], T0 + 600)
    assert decisions(events) == ["effective", "skipped"] and events[1].gate == "lease"
    assert replicas(vllm) == 4, "not reverted by a replica that may no longer lead"
    (record,) = runner.audit.actions()
    assert record.reverted_at is None, "still to revert, by whoever leads"


# -- several replicas sharing the rule groups and one audit log ------------------------------


def shared_runner(
    api_client: Any, store: Store, mine: set[str], action: ScaleSpec = SCALE, **limit_changes: Any
) -> Runner:
    """A replica acting for the alerts whose fingerprints are in ``mine`` (its groups' alerts)."""
    return Runner(AuditLog(store), KubeActuator(api_client), [Policy(limits(**limit_changes), action)],
                  Switches(max_concurrent=2, allow=("inference",)),
                  owns=lambda rule, fingerprint, now: fingerprint in mine)  # fmt: skip


OTHER = replace(alert(), group="errors", rule="ErrorBurst", labels=Labels(model_name="llama3", code="500"))
"""An alert of another rule group, on another replica, whose policy scales the same Deployment."""


def test_two_replicas_acting_on_one_target_at_once_pass_its_cooldown_once(
    vllm: Cluster, api_client: Any, open_store: StoreFactory
) -> None:
    """b decides and scales while a is between reading the gates and recording its action:
    a reads the target's history again before recording, finds b's action, and stands down."""
    a = shared_runner(api_client, open_store(), {alert().fingerprint})
    b = shared_runner(api_client, open_store(), {OTHER.fingerprint})
    plan = a.actuator.plan
    meanwhile: list[list[Event]] = []

    def plan_while_b_acts(spec: Any) -> Any:
        if not meanwhile:
            meanwhile.append(b.step([(OTHER, ["scale-vllm"])], T0))
        return plan(spec)

    a.actuator.plan = plan_while_b_acts  # type: ignore[method-assign]
    events = a.step([(alert(), ["scale-vllm"])], T0)
    assert decisions(meanwhile[0]) == ["taken"]
    assert [(e.decision, e.gate) for e in events] == [("skipped", "one_in_flight")], "b's action is open"
    assert replicas(vllm) == 4, "scaled once, by b"
    assert len(vllm.calls_of("patch", "deployments/scale")) == 1


def test_of_two_replicas_taking_one_approval_press_exactly_one_decides_and_the_owner_applies(
    vllm: Cluster, api_client: Any, open_store: StoreFactory
) -> None:
    owner = shared_runner(
        api_client, open_store(), {alert().fingerprint}, mode=Mode.APPROVE, approval_expiry=900
    )
    other = shared_runner(api_client, open_store(), set(), mode=Mode.APPROVE, approval_expiry=900)
    (proposed,) = owner.step([(alert(), ["scale-vllm"])], T0)
    assert proposed.decision == "pending-approval" and proposed.action_id is not None
    get = other.audit.get

    def read_then_owner_is_pressed(action_id: int) -> Any:
        record = get(action_id)
        owner.reject(action_id, "bob", T0 + 60)  # the same thread's other button, on the other replica
        return record

    other.audit.get = read_then_owner_is_pressed  # type: ignore[method-assign]
    with pytest.raises(ActionError, match="decided meanwhile"):
        other.approve(proposed.action_id, "alice", T0 + 61)
    (record,) = owner.audit.actions()
    assert (record.outcome, record.decided_by) == (Outcome.REJECTED, "bob")
    assert replicas(vllm) == 2
    # A second proposal, approved on the replica that does not own the alert: it records the
    # approval; the owner applies it at its next step.
    other.audit.get = get  # type: ignore[method-assign]
    (again,) = owner.step([(alert(), ["scale-vllm"])], T0 + 900)
    assert again.decision == "pending-approval" and again.action_id is not None
    assert decisions(other.approve(again.action_id, "alice", T0 + 910)) == ["approved"]
    assert replicas(vllm) == 2 and other.step([], T0 + 915) == [], "not the owner: it does not apply"
    taken = owner.step([(alert(), ["scale-vllm"])], T0 + 915)
    assert decisions(taken) == ["taken", "skipped"], "applied; the still firing alert waits for it"
    assert replicas(vllm) == 4


def test_a_replica_leaves_the_other_replicas_actions_to_them(
    vllm: Cluster, api_client: Any, open_store: StoreFactory
) -> None:
    """Verification deadlines and approval expiries of another replica's alerts are its own:
    a replica that does not evaluate an alert must not call its action ineffective."""
    vllm.put("deployments", deployment("inference", "tgi", 2))
    tgi = ScaleSpec(deployment="inference/tgi", step=2, max_replicas=16)
    a = shared_runner(api_client, open_store(), {alert().fingerprint})
    b = shared_runner(
        api_client, open_store(), {OTHER.fingerprint}, tgi, mode=Mode.APPROVE, approval_expiry=200
    )
    assert decisions(a.step([(alert(), ["scale-vllm"])], T0)) == ["taken"]
    assert decisions(b.step([(OTHER, ["scale-vllm"])], T0 + 700)) == ["pending-approval"]
    assert b.step([], T0 + 800) == [], "a's verification is a's"
    assert decisions(a.step([], T0 + 800)) == ["ineffective"], "a's alert was not seen by its deadline"
    assert a.step([], T0 + 900) == [], "b's proposal expires on b"
    assert decisions(b.step([], T0 + 900)) == ["expired"]
    outcomes = sorted((r.target, r.outcome) for r in a.audit.actions())
    assert outcomes == [
        ("deployment/inference/tgi", Outcome.EXPIRED),
        ("deployment/inference/vllm", Outcome.INEFFECTIVE),
    ]
