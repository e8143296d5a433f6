"""Turn a Prometheus HTTP API response body into ``Series`` values, cheaply.

Called by ``alerter.source.prometheus`` for every query. Parsing dominates the cost of a
fetch (a 14-day, 1-minute series is ~0.5 MB of JSON), so this module keeps it to one C-level
``json.loads`` with the garbage collector paused (the parse allocates hundreds of thousands of
small lists the collector would otherwise scan repeatedly) and a columnar numpy conversion.
It performs no I/O, so the wire formats are tested here without a server.
"""

from __future__ import annotations

import gc
import json
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from alerter.core.errors import SourceError
from alerter.core.model import Labels, Series

__all__ = ["LABELS", "ApiError", "LabelCache", "parse_response", "paused_gc"]

_GC_PAUSE_BYTES = 64 * 1024
"""Bodies smaller than this parse too fast for a collector pause to matter."""


class ApiError(Exception):
    """The body was a well-formed Prometheus error (``status: error``); classified by the caller."""

    def __init__(self, error_type: str, message: str) -> None:
        self.error_type = error_type
        self.message = message
        super().__init__(f"{error_type}: {message}")


@contextmanager
def paused_gc(active: bool = True) -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (no-op when inactive or already paused)."""
    was_enabled = gc.isenabled()
    if active and was_enabled:
        gc.disable()
    try:
        yield
    finally:
        if active and was_enabled:
            gc.enable()


def _malformed(detail: str, expr: str) -> SourceError:
    return SourceError(
        "malformed", f"malformed response from the metrics server: {detail}", retryable=True, query=expr
    )


def _points(pairs: Sequence[Sequence[Any]]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Columns of ``[[t, "v"], ...]``; values are strings (``"NaN"``, ``"+Inf"`` included)."""
    if not pairs:
        empty = np.empty(0, dtype=np.float64)
        return empty, empty
    times, values = zip(*pairs, strict=True)
    return np.array(times, dtype=np.float64), np.array(values, dtype=np.float64)


def _series_list(result: Any, result_type: str) -> list[Series]:
    out: list[Series] = []
    for item in result:
        labels = Labels(item["metric"])
        if result_type == "matrix":
            # Native-histogram samples ("histograms") have no float value and are skipped.
            ts, vs = _points(item.get("values") or [])
        else:
            ts, vs = _points([item["value"]])
        out.append(Series(labels, ts, vs))
    return out


_MATRIX = b'"resultType":"matrix","result":['
_METRIC = b'{"metric":'
_VALUES = b',"values":['
_STRIP = b'[]"'


class LabelCache:
    """Label sets by the raw bytes a response wrote them as, bounded.

    The same series come back at every tick, written byte for byte the same, so decoding their
    labels, sorting them and hashing the fingerprint once is enough. ``Labels`` are immutable;
    a dict's get and set are atomic, so threads parsing at once share the cache without a lock
    (two may both build a missing entry; they build equal values). When full it starts over,
    which costs one rebuild and bounds the memory whatever the label churn (pods come and go).
    """

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._by_bytes: dict[bytes, Labels] = {}

    def get(self, raw: bytes) -> Labels:
        labels = self._by_bytes.get(raw)
        if labels is None:
            if len(self._by_bytes) >= self.capacity:
                self._by_bytes = {}
            labels = Labels(json.loads(raw))
            self._by_bytes[raw] = labels
        return labels

    def __len__(self) -> int:
        return len(self._by_bytes)


LABELS = LabelCache()
"""The process's label cache: one source serves every rule, and rules share series."""


def _fast_matrix(body: bytes, labels: LabelCache = LABELS) -> list[Series] | None:
    """Parse a compact matrix body without building a Python list per point, or return None.

    Prometheus and VictoriaMetrics write ``{"metric":{...},"values":[[t,"v"],...]}`` without
    spaces. A quote inside a label value is escaped, so ``,"values":[`` and the ``]]`` that ends
    the points cannot occur inside a string: the points of a series are the bytes between
    them. All series' points are stripped to ``t,v,t,v`` and converted by one call into numpy's
    C text reader, then cut per series; label sets come from ``labels`` by their raw bytes.
    Anything unexpected (other spacing, native histograms, a count that does not add up)
    returns None and the caller takes the general path, so this can only be faster, never
    different.
    """
    head = body.find(_MATRIX, 0, 200)
    if not body.startswith(b'{"status":"success"') or head < 0:
        return None
    pos = head + len(_MATRIX)
    names: list[Labels] = []
    segments: list[bytes] = []
    counts: list[int] = []
    while body.startswith(_METRIC, pos):
        split = body.find(_VALUES, pos)
        if split < 0:
            return None
        names.append(labels.get(body[pos + len(_METRIC) : split]))
        start = split + len(_VALUES)
        if body.startswith(b"]}", start):
            counts.append(0)
            pos = start + 2
        else:
            stop = body.find(b"]]}", start)
            if stop < 0:
                return None
            segment = body[start : stop + 1]
            segments.append(segment)
            counts.append(segment.count(b"["))
            pos = stop + 3
        if body.startswith(b",", pos):
            pos += 1
    if not body.startswith(b"]", pos):
        return None
    points = _flat_points(b",".join(segments), 2 * sum(counts)) if segments else np.empty(0)
    if points is None:
        return None
    points.setflags(write=False)  # each series views its slice: frozen already, nothing to copy
    out: list[Series] = []
    offset = 0
    for name, count in zip(names, counts, strict=True):
        chunk = points[offset : offset + 2 * count]
        offset += 2 * count
        out.append(Series(name, chunk[0::2], chunk[1::2]))
    return out


def _flat_points(segments: bytes, expected: int) -> np.ndarray[Any, Any] | None:
    """``[t,"v"],[t,"v"]`` as one float array ``t,v,t,v`` of ``expected`` numbers, or None.

    ``np.fromstring`` in text mode (a separator given) is numpy's C ``strtod`` loop: measured
    here 1.5x faster than ``loadtxt`` and ``json.loads`` plus conversion, and it reads
    ``NaN``, ``+Inf`` and ``-Inf`` as Prometheus writes them. A token it cannot read (or a
    count other than ``expected``) means "not this format".
    """
    flat = segments.translate(None, _STRIP)
    if flat.count(b",") + 1 != expected:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a token it cannot read warns (older numpy); the count tells
        try:
            points = np.fromstring(flat, dtype=np.float64, sep=",")
        except ValueError:  # numpy 2 refuses what it cannot read to its end
            return None
    return points if points.size == expected else None


def parse_response(body: bytes, expr: str = "", *, fast: bool = True) -> list[Series]:
    """Series from a ``/api/v1/query`` or ``/api/v1/query_range`` body.

    Raises ``ApiError`` for a well-formed error body and ``SourceError("malformed")`` for
    anything that is not the documented JSON shape (HTML from a proxy, truncated bodies...).
    Matrices take ``_fast_matrix`` unless ``fast`` is False.
    """
    large = len(body) >= _GC_PAUSE_BYTES
    if fast:
        with paused_gc(large):
            series = _fast_matrix(body)
        if series is not None:
            return series
    with paused_gc(large):
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            preview = body[:80].decode("utf-8", "replace")
            raise _malformed(f"not JSON ({exc}); body starts with {preview!r}", expr) from None
        if not isinstance(doc, dict) or "status" not in doc:
            raise _malformed("JSON without a 'status' field", expr)
        if doc["status"] == "error":
            raise ApiError(str(doc.get("errorType", "")), str(doc.get("error", "")))
        if doc["status"] != "success":
            raise _malformed(f"unknown status {doc['status']!r}", expr)
        try:
            data = doc["data"]
            result_type = data["resultType"]
            result = data["result"]
            if result_type in ("matrix", "vector"):
                return _series_list(result, result_type)
            if result_type == "scalar":
                ts, vs = _points([result])
                return [Series(Labels(), ts, vs)]
            if result_type == "string":
                raise SourceError(
                    "bad_query", "the expression returns a string, not numbers", retryable=False, query=expr
                )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise _malformed(f"unexpected result shape ({type(exc).__name__}: {exc})", expr) from None
        raise _malformed(f"unknown resultType {result_type!r}", expr)
