"""Lease leadership through the real client: create, renew, hold off others, take over, lose races.

Expiry follows client-go's leader election (kubernetes/kubernetes
``staging/src/k8s.io/client-go/tools/leaderelection/leaderelection.go``): a candidate measures on
its own clock how long it has not seen the record change, so each lock here gets its own ``now``.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from alerter.core.errors import ActionError
from alerter.remediate.kubernetes import Timeouts
from alerter.remediate.lease import LeaseLock
from alerter.testing.kubernetes import Call, Cluster, KubeApiServer

NOW = 1_800_000_000.0


def lock(api_client: Any, identity: str) -> LeaseLock:
    return LeaseLock(
        api_client, namespace="alerter", name="alerter-remediation", identity=identity, duration=30
    )


def spec(cluster: Cluster) -> dict[str, Any]:
    return dict(cluster.get("leases", "alerter", "alerter-remediation")["spec"])


def test_first_replica_creates_and_holds_the_lease(cluster: Cluster, api_client: Any) -> None:
    assert lock(api_client, "pod-a").acquire(NOW)
    held = spec(cluster)
    assert held["holderIdentity"] == "pod-a"
    assert held["leaseDurationSeconds"] == 30
    assert held["renewTime"] == "2027-01-15T08:00:00.000000Z"
    assert held["leaseTransitions"] == 0


def test_holder_renews_and_others_wait_until_it_expires(cluster: Cluster, api_client: Any) -> None:
    a, b = lock(api_client, "pod-a"), lock(api_client, "pod-b")
    assert a.acquire(NOW)
    assert not b.acquire(NOW + 10)
    assert a.acquire(NOW + 20)
    assert spec(cluster)["renewTime"] == "2027-01-15T08:00:20.000000Z"
    assert spec(cluster)["acquireTime"] == "2027-01-15T08:00:00.000000Z"
    assert not b.acquire(NOW + 25), "pod-b sees the renewal of +20 at +25"
    assert not b.acquire(NOW + 54), "no change seen since +25: valid until +55 by pod-b's clock"
    assert b.acquire(NOW + 55)
    held = spec(cluster)
    assert (held["holderIdentity"], held["leaseTransitions"]) == ("pod-b", 1)
    assert not a.acquire(NOW + 56), "the old holder must not steal it back"


def test_losing_the_update_race_is_a_409_and_not_leadership(cluster: Cluster, api_client: Any) -> None:
    a, b = lock(api_client, "pod-a"), lock(api_client, "pod-b")
    assert a.acquire(NOW)

    def pod_c_wins(call: Call) -> None:
        if call.verb == "update" and call.resource == "leases":
            cluster.on_request = None
            current = cluster.get("leases", "alerter", "alerter-remediation")
            current["spec"]["holderIdentity"] = "pod-c"
            cluster.put("leases", current)

    assert not b.acquire(NOW + 50)
    cluster.on_request = pod_c_wins
    assert not b.acquire(NOW + 100), "expired for pod-b, but pod-c's write came first"
    assert spec(cluster)["holderIdentity"] == "pod-c"


def test_losing_the_create_race_is_not_leadership(cluster: Cluster, api_client: Any) -> None:
    def other_creates(call: Call) -> None:
        if call.verb == "create":
            cluster.on_request = None
            cluster.put(
                "leases",
                {
                    "metadata": {"namespace": "alerter", "name": "alerter-remediation"},
                    "spec": {"holderIdentity": "pod-c", "leaseDurationSeconds": 30},
                },
            )

    cluster.on_request = other_creates
    assert not lock(api_client, "pod-a").acquire(NOW)


def test_forbidden_lease_is_an_error_not_silence(cluster: Cluster, api_client: Any) -> None:
    cluster.forbidden.add(("leases", "get"))
    with pytest.raises(ActionError) as caught:
        lock(api_client, "pod-a").acquire(NOW)
    assert caught.value.reason == "forbidden"


@pytest.mark.parametrize(
    ("duration", "identity", "message"),
    [(0, "a", "duration must be > 0"), (30, "", "identity must not be empty")],
)
def test_bad_settings_are_refused(api_client: Any, duration: float, identity: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LeaseLock(api_client, namespace="alerter", name="x", identity=identity, duration=duration)


def test_recent_actions_travel_with_the_lease(cluster: Cluster, api_client: Any) -> None:
    a, b = lock(api_client, "pod-a"), lock(api_client, "pod-b")
    assert a.acquire(NOW)
    assert a.record_action("deployment/inference/vllm", NOW + 1)
    assert a.acquire(NOW + 10), "renewing keeps the record"
    assert not b.record_action("deployment/inference/vllm", NOW + 11), "only the holder records"
    assert b.acquire(NOW + 60)
    assert b.recent_actions() == {"deployment/inference/vllm": (NOW + 1,)}
    assert b.acquire(NOW + 1 + 86400)
    assert b.recent_actions() == {}, "a day later the record has aged out"


@pytest.mark.parametrize("garbage", ["not json", "[1, 2]", '{"t": "x"}', '{"t": ["x"]}'])
def test_a_garbled_record_is_ignored(cluster: Cluster, api_client: Any, garbage: str) -> None:
    cluster.put("leases", {"metadata": {"namespace": "alerter", "name": "alerter-remediation",
                                        "annotations": {"alerter.io/recent-actions": garbage}},
                           "spec": {"holderIdentity": "pod-c", "leaseDurationSeconds": 30}})  # fmt: skip
    a = lock(api_client, "pod-a")
    assert not a.acquire(NOW - 30), "a Lease seen for the first time is waited out"
    assert a.acquire(NOW)
    assert a.recent_actions() == {}


def test_open_actions_are_handed_to_the_next_holder(cluster: Cluster, api_client: Any) -> None:
    a, b = lock(api_client, "pod-a"), lock(api_client, "pod-b")
    assert a.acquire(NOW)
    assert a.share_open("httproute/inference/chat@1.0", {"target": "httproute/inference/chat"}, NOW + 1)
    assert not b.acquire(NOW + 2)
    assert b.acquire(NOW + 60)
    assert b.open_actions() == {"httproute/inference/chat@1.0": {"target": "httproute/inference/chat"}}
    assert not a.share_open("x", None, NOW + 61), "only the holder writes"
    assert b.share_open("httproute/inference/chat@1.0", None, NOW + 62)
    assert b.acquire(NOW + 63) and b.open_actions() == {}


def test_a_hanging_api_server_fails_the_renewal_within_its_timeout(
    apiserver: KubeApiServer, api_client: Any
) -> None:
    stall = apiserver.stall(
        "GET", "/apis/coordination.k8s.io/v1/namespaces/alerter/leases/alerter-remediation"
    )
    lease = LeaseLock(api_client, namespace="alerter", name="alerter-remediation", identity="pod-a",
                      duration=30, timeouts=Timeouts(connect=1.0, read=0.2))  # fmt: skip
    raised: list[ActionError] = []

    def renew() -> None:
        try:
            lease.acquire(NOW)
        except ActionError as exc:
            raised.append(exc)

    worker = threading.Thread(target=renew, name="lease")
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "the renewal still waits for the API server"
    assert stall.arrived.is_set() and [e.reason for e in raised] == ["timeout"]


def lock_for(api_client: Any, identity: str, duration: float = 15) -> LeaseLock:
    return LeaseLock(api_client, namespace="alerter", name="alerter-remediation", identity=identity,
                     duration=duration)  # fmt: skip


def test_a_candidate_whose_clock_runs_ahead_does_not_take_a_renewed_lease(
    cluster: Cluster, api_client: Any
) -> None:
    """The leader renews every 5 s; pod-b polls 4.5 s later with a clock 11 s ahead.

    Judged by the renewTime pod-a wrote, every Lease pod-b reads is 15.5 s old and would be
    taken; judged by when pod-b saw it change (client-go's observedTime) it is never stale.
    """
    a, b = lock_for(api_client, "pod-a"), lock_for(api_client, "pod-b")
    skew = 11.0
    for tick in range(24):  # two minutes of true time
        true = NOW + tick * 5
        assert a.acquire(true), f"the healthy leader lost the Lease at +{tick * 5}s"
        assert not b.acquire(true + 4.5 + skew)
    assert spec(cluster)["holderIdentity"] == "pod-a"
    assert spec(cluster)["leaseTransitions"] == 0


def test_a_dead_leader_whose_clock_ran_ahead_is_replaced_after_one_duration(
    cluster: Cluster, api_client: Any
) -> None:
    """pod-a wrote renewTimes an hour in the future, then died: pod-b waits 15 s of its own clock."""
    a, b = lock_for(api_client, "pod-a"), lock_for(api_client, "pod-b")
    assert a.acquire(NOW + 3600)
    assert not b.acquire(NOW + 1)
    assert not b.acquire(NOW + 15.9), "not seen changing since +1: valid until +16"
    assert b.acquire(NOW + 16)
    assert spec(cluster)["holderIdentity"] == "pod-b"


def test_the_holders_lease_duration_is_what_a_candidate_waits(cluster: Cluster, api_client: Any) -> None:
    a, b = lock_for(api_client, "pod-a", duration=60), lock_for(api_client, "pod-b", duration=15)
    assert a.acquire(NOW)
    assert not b.acquire(NOW)
    assert not b.acquire(NOW + 59), "pod-a asked for 60 s in leaseDurationSeconds"
    assert b.acquire(NOW + 60)


def test_the_holder_writes_only_within_its_renew_deadline(cluster: Cluster, api_client: Any) -> None:
    a, b = lock_for(api_client, "pod-a"), lock_for(api_client, "pod-b")
    assert a.renew_deadline == 10, "two thirds of the duration, as client-go's 10 s of 15"
    assert not a.holds(NOW), "never acquired"
    assert a.acquire(NOW)
    assert a.holds(NOW + 9.9) and not a.holds(NOW + 10)
    assert a.acquire(NOW + 12) and a.holds(NOW + 21)
    assert not b.acquire(NOW + 13)
    assert b.acquire(NOW + 28) and b.holds(NOW + 28)
    assert not a.acquire(NOW + 29) and not a.holds(NOW + 29), "it saw pod-b hold the Lease"


@pytest.mark.parametrize("deadline", [0, 15, 20])
def test_a_renew_deadline_not_shorter_than_the_duration_is_refused(api_client: Any, deadline: float) -> None:
    with pytest.raises(ValueError, match="renew deadline must be > 0 and shorter than the duration 15"):
        LeaseLock(
            api_client, namespace="alerter", name="x", identity="a", duration=15, renew_deadline=deadline
        )
