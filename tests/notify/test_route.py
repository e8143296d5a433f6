"""Routing: Alertmanager's matching, continue, nested routes and inheritance, from real config models."""

from __future__ import annotations

from typing import Any

import pytest

from alerter.config.engine import Route as RouteConfig
from alerter.core.model import Labels
from alerter.notify.route import DEFAULT_REPEAT_INTERVAL, build

TREE: dict[str, Any] = {
    "receiver": "oncall",
    "group_by": ["alertname"],
    "group_wait": "30s",
    "routes": [
        {
            "matchers": ['severity="page"'],
            "receiver": "pager",
            "group_wait": "10s",
            "continue": True,
            "routes": [{"matchers": ['model_name=~"llama.*"'], "group_by": ["alertname", "model_name"]}],
        },
        {"matchers": ['severity=~"page|warning"'], "receiver": "am"},
        {"matchers": ['severity="info"'], "receiver": "info", "group_by": ["..."]},
    ],
}


def tree() -> Any:
    return build(RouteConfig.model_validate(TREE))


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        ({"severity": "page", "model_name": "llama3"}, ["pager", "am"]),
        ({"severity": "page", "model_name": "mistral"}, ["pager", "am"]),
        ({"severity": "warning"}, ["am"]),
        ({"severity": "info"}, ["info"]),
        ({"severity": "debug"}, ["oncall"]),
        ({}, ["oncall"]),
    ],
)
def test_alert_reaches_the_right_receivers(labels: dict[str, str], receivers: list[str]) -> None:
    assert [r.receiver for r in tree().match(labels)] == receivers


def test_children_inherit_unset_fields() -> None:
    llama = tree().match({"severity": "page", "model_name": "llama3"})[0]
    assert llama.path == "0.0.0" and llama.receiver == "pager"
    assert llama.group_wait == 10.0 and llama.repeat_interval == DEFAULT_REPEAT_INTERVAL
    assert llama.group_by == ("alertname", "model_name")
    pager = tree().match({"severity": "page", "model_name": "mistral"})[0]
    assert pager.path == "0.0" and pager.group_by == ("alertname",)


def test_group_labels_and_keys() -> None:
    labels = Labels(alertname="TTFT", model_name="llama3", pod="p1", severity="info")
    info = tree().match(labels)[0]
    assert info.group_labels(labels) == labels, "group_by ... groups by every label"
    root = tree()
    assert root.group_labels(labels) == Labels(alertname="TTFT")
    assert root.group_key(labels) == root.group_key(labels.with_(pod="p2"))
    assert root.group_key(labels) != root.group_key(labels.with_(alertname="Other"))


def test_unknown_and_missing_receivers_are_errors() -> None:
    with pytest.raises(ValueError, match=r"undefined receiver.*am, info, pager"):
        build(RouteConfig.model_validate(TREE), known_receivers=["oncall"])
    with pytest.raises(ValueError, match="no receiver"):
        build(RouteConfig.model_validate({"group_by": ["alertname"]}))
