"""Builds the remediation runner from ``alerter.yaml``: the one place config models meet remediate.

Called by the composition root (``app.py``) at start-up and on reload. Config models are
validated at the edge already; what they cannot express (a route weight is a percentage here)
is checked when converting, with the policy's name in the message.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from alerter.config.engine import AppConfig, RemediationConfig
from alerter.config.engine import Policy as PolicyConfig
from alerter.remediate.actions import ActionSpec, ConfigMapSpec, RouteSpec, ScaleSpec
from alerter.remediate.audit import AuditLog, Database
from alerter.remediate.kubernetes import KubeActuator, Timeouts, connect
from alerter.remediate.lease import LeaseLock
from alerter.remediate.policy import Limits, Mode, Switches
from alerter.remediate.runner import Leader, Policy, Runner


def action_from_config(policy: PolicyConfig) -> ActionSpec:
    """The action of one policy entry; ValueError names the policy when it cannot be done."""
    try:
        if policy.scale is not None:
            s = policy.scale
            return ScaleSpec(deployment=s.deployment, step=s.step, factor=s.factor, min_replicas=s.min_replicas,
                             max_replicas=s.max_replicas)  # fmt: skip
        if policy.route is not None:
            r = policy.route
            return RouteSpec(httproute=r.httproute, backend=r.backend, rule=r.rule, weight=r.weight)
        if policy.configmap is not None:
            c = policy.configmap
            return ConfigMapSpec(configmap=c.configmap, key=c.key, value=c.value, restart=c.restart)
    except ValueError as exc:
        raise ValueError(f"policy {policy.name!r}: {exc}") from exc
    raise ValueError(f"policy {policy.name!r} has no action (give scale, route or configmap)")


def policy_from_config(policy: PolicyConfig) -> Policy:
    limits = Limits(
        name=policy.name,
        mode=Mode(policy.mode),
        min_firing=policy.min_firing,
        cooldown=policy.cooldown,
        max_actions=policy.max_actions.count,
        per=policy.max_actions.per,
        verify_within=policy.verify.within,
        after_ineffective=policy.circuit_breaker.after_ineffective,
        revert_on_resolve=policy.revert_on_resolve,
        approval_expiry=policy.approval_expiry,
        chain_gap=policy.budget.chain_gap,
        max_per_chain=policy.budget.max_per_chain,
        max_per_day=policy.budget.max_per_day,
    )
    return Policy(limits, action_from_config(policy))


def switches_from_config(remediation: RemediationConfig) -> Switches:
    return Switches(
        paused=remediation.paused,
        max_concurrent=remediation.max_concurrent,
        allow=tuple(remediation.allow_namespaces),
    )


def timeouts_from_config(remediation: RemediationConfig) -> Timeouts:
    k8s = remediation.kubernetes
    return Timeouts(connect=k8s.connect_timeout, read=k8s.read_timeout)


def build_runner(
    config: AppConfig,
    store: Database,
    *,
    identity: str,
    api_client: Any | None = None,
    lock: AbstractContextManager[Any] | None = None,
    leader: Leader | None = None,
    owns: Callable[[str, str, float], bool] | None = None,
) -> Runner:
    """A runner acting through the configured cluster, leading through the configured Lease.

    ``identity`` names this replica in the Lease (the pod name in a cluster); ``api_client``
    replaces the configured credentials (tests, or a caller that already has a client). ``lock``
    is the runner's decision lock: a process that rebuilds its runner on a reload passes the same
    one every time, so an approval still running on the old runner and the new runner's first
    tick never interleave.

    Sharing the rule groups (``cluster``), ``leader`` is this replica's membership instead of
    the remediation Lease and ``owns(rule, alert fingerprint, now)`` says which alerts it acts
    for: each replica remediates for the groups it owns (see ``Runner``).
    """
    remediation = config.remediation
    if api_client is None:
        k8s = remediation.kubernetes
        api_client = connect(in_cluster=k8s.in_cluster, kubeconfig=k8s.kubeconfig, context=k8s.context)
    timeouts = timeouts_from_config(remediation)
    if leader is None:
        leader = LeaseLock(
            api_client,
            namespace=remediation.lease.namespace,
            name=remediation.lease.name,
            identity=identity,
            duration=remediation.lease.duration,
            timeouts=timeouts,
        )
    policies = [policy_from_config(p) for p in config.policies]
    actuator = KubeActuator(api_client, timeouts=timeouts)
    switches = switches_from_config(remediation)
    return Runner(AuditLog(store), actuator, policies, switches, leader, lock=lock, owns=owns)
