"""Table-driven tests of the remediation gates: each row is one situation and the expected verdict."""

from __future__ import annotations

from dataclasses import replace

import pytest

from alerter.core.model import Alert, AlertState, Labels
from alerter.remediate import policy
from alerter.remediate.policy import Attempt, Episode, Limits, Mode, Outcome, Situation, Switches

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


# -- budgets across episodes: a spent budget hands the next action to a human ------------------

FP = FIRING.fingerprint


def auto(ago: float, outcome: Outcome = Outcome.EFFECTIVE, *, fingerprint: str = FP, by_policy: bool = True,
         dry_run: bool = False) -> Attempt:  # fmt: skip
    return Attempt(at=NOW - ago, outcome=outcome, dry_run=dry_run, alert="x", fingerprint=fingerprint,
                   auto=by_policy)  # fmt: skip


def ended(fired_ago: float, resolved_ago: float) -> Episode:
    return Episode(fired_at=NOW - fired_ago, resolved_at=NOW - resolved_ago)


def budgeted(mode: Mode = Mode.AUTO, **changes: object) -> Situation:
    """The alert fired at 07:50 UTC; it is 08:00. Two actions per chain, four a day, 1h gaps."""
    budgets = limits(mode=mode, max_per_chain=2, max_per_day=4, chain_gap=3600.0)
    return situation(limits=budgets, **changes)


OTHER = "another-alert"
BUDGET_CASES: list[tuple[str, Situation, str, str]] = [
    ("no budgets configured", situation(history=[auto(500), auto(300)]), "", ""),
    ("one action of two used", budgeted(history=[auto(300)]), "", ""),
    (
        "two actions within the episode",
        budgeted(history=[auto(500), auto(300)]),
        "chain_budget",
        "auto-remediation paused: 2 actions already taken in this incident chain (since 07:50 UTC); "
        "approve to continue",
    ),
    (
        "episodes less than chain_gap apart are one chain",
        budgeted(history=[auto(2300), auto(4100)], episodes=[ended(2400, 1800), ended(4200, 3600)]),
        "chain_budget",
        "2 actions already taken in this incident chain (since 06:50 UTC)",
    ),
    (
        "a quiet gap of chain_gap starts a new chain",
        budgeted(history=[auto(4300), auto(4250)], episodes=[ended(4400, 4200)]),
        "",
        "",
    ),
    (
        "the alert's own actions link episodes whose end was not seen",
        budgeted(history=[auto(1800), auto(3000)]),
        "chain_budget",
        "(since 07:10 UTC)",
    ),
    (
        "actions a human approved are not automatic",
        budgeted(history=[auto(500, by_policy=False)] * 2),
        "",
        "",
    ),
    ("failed attempts changed nothing", budgeted(history=[auto(500, Outcome.FAILED)] * 2), "", ""),
    (
        "another alert's actions are its own chain",
        budgeted(history=[auto(500, fingerprint=OTHER)] * 2),
        "",
        "",
    ),
    (
        "four actions on the target in 24h",
        budgeted(history=[auto(ago, fingerprint=OTHER) for ago in (80000, 60000, 40000, 20000)]),
        "daily_budget",
        "auto-remediation paused: 4 actions already taken on inference/vllm in the last 24h "
        "(since 2027-01-14 09:46 UTC; max_per_day 4); approve to continue",
    ),
    (
        "the day slides",
        budgeted(history=[auto(ago, fingerprint=OTHER) for ago in (86400, 60000, 40000, 20000)]),
        "",
        "",
    ),
    (
        "a predecessor's actions count for the day",
        budgeted(history=[Attempt(at=NOW - ago, outcome=Outcome.ELSEWHERE) for ago in (4e4, 3e4, 2e4, 1e4)]),
        "daily_budget",
        "4 actions already taken",
    ),
    (
        "the chain is named first when both are spent",
        budgeted(history=[auto(ago) for ago in (500, 300, 20000, 30000)]),
        "chain_budget",
        "incident chain",
    ),
    (
        "approve mode asks for every action anyway",
        budgeted(Mode.APPROVE, history=[auto(500), auto(300)]),
        "",
        "",
    ),
    (
        "dry-run counts its own records",
        budgeted(Mode.DRY_RUN, history=[auto(500, Outcome.WOULD_APPLY, dry_run=True)] * 2),
        "chain_budget",
        "in auto mode this would need approval: 2 actions would have been taken in this incident chain",
    ),
    (
        "dry-run records do not spend a real budget",
        budgeted(history=[auto(500, Outcome.WOULD_APPLY, dry_run=True)] * 2),
        "",
        "",
    ),
]


@pytest.mark.parametrize(("case", "s", "gate", "reason"), BUDGET_CASES, ids=[c[0] for c in BUDGET_CASES])
def test_budgets(case: str, s: Situation, gate: str, reason: str) -> None:
    name, decision = policy.budget(s)
    assert (name, decision.allowed) == (gate, not gate), decision.reason
    assert reason in decision.reason


def test_a_chain_follows_a_flapping_alert_back_to_its_first_firing() -> None:
    # fired every 30 minutes for 10 minutes since 05:00; a quiet 1h30m before that
    flaps = [ended(ago, ago - 600) for ago in range(1800, 3 * 3600 + 1, 1800)] + [ended(17000, 16200)]
    s = budgeted(alert=replace(FIRING, fired_at=NOW), episodes=flaps)
    assert policy.chain_start(s) == NOW - 3 * 3600
    assert policy.chain_start(replace(s, limits=limits(chain_gap=1200.0))) == NOW, "a 20m gap is quiet enough"
    assert policy.chain_start(replace(s, limits=limits(chain_gap=6000.0))) == NOW - 17000
    assert policy.chain_start(replace(s, episodes=[])) == NOW, "no earlier episode: the chain is this one"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("chain_gap", 0.0, "budget.chain_gap must be > 0"),
        ("max_per_chain", 0, "budget.max_per_chain must be >= 1"),
        ("max_per_day", 0, "budget.max_per_day must be >= 1"),
    ],
)
def test_budgets_reject_bad_values(field: str, value: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Limits(name="p", **{field: value})  # type: ignore[arg-type]


def test_a_budget_of_one_says_one_action() -> None:
    s = situation(limits=limits(max_per_chain=1), history=[auto(300)])
    assert "1 action already taken in this incident chain" in policy.budget(s)[1].reason
