"""Stand-ins for the external servers alerter talks to, for the demo and the tests.

``slack`` (with ``slack_methods``) answers like the Slack Web API; ``kubernetes`` like the
Kubernetes API server for Deployments, their scale subresource and Leases. Each cites the real
server's behaviour it copies. Nothing in the engine imports this package.
"""
