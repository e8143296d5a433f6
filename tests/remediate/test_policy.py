"""Table-driven tests of the remediation gates: each row is one situation and the expected verdict."""

from __future__ import annotations

from dataclasses import replace

import pytest

from alerter.core.model import Alert, AlertState, Labels
from alerter.remediate import policy
from alerter.remediate.policy import Attempt, Limits, Mode, Outcome, Situation, Switches

NOW = 1_800_000_000.0
FIRING = Alert(
    rule="TTFTAnomaly",
    group="latency",
    labels=Labels(model_name="llama3"),
    state=AlertState.FIRING,
    active_at=NOW - 900,
    fired_at=NOW - 600,
)


def situation(**changes: object) -> Situation:
    base = Situation(
        limits=Limits(
            name="scale-vllm",
            mode=Mode.AUTO,
            min_firing=300,
            cooldown=600,
            max_actions=3,
            per=3600,
            after_ineffective=2,
        ),
        switches=Switches(paused=False, max_concurrent=2, allow=("inference",)),
        alert=FIRING,
        namespace="inference",
        name="vllm",
        now=NOW,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def limits(**changes: object) -> Limits:
    return replace(situation().limits, **changes)  # type: ignore[arg-type]


def applied(ago: float, outcome: Outcome = Outcome.EFFECTIVE, dry_run: bool = False) -> Attempt:
    return Attempt(at=NOW - ago, outcome=outcome, dry_run=dry_run, alert="x")


CASES: list[tuple[str, Situation, bool, str]] = [
    ("all gates pass", situation(), True, "all gates passed"),
    ("kill switch", situation(switches=Switches(paused=True, allow=("inference",))), False, "kill switch"),
    ("mode off", situation(limits=limits(mode=Mode.OFF)), False, "is off"),
    ("empty allow-list denies", situation(switches=Switches(allow=())), False, "allow_namespaces is empty"),
    ("other namespace", situation(namespace="prod"), False, "not in remediation.allow_namespaces"),
    (
        "target allowed by name",
        situation(namespace="prod", name="vllm", switches=Switches(max_concurrent=2, allow=("prod/vllm",))),
        True,
        "",
    ),
    (
        "other target in namespace",
        situation(namespace="prod", name="tgi", switches=Switches(allow=("prod/vllm",))),
        False,
        "not in",
    ),
    ("opt-out annotation", situation(annotations={"alerter.io/remediation": "disabled"}), False, "opted out"),
    (
        "opt-out annotation other value",
        situation(annotations={"alerter.io/remediation": "enabled"}),
        True,
        "",
    ),
    (
        "pending alert",
        situation(alert=replace(FIRING, state=AlertState.PENDING, fired_at=None)),
        False,
        "not firing",
    ),
    ("resolved alert", situation(alert=replace(FIRING, state=AlertState.RESOLVED)), False, "not firing"),
    (
        "firing too briefly",
        situation(alert=replace(FIRING, fired_at=NOW - 60)),
        False,
        "firing for 1m, policy needs 5m",
    ),
    ("firing exactly min_firing", situation(alert=replace(FIRING, fired_at=NOW - 300)), True, ""),
    ("action in flight", situation(history=[applied(1200, Outcome.APPLIED)]), False, "is being verified"),
    (
        "approval pending",
        situation(history=[applied(1200, Outcome.PENDING_APPROVAL)]),
        False,
        "awaits approval",
    ),
    ("cooldown holds", situation(history=[applied(120)]), False, "cooldown: last action 2m ago"),
    (
        "failed action counts for cooldown",
        situation(history=[applied(120, Outcome.FAILED)]),
        False,
        "cooldown",
    ),
    ("rejected approval does not", situation(history=[applied(120, Outcome.REJECTED)]), True, ""),
    ("cooldown elapsed", situation(history=[applied(600)]), True, ""),
    (
        "rate limit",
        situation(history=[applied(3000), applied(2000), applied(1000)]),
        False,
        "rate limit: 3 actions",
    ),
    ("rate limit window slides", situation(history=[applied(3600), applied(2000), applied(1000)]), True, ""),
    (
        "breaker open",
        situation(history=[applied(3000, Outcome.INEFFECTIVE), applied(1000, Outcome.INEFFECTIVE)]),
        False,
        "circuit breaker open",
    ),
    (
        "breaker counts consecutive only",
        situation(
            history=[
                applied(9000, Outcome.INEFFECTIVE),
                applied(5000, Outcome.EFFECTIVE),
                applied(1000, Outcome.INEFFECTIVE),
            ]
        ),
        True,
        "",
    ),
    (
        "breaker reset by a human",
        situation(
            history=[
                applied(9000, Outcome.INEFFECTIVE),
                applied(8000, Outcome.INEFFECTIVE),
                applied(7000, Outcome.BREAKER_RESET),
            ]
        ),
        True,
        "",
    ),
    ("concurrency", situation(in_flight_total=2), False, "concurrency: 2 actions in flight"),
    ("dry-run ignores concurrency", situation(limits=limits(mode=Mode.DRY_RUN), in_flight_total=5), True, ""),
    (
        "dry-run records pace dry-run",
        situation(limits=limits(mode=Mode.DRY_RUN), history=[applied(60, Outcome.WOULD_APPLY, dry_run=True)]),
        False,
        "cooldown",
    ),
    (
        "dry-run records do not pace real actions",
        situation(history=[applied(60, Outcome.WOULD_APPLY, dry_run=True)]),
        True,
        "",
    ),
]


@pytest.mark.parametrize(("case", "s", "allowed", "reason"), CASES, ids=[c[0] for c in CASES])
def test_gates(case: str, s: Situation, allowed: bool, reason: str) -> None:
    decision = policy.evaluate(s)
    assert decision.allowed is allowed, decision.reason
    assert reason in decision.reason


@pytest.mark.parametrize(
    ("current", "desired", "low", "high", "allowed", "reason"),
    [
        (2, 4, 1, 16, True, "2 -> 4 within [1, 16]"),
        (16, 16, 1, 16, False, "already at 16"),
        (2, 20, 1, 16, False, "outside the bounds"),
        (2, 4, 8, 4, False, "inverted"),
    ],
)
def test_bounds(current: int, desired: int, low: int, high: int, allowed: bool, reason: str) -> None:
    decision = policy.bounds(current, desired, low, high)
    assert decision.allowed is allowed
    assert reason in decision.reason


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cooldown", -1.0, "cooldown must be >= 0"),
        ("max_actions", 0, "max_actions.count must be >= 1"),
        ("after_ineffective", 0, "after_ineffective must be >= 1"),
    ],
)
def test_limits_reject_bad_values(field: str, value: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Limits(name="p", **{field: value})  # type: ignore[arg-type]


def test_default_mode_is_dry_run() -> None:
    assert Limits(name="p").mode is Mode.DRY_RUN
