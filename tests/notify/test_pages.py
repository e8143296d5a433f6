"""Pages and verdicts in the store: what a tick records, what a press says, what the API counts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from alerter.core.model import Alert, AlertState
from alerter.notify.pages import Counts, Page, Pages
from alerter.store.sqlite import Store

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC, as tests/notify/conftest.py
AlertFactory = Callable[..., Alert]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "state.db") as opened:
        yield opened


def test_a_tick_records_new_and_newly_resolved_pages_only(store: Store, make_alert: AlertFactory) -> None:
    pages = Pages(store)
    firing = make_alert()
    pending = make_alert(state=AlertState.PENDING, model_name="m2")
    assert pages.record([firing, pending]) == 1  # a pending alert never paged
    assert pages.record([firing]) == 0  # the next tick: nothing changed, nothing written
    resolved = replace(firing, state=AlertState.RESOLVED, resolved_at=T0 + 60)
    assert pages.record([resolved]) == 1 and pages.record([resolved]) == 0
    page = pages.page(firing.fingerprint, T0 - 900)
    assert page == Page(
        firing.fingerprint, T0 - 900, "llm", "TTFTAnomaly", dict(firing.labels), T0 - 600, T0 + 60
    )
    assert pages.page(firing.fingerprint, T0) is None
    # Another process (a restart) reads the same rows.
    assert Pages(store).page(firing.fingerprint, T0 - 900) == page


def test_a_verdict_given_while_firing_learns_the_end_and_is_changed_once(
    store: Store, make_alert: AlertFactory
) -> None:
    pages = Pages(store)
    firing = make_alert()
    pages.record([firing])
    page = Page.of(firing)
    assert page is not None and page.resolved_at is None
    verdict, changed = pages.judge(page, noise=True, user_id="U1", user_name="ann", at=T0, series="abc")
    assert changed and verdict.noise and verdict.page.resolved_at is None and verdict.series == "abc"
    again, changed = pages.judge(page, noise=True, user_id="U2", user_name="bob", at=T0 + 5)
    assert not changed and (again.user_name, again.at) == ("ann", T0)
    pages.record([replace(firing, state=AlertState.RESOLVED, resolved_at=T0 + 60)])
    stored = pages.verdict(firing.fingerprint, T0 - 900)
    assert stored is not None and stored.page.resolved_at == T0 + 60
    undone, changed = pages.judge(page, noise=False, user_id="U2", user_name="bob", at=T0 + 90)
    assert changed and not undone.noise and undone.user_name == "bob" and undone.series == "abc"
    assert pages.false_pages() == []


def test_counts_pages_and_false_pages_per_rule_over_the_window(
    store: Store, make_alert: AlertFactory
) -> None:
    pages = Pages(store)
    alerts = [make_alert(model_name=f"m{i}", fired_at=T0 - 600 - 3600 * i) for i in range(4)]
    other = make_alert("QueueDepthHigh", group="queue")
    pages.record([*alerts, other])
    for alert in alerts[:2]:
        page = Page.of(alert)
        assert page is not None
        pages.judge(page, noise=True, user_id="U1", user_name="ann", at=T0)
    assert pages.counts(T0 - 86400, T0) == {
        ("llm", "TTFTAnomaly"): Counts(pages=4, false_pages=2),
        ("queue", "QueueDepthHigh"): Counts(pages=1),
    }
    assert pages.counts(T0 - 86400, T0)[("llm", "TTFTAnomaly")].rate == 0.5
    assert Counts().rate is None
    # The window holds the episodes that began in it: the two oldest fall out here.
    assert pages.counts(T0 - 2 * 3600, T0)[("llm", "TTFTAnomaly")] == Counts(pages=2, false_pages=2)
    assert [v.page.fingerprint for v in pages.false_pages(T0 - 2 * 3600, T0)] == [
        alerts[1].fingerprint,
        alerts[0].fingerprint,
    ]
