"""The JSON of ``/api/v1/alerts``: the keys and their order clients have always read."""

from __future__ import annotations

import json

from harness.alerts import EVERY_FIELD

from alerter.core.model import Alert, Labels
from alerter.detect.explain import RuleFacts
from alerter.detect.units import parse
from alerter.service.api import alert_json

FIRING = EVERY_FIELD


def test_an_alert_is_shown_byte_for_byte_as_before() -> None:
    assert json.dumps(alert_json(FIRING)) == (
        '{"fingerprint": "963468fdee697a95", "group": "latency", "rule": "TTFTAnomaly", "state": "firing", '
        '"labels": {"model_name": "llama", "namespace": "inference"}, "annotations": {"summary": "slow"}, '
        '"active_at": 1795000000.0, "fired_at": 1795000180.0, "resolved_at": null, "last_eval": 1795000660.0, '
        '"value": 2.5, "expected": 0.4, "lower": 0.1, "upper": 0.9, "score": 0.97, "fraction": 0.8, '
        '"tier": "stl(1d)", "reason": "out of band", "flapping": true}'
    )


def test_a_fresh_alert_shows_missing_numbers_as_nan_for_the_server_to_null() -> None:
    shown = alert_json(Alert(rule="R", group="g", labels=Labels(s="1")))
    assert (shown["state"], shown["active_at"], shown["flapping"]) == ("inactive", None, False)
    assert shown["value"] != shown["value"]


def test_given_its_rule_an_alert_carries_its_detector_explanation() -> None:
    """The words the Slack message shows (``detect.explain``), after the fields clients read."""
    facts = RuleFacts(baseline={"detector": "auto"}, unit=parse("seconds"), window=600.0)
    shown = alert_json(FIRING, facts)
    assert list(shown)[-1] == "explanation"
    assert shown["explanation"] == {
        "headline": "2.50 s vs 0.40 s expected (band 0.10–0.90 s)",
        "detail": "15.8σ above · 80% of the last 10m out of band",
    }
