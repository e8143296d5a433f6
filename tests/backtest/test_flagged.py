"""The backtest beside production's verdicts: the pages people flagged as not an incident that
fall in the replayed range, and whether the replayed rules still page them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alerter.backtest import report
from alerter.backtest.replay import load_flagged
from alerter.config import load
from alerter.core.model import Alert, AlertState, Labels
from alerter.notify.pages import Page, Pages
from alerter.store.sqlite import Store

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
LABELS = {"alertname": "TTFTAnomaly", "model_name": "llama3-70b", "severity": "page"}


def flagged(store: Store, active_at: float, rule: str = "TTFTAnomaly", **labels: str) -> None:
    names = {**LABELS, "alertname": rule, **labels}
    alert = Alert(
        rule=rule,
        group="llm",
        labels=Labels(names),
        state=AlertState.RESOLVED,
        active_at=active_at,
        fired_at=active_at + 120,
        resolved_at=active_at + 1800,
    )
    page = Page.of(alert)
    assert page is not None
    Pages(store).judge(page, noise=True, user_id="U1", user_name="ann", at=active_at + 3600)


def replayed(active_at: float, fired: bool = True, **labels: str) -> dict[str, Any]:
    return {
        "rule": "TTFTAnomaly",
        "labels": {**LABELS, **labels},
        "active_at": active_at,
        "fired_at": active_at + 60 if fired else None,
        "resolved_at": active_at + 600,
    }


def test_each_flagged_page_in_the_range_says_whether_the_replay_still_pages_it(tmp_path: Path) -> None:
    with Store(tmp_path / "state.db") as store:
        flagged(store, T0)  # still paged: same rule and labels, fired, overlapping
        flagged(store, T0 + 7200)  # the replay only pends there: fixed
        flagged(store, T0 + 14400, model_name="m2")  # another series fires nearby: fixed
        flagged(store, T0 + 20000, rule="QueueDepthHigh")
        flagged(store, T0 + 86400 * 3)  # outside the range
        verdicts = Pages(store).false_pages()
    alerts = [replayed(T0 + 300), replayed(T0 + 7300, fired=False), replayed(T0 + 14500)]
    doc = report.flagged_json(verdicts, alerts, T0 - 3600, T0 + 86400, "state.db")
    assert [(r["rule"], r["active_at"], r["still_paged"]) for r in doc["false_pages"]] == [
        ("TTFTAnomaly", T0, True),
        ("TTFTAnomaly", T0 + 7200, False),
        ("TTFTAnomaly", T0 + 14400, False),
        ("QueueDepthHigh", T0 + 20000, False),
    ]
    assert doc["false_pages"][0]["by"] == "ann"
    assert doc["per_rule"] == {
        "QueueDepthHigh": {"flagged": 1, "still_paged": 0},
        "TTFTAnomaly": {"flagged": 3, "still_paged": 1},
    }
    assert report.flagged_lines(doc) == [
        "not an incident in production (state.db): 4 confirmed false pages in the range,"
        " 1 still paged by this replay, 3 no longer",
        "  QueueDepthHigh               1 flagged, 0 still paged",
        "  TTFTAnomaly                  3 flagged, 1 still paged",
    ]


def test_the_production_store_is_read_only_when_the_config_names_one_that_exists(tmp_path: Path) -> None:
    config = tmp_path / "alerter.yaml"
    config.write_text("prometheus: {url: http://127.0.0.1:9}\nstorage: {path: state.db}\n")
    bundle = load(str(config))
    assert bundle.config is not None
    assert load_flagged(bundle.config, str(config)) is None
    assert not (tmp_path / "state.db").exists(), "a backtest must not create the production store"
    with Store(tmp_path / "state.db") as store:
        flagged(store, T0)
    found = load_flagged(bundle.config, str(config))
    assert found is not None and found[0] == str(tmp_path / "state.db")
    assert [v.page.active_at for v in found[1]] == [T0]
