"""Durable state: alert state, fitted baselines, the notification outbox and log, silences,
approvals and the remediation audit, in one SQLite database (``sqlite``).
"""
