"""Secrets of receivers (Slack tokens, webhook URLs, HMAC keys) that never print themselves.

Config names where a secret lives (``*_env`` or ``*_file``, never inline); receivers load it
here and carry a ``Secret``, whose ``repr``/``str`` are masked, so a secret cannot leak through
a log line, an exception message or an HTTP API that dumps a receiver.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from alerter.core.errors import ConfigError, Location


class Secret:
    """A string that only ``reveal()`` returns; everything else sees ``********``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not value:
            raise ValueError("a secret must not be empty")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def redact(self, text: str) -> str:
        """``text`` with every occurrence of the secret masked (for third-party messages)."""
        return text.replace(self._value, "********")


def load_secret(
    what: str, *, env: str | None = None, file: str | None = None, environ: Mapping[str, str] | None = None
) -> Secret:
    """Read a secret from exactly one of an environment variable or a file (trailing newline dropped)."""
    if (env is None) == (file is None):
        raise ConfigError(Location("config"), what, "set exactly one of *_env or *_file")
    if env is not None:
        value = (os.environ if environ is None else environ).get(env, "").strip()
        if not value:
            raise ConfigError(
                Location("environment"), what, f"environment variable {env} is not set or empty", "export it"
            )
        return Secret(value)
    assert file is not None
    try:
        value = Path(file).read_text().strip()
    except OSError as err:
        raise ConfigError(Location(file), what, f"cannot read secret file: {err.strerror}") from None
    if not value:
        raise ConfigError(Location(file), what, "secret file is empty")
    return Secret(value)
