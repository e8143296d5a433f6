"""JSON views of the engine for ``/api/v1/...``: alerts, rules and status.

Pure functions from engine state to JSON-able dicts; the server serialises them. Secrets never
appear: nothing here reads receiver or source credentials.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from alerter import __version__
from alerter.config import units
from alerter.core import codec
from alerter.core.errors import ConfigError
from alerter.core.model import Alert
from alerter.detect.explain import Numbers, RuleFacts, explain
from alerter.engine.engine import Engine
from alerter.notify.pages import Counts

ALERT_FIELDS = (
    "group",
    "rule",
    "state",
    "labels",
    "annotations",
    "active_at",
    "fired_at",
    "resolved_at",
    "last_eval",
    "value",
    "expected",
    "lower",
    "upper",
    "score",
    "fraction",
    "tier",
    "reason",
    "flapping",
)
"""The alert fields ``/api/v1/alerts`` shows, in its order: clients read these keys, so they stay."""


def alert_json(alert: Alert, facts: RuleFacts | None = None) -> dict[str, Any]:
    """One alert for ``/api/v1/alerts``: its fingerprint, then ``ALERT_FIELDS`` (``alerter.core.codec``),
    then, given its rule's ``facts``, the detector's explanation (the words Slack shows)."""
    shown = {"fingerprint": alert.fingerprint, **codec.to_plain(alert, ALERT_FIELDS)}
    if facts is not None:
        said = explain(Numbers.of(alert), facts)
        shown["explanation"] = {"headline": said.headline, "detail": said.detail}
    return shown


def alerts_json(engine: Engine, states: Sequence[str] = ()) -> dict[str, Any]:
    alerts = [a for a in engine.alerts() if not states or a.state.value in states]
    facts = {ctx.name: units.facts(ctx.rule) for plan in engine.groups.values() for ctx in plan.rules}
    return {"alerts": [alert_json(a, facts.get(a.rule)) for a in alerts]}


def rules_json(engine: Engine, pages: Mapping[tuple[str, str], Counts] | None = None) -> dict[str, Any]:
    """Every rule with its health, baseline and series; given ``pages`` ((group, rule) -> counts
    over the last ``notify.pages.WINDOW``), also how often it paged and how many of those pages
    people confirmed were not incidents, so the noisiest rules can be found and tuned."""
    health = engine.health()
    by_rule: dict[tuple[str, str], list[Alert]] = {}
    for alert in engine.alerts():
        by_rule.setdefault((alert.group, alert.rule), []).append(alert)
    groups = []
    for name, plan in engine.groups.items():
        rules = []
        for ctx in plan.rules:
            h = health.get(ctx.key)
            baseline: dict[str, Any] | None = None
            if ctx.baseline is not None and ctx.rule.baseline is not None:
                fitted_at, fit_error, fitted = engine.baselines.status(ctx.baseline.key)
                baseline = {
                    "fitted_at": fitted_at,
                    "series": fitted,
                    "last_error": fit_error,
                    "spec": dict(ctx.rule.baseline),
                }
            rules.append(
                {
                    "name": ctx.rule.alert,
                    "id": ctx.name,
                    "kind": "threshold" if ctx.baseline is None else "baseline",
                    "expr": ctx.rule.expr,
                    "health": "unknown"
                    if h is None or h.last_eval is None
                    else ("error" if h.last_error else "ok"),
                    "last_error": h.last_error if h else "",
                    "last_error_at": h.last_error_at if h else None,
                    "last_evaluation": h.last_eval if h else None,
                    "evaluation_seconds": h.duration if h else None,
                    "baseline": baseline,
                    "series": [
                        {"labels": dict(s.labels), "state": s.state.value, "tier": s.tier}
                        for s in engine.series(ctx.key)
                    ],
                    "alerts": len(by_rule.get(ctx.key, [])),
                    **({} if pages is None else _page_counts(pages.get(ctx.key, Counts()))),
                }
            )
        groups.append({"name": name, "interval": plan.interval, "rules": rules})
    return {"groups": groups}


def _page_counts(counts: Counts) -> dict[str, Any]:
    """``pages`` (episodes that fired), ``false_pages`` (confirmed), ``false_page_rate`` (None
    without pages: a rule that never paged has no rate)."""
    rate = counts.rate
    return {
        "pages": counts.pages,
        "false_pages": counts.false_pages,
        "false_page_rate": None if rate is None else round(rate, 4),
    }


def status_json(
    engine: Engine,
    *,
    config_path: str,
    started_at: float,
    reload: Mapping[str, Any],
    errors: Sequence[ConfigError],
) -> dict[str, Any]:
    return {
        "version": __version__,
        "config_path": config_path,
        "started_at": started_at,
        "groups": len(engine.groups),
        "rules": sum(len(p.rules) for p in engine.groups.values()),
        "last_reload": dict(reload),
        "config_errors": [str(e) for e in errors],
    }
