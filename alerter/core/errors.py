"""The exception tree of alerter.

Every error says what went wrong in terms a user can act on; errors that cross an adapter
boundary also say whether retrying can help, so retry policy lives in one place (the caller's
retry loop) instead of in ad-hoc try/except blocks::

    AlerterError
    ├── ConfigError          one problem in a config or rule file, with file:line:col and field path
    │   └── ConfigErrors     many ConfigError at once (a check reports all problems, not the first)
    ├── SourceError          querying Prometheus failed: kind + retryable
    ├── DetectorError        a detector was misused (unfitted, bad parameters)
    ├── NotifyError          a receiver failed: retryable or not
    └── ActionError          a remediation action failed: retryable or not
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class AlerterError(Exception):
    """Base of every error alerter raises on purpose."""


@dataclass(frozen=True)
class Location:
    """Where in a file a problem is: 1-based line and column (0 when unknown)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column or 1}"
        return self.file


class ConfigError(AlerterError):
    """One invalid value in a config or rule file.

    Rendered as ``file:line:col: field.path: message (hint)``, the format editors and CI logs
    turn into clickable locations.
    """

    def __init__(self, location: Location, path: str, message: str, hint: str = "") -> None:
        self.location = location
        self.path = path
        self.message = message
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.location}: "
        if self.path:
            text += f"{self.path}: "
        text += self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class ConfigErrors(AlerterError):
    """All problems found in one load; a load reports every one of them, not just the first."""

    def __init__(self, errors: Iterable[ConfigError]) -> None:
        self.errors = sorted(
            errors, key=lambda e: (e.location.file, e.location.line, e.location.column, e.path)
        )
        super().__init__("\n".join(str(e) for e in self.errors))


class SourceError(AlerterError):
    """A query to the metrics source failed.

    ``kind`` is one of: ``unreachable``, ``timeout``, ``bad_query``, ``too_many_samples``,
    ``server_error``, ``malformed``, ``auth``. ``retryable`` tells the scheduler whether the next
    tick may succeed without a change of config or rule.
    """

    def __init__(self, kind: str, message: str, *, retryable: bool, query: str = "") -> None:
        self.kind = kind
        self.retryable = retryable
        self.query = query
        super().__init__(message)


class DetectorError(AlerterError):
    """A detector was given invalid parameters or used before it was fitted."""


class NotifyError(AlerterError):
    """A receiver could not take a notification; ``retryable`` decides whether the outbox retries."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(message)


class ActionError(AlerterError):
    """A remediation action failed; ``retryable`` separates conflicts from permission problems."""

    def __init__(self, message: str, *, retryable: bool, reason: str = "") -> None:
        self.retryable = retryable
        self.reason = reason
        super().__init__(message)
