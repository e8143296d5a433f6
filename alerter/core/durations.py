"""Prometheus-style durations (``30s``, ``5m``, ``1h30m``, ``21d``, ``1w``).

Used by the config loader, the detectors (whose specs come straight from rule files) and the
simulator, so it depends on nothing but the standard library.
"""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_WHOLE = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w|y))+$")
_ORDER = ["y", "w", "d", "h", "m", "s", "ms"]
MAX_SECONDS = (2**63 - 1) / 1e9
"""Prometheus keeps durations as int64 nanoseconds (about 292 years) and refuses longer ones;
so does alerter, instead of carrying a meaningless 1e23 seconds into every computation."""


def check_bounded(seconds: float, text: object) -> float:
    """``seconds`` if it is a duration Prometheus could represent; ValueError otherwise."""
    if not seconds <= MAX_SECONDS:
        raise ValueError(f"duration {text!r} is out of range (at most 292y, as in Prometheus)")
    return seconds


def parse_duration(text: str) -> float:
    """Return the duration in seconds; raise ValueError with a hint on bad input.

    Units must appear largest first and at most once each, as Prometheus requires
    (``1h30m`` is valid, ``30m1h`` is not).
    """
    text = text.strip()
    if text.startswith("-"):
        raise ValueError(f"duration must not be negative, got {text!r}")
    if not _WHOLE.match(text):
        raise ValueError(
            f"invalid duration {text!r} (use Prometheus units ms, s, m, h, d, w, y, e.g. 30s, 5m, 1h30m)"
        )
    total = 0.0
    last = -1
    for number, unit in _PART.findall(text):
        rank = _ORDER.index(unit)
        if rank <= last:
            raise ValueError(f"invalid duration {text!r} (units must be ordered largest first, each once)")
        last = rank
        total += int(number) * _UNITS[unit]
    return check_bounded(total, text)


def format_duration(seconds: float) -> str:
    """Inverse of ``parse_duration`` for whole milliseconds: 5400 -> ``1h30m``; 0 -> ``0s``."""
    if seconds <= 0:
        return "0s"
    ms = round(seconds * 1000)
    parts = []
    for unit in _ORDER:
        size = round(_UNITS[unit] * 1000)
        count, ms = divmod(ms, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
