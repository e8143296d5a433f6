"""Member Leases through the real client against the Kubernetes API stand-in, time passed in.

Expiry is client-go's (kubernetes/kubernetes
``staging/src/k8s.io/client-go/tools/leaderelection/leaderelection.go``): a replica measures on
its own clock how long it has not seen another's Lease change, so each replica here is given its
own ``now``.
"""

from __future__ import annotations

from typing import Any

import pytest

from alerter.cluster.membership import MEMBER_LABEL, SPLIT_ANNOTATION, Membership
from alerter.testing.kubernetes import Cluster, KubeApiServer

NOW = 1_800_000_000.0
DURATION = 15.0


def member(api_client: Any, identity: str) -> Membership:
    return Membership(api_client, namespace="alerter", identity=identity, duration=DURATION)


def test_a_member_creates_its_labelled_lease_and_renews_it(cluster: Cluster, api_client: Any) -> None:
    a = member(api_client, "alerter-0")
    assert a.renew(NOW)
    lease = cluster.get("leases", "alerter", "alerter-member-alerter-0")
    assert lease["metadata"]["labels"] == {MEMBER_LABEL: "alerter"}
    assert lease["spec"]["holderIdentity"] == "alerter-0"
    assert lease["spec"]["leaseDurationSeconds"] == 15
    assert lease["spec"]["renewTime"] == "2027-01-15T08:00:00.000000Z"
    assert a.renew(NOW + 5)
    renewed = cluster.get("leases", "alerter", "alerter-member-alerter-0")["spec"]
    assert renewed["renewTime"] == "2027-01-15T08:00:05.000000Z"
    assert renewed["acquireTime"] == "2027-01-15T08:00:00.000000Z"
    assert [c.verb for c in cluster.calls if c.resource == "leases"] == ["list", "create", "list", "update"]


def test_three_members_join_and_all_see_each_other(api_client: Any) -> None:
    replicas = [member(api_client, f"alerter-{i}") for i in range(3)]
    for i, m in enumerate(replicas):
        assert m.renew(NOW + i)
    for m in replicas:
        m.renew(NOW + 5)
    assert all(m.members(NOW + 5) == {"alerter-0", "alerter-1", "alerter-2"} for m in replicas)


def test_a_member_that_stops_renewing_is_gone_one_duration_after_its_last_change_was_seen(
    api_client: Any,
) -> None:
    a, b, c = (member(api_client, f"alerter-{i}") for i in range(3))
    for t in (0.0, 5.0):
        c.renew(NOW + t), a.renew(NOW + t), b.renew(NOW + t)
    # c stops after +5; a and b go on every 5 s, and saw c's last renewal at their reads of +5.
    for t in (10.0, 15.0):
        a.renew(NOW + t), b.renew(NOW + t)
        assert "alerter-2" in a.members(NOW + t)
    assert "alerter-2" in a.members(NOW + 19.9)
    a.renew(NOW + 20), b.renew(NOW + 20)
    assert a.members(NOW + 20) == b.members(NOW + 20) == {"alerter-0", "alerter-1"}


def test_expiry_is_judged_by_the_watchers_clock_not_the_renew_time(cluster: Cluster, api_client: Any) -> None:
    """A member whose clock runs an hour behind still counts while its Lease keeps changing."""
    a, late = member(api_client, "alerter-0"), member(api_client, "alerter-1")
    for t in range(0, 60, 5):
        late.renew(NOW - 3600 + t)
        a.renew(NOW + t)
        assert "alerter-1" in a.members(NOW + t)
    assert cluster.get("leases", "alerter", "alerter-member-alerter-1")["spec"]["renewTime"].startswith(
        "2027-01-15T07:"
    )


def test_a_replica_that_just_started_waits_a_duration_before_dropping_a_lease_it_never_saw_change(
    cluster: Cluster, api_client: Any
) -> None:
    dead = member(api_client, "alerter-9")
    dead.renew(NOW - 3600)  # renewed an hour ago, then killed
    fresh = member(api_client, "alerter-0")
    fresh.renew(NOW)
    assert fresh.members(NOW) == {"alerter-0", "alerter-9"}, "unseen change: alive for one duration"
    fresh.renew(NOW + 15)
    assert fresh.members(NOW + 15) == {"alerter-0"}


def test_a_member_that_cannot_renew_stops_counting_itself_at_its_renew_deadline(
    cluster: Cluster, api_client: Any
) -> None:
    a, b = member(api_client, "alerter-0"), member(api_client, "alerter-1")
    a.renew(NOW), b.renew(NOW)
    assert a.holds(NOW + 9.9) and "alerter-0" in a.members(NOW + 9.9)
    cluster.forbidden.add(("leases", "update"))  # partitioned: its writes fail
    assert not a.renew(NOW + 5)
    assert a.holds(NOW + 9.9), "the renewal at +0 is still within the 10 s deadline"
    assert not a.holds(NOW + 10)
    assert "alerter-0" not in a.members(NOW + 10)
    assert a.members(NOW + 10) == {"alerter-1"}, "it still sees the others as they were listed"


def test_a_member_whose_list_fails_does_not_renew(apiserver: KubeApiServer, api_client: Any) -> None:
    a = member(api_client, "alerter-0")
    a.renew(NOW)
    apiserver.cluster.forbidden.add(("leases", "list"))
    assert not a.renew(NOW + 5)
    assert not a.holds(NOW + 10)


def test_leaving_hands_the_lease_back_and_the_others_drop_it_at_their_next_read(
    cluster: Cluster, api_client: Any
) -> None:
    a, b = member(api_client, "alerter-0"), member(api_client, "alerter-1")
    a.renew(NOW), b.renew(NOW)
    cluster.forbidden.add(("leases", "get"))  # the member Role grants list, watch, create, update
    b.leave(NOW + 2)
    spec = cluster.get("leases", "alerter", "alerter-member-alerter-1")["spec"]
    assert (spec.get("holderIdentity", ""), spec["leaseDurationSeconds"]) == ("", 1)
    assert not b.holds(NOW + 2)
    a.renew(NOW + 5)
    assert a.members(NOW + 5) == {"alerter-0"}
    assert b.renew(NOW + 6), "a replica that comes back takes its Lease up again"
    a.renew(NOW + 10)
    assert a.members(NOW + 10) == {"alerter-0", "alerter-1"}


def test_only_labelled_member_leases_of_this_cluster_count(cluster: Cluster, api_client: Any) -> None:
    """The stand-in ignores labelSelector, as a server might for an unknown label; the label is checked anyway."""
    renewed = {"holderIdentity": "x", "leaseDurationSeconds": 15, "renewTime": "2027-01-15T08:00:00.000000Z"}
    cluster.put("leases", {"metadata": {"name": "alerter-remediation", "namespace": "alerter"},
                           "spec": {**renewed, "holderIdentity": "alerter-5"}})  # fmt: skip
    cluster.put("leases", {"metadata": {"name": "other-member-a", "namespace": "alerter",
                                        "labels": {MEMBER_LABEL: "other"}},
                           "spec": {**renewed, "holderIdentity": "alerter-6"}})  # fmt: skip
    a = member(api_client, "alerter-0")
    a.renew(NOW)
    assert a.members(NOW) == {"alerter-0"}


def test_a_member_lease_written_by_another_process_is_not_a_renewal(
    cluster: Cluster, api_client: Any
) -> None:
    """Two processes given one replica id: the one whose write loses the race does not count itself."""
    first = member(api_client, "alerter-0")
    assert first.renew(NOW)

    def race(call: Any) -> None:
        if call.verb == "update":
            cluster.on_request = None
            # the other process renews between this one's list and its update
            cluster.put("leases", cluster.get("leases", "alerter", "alerter-member-alerter-0"))

    cluster.on_request = race
    assert not first.renew(NOW + 5)
    assert not first.holds(NOW + 5), "a conflict on its own Lease ends the membership at once"
    assert first.renew(NOW + 10), "the next round, unraced, renews again"


@pytest.mark.parametrize("identity", ["", "Alerter_0", "a" * 250])
def test_a_replica_id_that_cannot_name_a_lease_is_refused(api_client: Any, identity: str) -> None:
    with pytest.raises(ValueError, match="use the pod name"):
        member(api_client, identity)


def test_a_renew_deadline_not_shorter_than_the_duration_is_refused(api_client: Any) -> None:
    with pytest.raises(ValueError, match="shorter than the duration"):
        Membership(api_client, namespace="alerter", identity="a", duration=15, renew_deadline=15)


def test_a_member_publishes_its_split_in_its_lease_and_reads_the_others(
    cluster: Cluster, api_client: Any
) -> None:
    a, b = member(api_client, "alerter-0"), member(api_client, "alerter-1")
    a.publish("digest-a")
    assert a.renew(NOW) and b.renew(NOW)
    lease = cluster.get("leases", "alerter", "alerter-member-alerter-0")
    assert lease["metadata"]["annotations"] == {SPLIT_ANNOTATION: "digest-a"}
    assert "annotations" not in cluster.get("leases", "alerter", "alerter-member-alerter-1")["metadata"]
    assert a.renew(NOW + 5) and b.renew(NOW + 5)
    assert b.splits(NOW + 5) == {"alerter-0": "digest-a", "alerter-1": None}
    assert a.splits(NOW + 5) == {"alerter-0": "digest-a", "alerter-1": None}
    a.publish("digest-b")
    assert a.renew(NOW + 10) and b.renew(NOW + 10)
    assert b.splits(NOW + 10)["alerter-0"] == "digest-b", "a reload's new split is read at the next list"
    assert b.splits(NOW + 10 + DURATION + 1) == {}, "only live members, and itself while it holds"
