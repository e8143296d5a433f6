"""Render simulator samples as Prometheus text, OpenMetrics history, or VictoriaMetrics import text.

Called by the live server (one instant, Prometheus text format 0.0.4, no timestamps) and by
the history writer (many instants with timestamps). History is written family by family and,
within a family, series by series in ascending time (a histogram's buckets, count and sum
together per instant, as OpenMetrics requires): the order ``promtool tsdb create-blocks-from
openmetrics`` needs, and fast to produce because each series is one join.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TextIO

import numpy as np

from alerter.sim.metrics import Family, Sample

__all__ = ["CONTENT_TYPE", "render_history", "render_instant"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + inner + "}" if inner else ""


def format_value(value: float, integer: bool) -> str:
    if integer:
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _values_as_text(sample: Sample) -> list[str]:
    if sample.integer:
        return [str(v) for v in sample.values.astype(np.int64).tolist()]
    return [format_value(v, False) for v in sample.values.tolist()]


def render_instant(families: list[Family], index: int = 0) -> str:
    """The ``/metrics`` body at instant ``index`` of the samples (Prometheus text 0.0.4)."""
    out: list[str] = []
    for family in families:
        visible = [s for s in family.samples if s.present is None or bool(s.present[index])]
        if not visible:
            continue
        type_name = f"{family.name}_total" if family.kind == "counter" else family.name
        out.append(f"# HELP {type_name} {family.help}\n# TYPE {type_name} {family.kind}\n")
        for s in visible:
            out.append(f"{s.name}{_labels(s.labels)} {format_value(float(s.values[index]), s.integer)}\n")
    return "".join(out)


def _groups(family: Family) -> list[list[Sample]]:
    """Samples that form one OpenMetrics MetricPoint: a histogram's buckets, count and sum."""
    if family.kind != "histogram":
        return [[s] for s in family.samples]
    groups: dict[tuple[tuple[str, str], ...], list[Sample]] = {}
    for sample in family.samples:
        groups.setdefault(tuple(kv for kv in sample.labels if kv[0] != "le"), []).append(sample)
    return list(groups.values())


def _history_lines(
    families: list[Family], stamps: list[str], extra: tuple[tuple[str, str], ...], openmetrics: bool
) -> Iterator[str]:
    """Lines grouped as OpenMetrics requires: per series (or histogram group), ascending in time."""
    for family in families:
        type_name = family.name if openmetrics or family.kind != "counter" else f"{family.name}_total"
        yield f"# HELP {type_name} {family.help}\n# TYPE {type_name} {family.kind}\n"
        for group in _groups(family):
            prefixes = [f"{s.name}{_labels(sorted((*s.labels, *extra)))} " for s in group]
            columns = [_values_as_text(s) for s in group]
            present = group[0].present
            keep = [True] * len(stamps) if present is None else present.tolist()
            yield "".join(
                [
                    f"{prefix}{value} {stamp}\n"
                    for stamp, ok, *values in zip(stamps, keep, *columns, strict=True)
                    if ok
                    for prefix, value in zip(prefixes, values, strict=True)
                ]
            )


def render_history(
    families: list[Family],
    times: np.ndarray[Any, Any],
    out: TextIO,
    *,
    fmt: str = "openmetrics",
    extra_labels: Mapping[str, str] | None = None,
) -> int:
    """Write all samples at ``times`` to ``out``; returns the number of samples written.

    ``fmt`` is ``openmetrics`` (timestamps in seconds, ends with ``# EOF``; for promtool) or
    ``prometheus`` (Prometheus text with millisecond timestamps; for VictoriaMetrics'
    ``/api/v1/import/prometheus``). ``extra_labels`` (e.g. job and instance) are added to every
    series, so history lines up with what a scrape of the live server would store.
    """
    if fmt not in ("openmetrics", "prometheus"):
        raise ValueError(f"unknown history format {fmt!r}; use openmetrics or prometheus")
    openmetrics = fmt == "openmetrics"
    if openmetrics:
        stamps = [format_value(t, t == int(t)) for t in times.tolist()]
    else:
        stamps = [str(round(t * 1000)) for t in times.tolist()]
    extra = tuple(sorted((extra_labels or {}).items()))
    written = 0
    for chunk in _history_lines(families, stamps, extra, openmetrics):
        out.write(chunk)
    for family in families:
        for sample in family.samples:
            written += len(times) if sample.present is None else int(sample.present.sum())
    if openmetrics:
        out.write("# EOF\n")
    return written
