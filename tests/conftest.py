"""Shared pytest setup: makes ``tests/harness`` importable and registers its fixtures everywhere.

With ``--import-mode=importlib`` pytest puts no test directory on ``sys.path``, so the harness
package is added here; tests import its functions as ``from harness import ...``.
"""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

pytest_plugins = ["harness.fixtures", "harness.engine_setup", "harness.postgres"]
