"""Remediation: guarded actions on Kubernetes when a firing alert's policy allows it.

``policy`` holds the pure gates, ``actions`` the pure planning of absolute targets,
``kubernetes`` the only adapter to the cluster, ``audit`` the action log and ``runner`` the
plan -> gate -> act -> audit -> verify loop the scheduler and the HTTP server drive.
"""
