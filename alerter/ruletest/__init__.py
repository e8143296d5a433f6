"""``alerter test``: promtool-style unit tests for rule files.

``file`` loads a test file, ``notation`` expands promtool's series notation, ``prometheus``
writes the input series as TSDB blocks for a real Prometheus (``promql_expr_test`` cases), and
``run`` steps the engine through each test's timeline and compares the alerts.
"""

from alerter.ruletest.run import EPOCH, Failure, FileReport, command, main, register, render, run_file

__all__ = ["EPOCH", "Failure", "FileReport", "command", "main", "register", "render", "run_file"]
