"""Fixtures for notification tests: a running local Slack sink and alert factories."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from alerter.model import Alert, AlertState, Labels
from alerter.notify.slack_sink import SlackSink

TOKEN = "xoxb-test-0123456789-secret"
T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC

AlertFactory = Callable[..., Alert]


@pytest.fixture
def sink() -> Iterator[SlackSink]:
    with SlackSink(token=TOKEN, channels={"#alerts": "C0001", "#other": "C0002"}) as running:
        yield running


def _alert(
    rule: str = "TTFTAnomaly",
    state: AlertState = AlertState.FIRING,
    *,
    group: str = "llm",
    fired_at: float = T0 - 600,
    **labels: Any,
) -> Alert:
    names = {"alertname": rule, "severity": "page", "model_name": "llama3-70b", **labels}
    return Alert(
        rule=rule,
        group=group,
        labels=Labels({k: str(v) for k, v in names.items()}),
        state=state,
        active_at=fired_at - 300,
        fired_at=fired_at,
        resolved_at=T0 if state is AlertState.RESOLVED else None,
        value=0.82,
        expected=0.31,
        lower=0.22,
        upper=0.40,
        score=0.97,
        fraction=0.9,
        tier="stl",
        annotations={
            "summary": f"p99 TTFT of {names['model_name']} is 820ms (expected 310ms)",
            "runbook_url": "https://runbooks.example/ttft",
        },
    )


@pytest.fixture
def make_alert() -> AlertFactory:
    return _alert
