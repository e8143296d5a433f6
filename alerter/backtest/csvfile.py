"""Reading exported series for ``alerter backtest --csv``: one time column, one column per series.

The layout is what Grafana's "Download CSV" and most notebooks write: a header row, then the time
in the first column (unix seconds, unix milliseconds or an ISO 8601 date-time; UTC when no offset
is given) and one numeric column per series, named by its header. Empty cells, ``NaN`` and
``null`` are missing samples. Every problem names the file, line and column.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from alerter.core.errors import ConfigError, ConfigErrors, Location
from alerter.core.model import Labels, Series

MAX_ERRORS = 20
"""Problems reported per file before the rest are summarised (a wrong file fails on every line)."""
_MISSING = {"", "nan", "null", "none", "-"}
_MS_FROM = 1e11
"""Numbers above this are milliseconds: 1e11 seconds is the year 5138, 1e11 ms is 1973."""


def parse_time(text: str) -> float:
    """Unix seconds from seconds, milliseconds or ISO 8601 text; ValueError otherwise."""
    try:
        number = float(text)
    except ValueError:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    if not math.isfinite(number):
        raise ValueError(f"{text!r} is not a time")
    return number / 1000.0 if abs(number) >= _MS_FROM else number


def read_csv(path: str | Path) -> list[Series]:
    """The file's series, labelled ``series=<column header>``; ConfigErrors lists every problem."""
    name = str(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            header, times, columns, errors = _read(csv.reader(handle), name)
    except OSError as exc:
        raise ConfigErrors([ConfigError(Location(name), "csv", f"cannot read: {exc.strerror}")]) from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ConfigErrors([ConfigError(Location(name), "csv", f"not a CSV text file: {exc}")]) from None
    if not errors and len(times) < 2:
        errors.append(
            ConfigError(
                Location(name, 1),
                "csv",
                "expected a header row and at least two rows of samples",
                "first column the time, then one column per series, e.g. `time,ttft_p99`",
            )
        )
    if errors:
        raise ConfigErrors(errors)
    ts = np.asarray(times, dtype=np.float64)
    order = np.argsort(ts, kind="stable")
    return [
        Series(Labels(series=header[i + 1] or f"column{i + 2}"), ts[order], np.asarray(col)[order])
        for i, col in enumerate(columns)
    ]


def _read(
    rows: Iterator[list[str]], name: str
) -> tuple[list[str], list[float], list[list[float]], list[ConfigError]]:
    """Header, times, columns and problems, reading row by row (a file is never held whole)."""
    header = [h.strip() for h in next(rows, [])]
    errors: list[ConfigError] = []
    times: list[float] = []
    columns: list[list[float]] = [[] for _ in header[1:]]
    if len(header) < 2:
        return header, times, columns, errors
    for line, row in enumerate(rows, start=2):
        if len(errors) >= MAX_ERRORS:
            errors.append(ConfigError(Location(name, line), "csv", "too many problems; stopped reading"))
            break
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            errors.append(
                ConfigError(Location(name, line), "csv", f"{len(row)} cells, the header has {len(header)}")
            )
            continue
        try:
            times.append(parse_time(row[0]))
        except ValueError:
            errors.append(
                ConfigError(
                    Location(name, line, 1),
                    header[0] or "time",
                    f"cannot read time {row[0]!r}",
                    "use unix seconds, unix milliseconds or ISO 8601 such as 2026-11-01T06:00:00Z",
                )
            )
            continue
        for index, cell in enumerate(row[1:]):
            columns[index].append(_value(cell, name, line, index + 2, header[index + 1], errors))
    return header, times, columns, errors


def _value(cell: str, file: str, line: int, column: int, header: str, errors: list[ConfigError]) -> float:
    text = cell.strip()
    if text.lower() in _MISSING:
        return math.nan
    try:
        return float(text)
    except ValueError:
        errors.append(
            ConfigError(
                Location(file, line, column), header, f"not a number: {cell!r}", "leave it empty if missing"
            )
        )
        return math.nan


__all__ = ["parse_time", "read_csv"]
