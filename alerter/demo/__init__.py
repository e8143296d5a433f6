"""``make demo``: the whole loop on one machine (``python -m alerter.demo``).

``run`` starts the simulator, a real Prometheus with backfilled history (``stack``), the Slack
and Kubernetes stand-ins of ``alerter.testing`` and the engine, then narrates an incident.
"""
