"""Scoring a backtest against ground truth: which incidents were caught, how late, what was noise.

``alerter backtest --truth FILE`` reads the ground-truth JSON that ``alerter sim history --truth``
writes (``alerter.sim.history.write_truth``: ``{"start", "end", "step", "seed", "models",
"incidents": [{"kind", "model", "start", "duration", "end", "magnitude", "series": [{"metric",
"labels", "selector"}]}]}``) or any file of that shape, and scores the replay's alerts against it.

Every alert that fired counts as a page (what it would notify depends on routing, which scoring
leaves out). A page belongs to an incident when it fired within ``[start - tolerance,
end + tolerance]`` and its labels fit the incident: it shares a label with one of the series the
incident disturbs and agrees on every shared label (``model_name="llama3"``), or it carries none
of the incidents' label names at all (a fleet-wide rule, matched on time alone). An alert already
firing before the incident began is not a detection of it. Per incident: caught or missed and the
detection delay (first matching page's ``fired_at`` minus the incident's ``start``); pages
matching no incident are false pages; totals per rule and overall.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alerter.config import yamlfile
from alerter.core.errors import ConfigError, ConfigErrors

DEFAULT_TOLERANCE = 600.0
"""A page up to 10 minutes before an incident's recorded start (a grid or clock offset) or after
its end (a trigger window still full of it) belongs to it."""
SHAPE = 'the file `alerter sim history --truth` writes: {"incidents": [{"kind", "model", "start", "end"}]}'
MODEL_LABELS = ("model_name", "model", "requested_model")
"""Labels naming a model, matched against an incident that lists no series."""


@dataclass(frozen=True)
class Incident:
    """One injected incident: ``kind`` on ``model`` during [start, end), disturbing ``series``."""

    index: int
    kind: str
    model: str
    start: float
    end: float
    series: tuple[Mapping[str, str], ...]

    def fits(self, labels: Mapping[str, str]) -> bool:
        """Whether an alert with ``labels`` is about this incident (see the module docstring)."""
        sets = self.series or ({k: self.model for k in MODEL_LABELS},)
        shared_any = False
        for expected in sets:
            shared = [k for k in expected if k in labels]
            if not shared:
                continue
            shared_any = True
            if all(labels[k] == expected[k] for k in shared):
                return True
        return not shared_any


@dataclass(frozen=True)
class Truth:
    """A ground-truth file: its path and incidents, in order of start."""

    path: str
    incidents: tuple[Incident, ...]


def read_truth(path: str | Path) -> Truth:
    """Load and check a ground-truth file; every problem is raised at once, at file:line:col."""
    try:
        doc = yamlfile.read(path, what="ground-truth file")
    except ConfigError as exc:
        if "top level" in exc.message:  # the reader's own hint is about alerter.yaml
            exc = ConfigError(exc.location, exc.path, exc.message, SHAPE)
        raise ConfigErrors([exc]) from None
    errors: list[ConfigError] = []

    def fail(loc: Sequence[int | str], message: str, hint: str = "") -> None:
        field = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc).replace(".[", "[")
        errors.append(ConfigError(doc.location(list(loc)), field, message, hint))

    data = doc.data
    raw = data.get("incidents") if isinstance(data, Mapping) else None
    if not isinstance(raw, list):
        fail(
            ["incidents"] if isinstance(data, Mapping) else [],
            "must be a list of incidents",
            SHAPE,
        )
        raise ConfigErrors(errors)
    incidents = []
    for i, item in enumerate(raw):
        at: list[int | str] = ["incidents", i]
        if not isinstance(item, Mapping):
            fail(at, f"must be a mapping, got {item!r}")
            continue
        kind, model = item.get("kind"), item.get("model")
        for key, value in (("kind", kind), ("model", model)):
            if not isinstance(value, str) or not value:
                fail([*at, key], f"must be a non-empty string, got {value!r}")
        start = _number(item.get("start"))
        if start is None:
            fail([*at, "start"], f"must be unix seconds, got {item.get('start')!r}")
        end = _number(item.get("end"))
        if end is None and start is not None and _number(item.get("duration")) is not None:
            end = start + float(item["duration"])
        if end is None:
            fail([*at, "end"], f"must be unix seconds (or give duration), got {item.get('end')!r}")
        elif start is not None and not end > start:
            fail([*at, "end"], f"must be after start ({start:g}), got {end:g}")
        series = _series(item.get("series", []), at, fail)
        if isinstance(kind, str) and isinstance(model, str) and start is not None and end is not None:
            incidents.append(Incident(i, kind, model, start, end, series))
    if errors:
        raise ConfigErrors(errors)
    return Truth(str(path), tuple(sorted(incidents, key=lambda x: (x.start, x.index))))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _series(raw: Any, at: list[int | str], fail: Any) -> tuple[Mapping[str, str], ...]:
    if not isinstance(raw, list):
        fail([*at, "series"], f"must be a list of {{labels: {{...}}}}, got {raw!r}")
        return ()
    out = []
    for j, entry in enumerate(raw):
        labels = entry.get("labels") if isinstance(entry, Mapping) else None
        if not isinstance(labels, Mapping) or not all(isinstance(v, str) for v in labels.values()):
            fail([*at, "series", j, "labels"], f"must map label names to strings, got {labels!r}")
            continue
        out.append({str(k): v for k, v in labels.items()})
    return tuple(out)


def _brief(alert: Mapping[str, Any]) -> dict[str, Any]:
    return {"rule": alert["rule"], "labels": alert["labels"], "fired_at": alert["fired_at"]}


def score(
    truth: Truth, alerts: Sequence[Mapping[str, Any]], start: float, end: float, tolerance: float
) -> dict[str, Any]:
    """Score a replay's alerts (``result_json(...)["alerts"]``) over [start, end] against ``truth``.

    Incidents outside the replayed range are counted as ``outside`` and not scored.
    """
    pages = sorted((a for a in alerts if a["fired_at"] is not None), key=lambda a: a["fired_at"])
    scored = [i for i in truth.incidents if i.start < end and i.end > start]
    matched: set[int] = set()
    rows: list[dict[str, Any]] = []
    caught_by: dict[str, list[float]] = {}
    for incident in scored:
        hits = [
            (n, p)
            for n, p in enumerate(pages)
            if incident.start - tolerance <= p["fired_at"] <= incident.end + tolerance
            and incident.fits(p["labels"])
        ]
        matched.update(n for n, _ in hits)
        firsts: dict[str, Mapping[str, Any]] = {}
        for _, page in hits:
            firsts.setdefault(page["rule"], page)
        for rule, page in firsts.items():
            caught_by.setdefault(rule, []).append(page["fired_at"] - incident.start)
        first = hits[0][1] if hits else None
        rows.append(
            {
                "index": incident.index,
                "kind": incident.kind,
                "model": incident.model,
                "start": incident.start,
                "end": incident.end,
                "caught": first is not None,
                "delay": None if first is None else first["fired_at"] - incident.start,
                "first_page": None if first is None else _brief(first),
                "rules": sorted(firsts),
            }
        )
    false_pages = [_brief(p) for n, p in enumerate(pages) if n not in matched]
    rules = sorted({a["rule"] for a in alerts} | set(caught_by))
    per_rule = {}
    for rule in rules:
        own = [n for n, p in enumerate(pages) if p["rule"] == rule]
        delays = caught_by.get(rule, [])
        per_rule[rule] = {
            "pages": len(own),
            "false_pages": sum(1 for n in own if n not in matched),
            "caught": len(delays),
            "median_delay": statistics.median(delays) if delays else None,
        }
    found = [float(r["delay"]) for r in rows if r["delay"] is not None]
    return {
        "file": truth.path,
        "tolerance": tolerance,
        "incidents": rows,
        "false_pages": false_pages,
        "per_rule": per_rule,
        "totals": {
            "incidents": len(rows),
            "caught": sum(1 for r in rows if r["caught"]),
            "missed": sum(1 for r in rows if not r["caught"]),
            "outside": len(truth.incidents) - len(scored),
            "pages": len(pages),
            "false_pages": len(false_pages),
            "median_delay": statistics.median(found) if found else None,
        },
    }


__all__ = ["DEFAULT_TOLERANCE", "Incident", "Truth", "read_truth", "score"]
