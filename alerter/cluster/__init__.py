"""Several engine replicas sharing the rule groups: membership, ownership, the share of each.

``membership`` keeps one Kubernetes Lease per replica, ``ownership`` assigns each rule group to
one live replica by rendezvous hashing, and ``sharding`` turns both into the groups this replica
evaluates, notifies and remediates, re-read every renew period. The composition root
(``service.app``) wires it in when ``cluster.enabled`` is set; otherwise one replica owns
everything and nothing here runs.
"""
