"""alerter: anomaly-detection alerting for LLM inference services.

Rule files are evaluated on a schedule against a Prometheus-compatible API; every series gets a
seasonal baseline; departures from the band become alerts that explain themselves in Slack, and
remediation policies may act on them. docs/architecture.md draws the layers and the data flow.
"""

__version__ = "0.1.0"
