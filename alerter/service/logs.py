"""Structured JSON logs with secrets redacted.

Configured once by the app. Every record becomes one JSON object per line with the fields given
through ``extra=``; anything that looks like a credential (Slack tokens, bearer tokens, values of
keys named like ``token`` or ``password``) is replaced before the line is written, because logs
are shipped to places with weaker access control than the secrets themselves.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

_SECRET_KEY = re.compile(r"(token|secret|password|authorization|api_key|apikey|signature)", re.IGNORECASE)
_SECRET_VALUE = re.compile(
    r"(xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+|https://hooks\.slack\.com/services/[A-Za-z0-9/]+"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]+|(?i:basic)\s+[A-Za-z0-9+/=]{8,})"
)
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
REDACTED = "[redacted]"


def redact(value: Any, key: str = "") -> Any:
    """``value`` with secrets replaced; keys named like credentials are redacted whole."""
    if key and _SECRET_KEY.search(key) and value not in (None, ""):
        return REDACTED
    if isinstance(value, str):
        return _SECRET_VALUE.sub(REDACTED, value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, extra fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                payload[name] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(redact(payload), default=str)


class ConsoleFormatter(logging.Formatter):
    """Human-readable lines for a terminal (the demo), still redacted."""

    def format(self, record: logging.LogRecord) -> str:
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
        text = f"{datetime.fromtimestamp(record.created, UTC):%H:%M:%S} {record.levelname.lower():7} {record.getMessage()}"
        if extra:
            text += " " + " ".join(f"{k}={v}" for k, v in redact(extra).items())
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return str(redact(text))


def configure(level: str = "info", fmt: str = "json") -> None:
    """Route every logger of the process to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("apscheduler", "urllib3", "matplotlib"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
