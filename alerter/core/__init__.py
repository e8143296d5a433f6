"""The vocabulary every layer shares: series and alerts (``model``), the alert lifecycle state
machine (``alerts``), errors that carry a file, line and fix (``errors``) and durations.

Nothing here does I/O or imports another part of alerter.
"""
