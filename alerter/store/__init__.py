"""Durable state: alert state, fitted baselines, the notification outbox and log, silences,
approvals and the remediation audit, in one database: an SQLite file for one replica, PostgreSQL
for several (``db`` the seam and the SQLite engine, ``postgres`` the PostgreSQL engine,
``sqlite`` the store itself).
"""
