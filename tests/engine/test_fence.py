"""The fence on a tick's write path: results ready after this replica stopped owning the group
are dropped, unwritten and unsent (``Engine.tick(owned=...)``, ``scheduler.StillOwned``).

Ownership is lost *during* the evaluation: the sources below flip it, or move the clock past the
owner's deadline, from inside the query, so the order of events is fixed without threads or sleeps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from alerter.backtest.series import ArraySource, rule_bundle
from alerter.core.errors import SourceError
from alerter.core.model import Alert, AlertState, Labels, Series
from alerter.engine.baselines import Baselines
from alerter.engine.engine import Engine
from alerter.engine.scheduler import Scheduler
from alerter.store.sqlite import Store

EPOCH = 1_795_010_400.0
STEP = 60.0
RULE = {"alert": "Always", "expr": "x", "baseline": {"detector": "static", "above": 0}, "for": "5m"}


@dataclass
class Owner:
    """``engine.Owned`` whose answer the test sets; counts how often it was asked."""

    replica: str = "alerter-a"
    owns: bool = True
    asked: int = 0

    def __call__(self) -> bool:
        self.asked += 1
        return self.owns


@dataclass
class Losing:
    """A source over which ownership is lost while the query runs (``during`` is called inside it)."""

    source: ArraySource
    during: list[Callable[[], None]] = field(default_factory=list)
    armed: bool = False

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        if self.armed:
            for hook in self.during:
                hook()
        return self.source.query_range(expr, start, end, step)

    def query(self, expr: str, at: float) -> list[Series]:
        return self.source.query(expr, at)


@dataclass
class Setup:
    engine: Engine
    store: Store
    source: Losing
    sent: list[list[Alert]]
    ts: np.ndarray


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    ts = EPOCH - 3600 + STEP * np.arange(60, dtype=np.float64)
    source = Losing(ArraySource((Series(Labels(), ts, np.ones(ts.size)),)))
    store = Store(tmp_path / "state.db")
    sent: list[list[Alert]] = []

    def sink(alerts: Sequence[Alert], now: float) -> None:
        sent.append(list(alerts))

    engine = Engine(rule_bundle([RULE], STEP, tmp_path), source, store, Baselines(source, store),
                    sink=sink, now=float(ts[0]))  # fmt: skip
    yield Setup(engine, store, source, sent, ts)
    engine.close()
    store.close()


def fenced(engine: Engine, group: str = "replay") -> float:
    value = engine.metrics.registry.get_sample_value(
        "alerter_cluster_fenced_ticks_total", {"rule_group": group}
    )
    return value or 0.0


def test_a_tick_owned_throughout_is_written_and_sent_as_without_a_fence(setup: Setup) -> None:
    owner = Owner()
    results = setup.engine.tick("replay", float(setup.ts[10]), owned=owner)
    assert owner.asked == 1, "asked once, when the results were ready"
    assert [a.state for r in results for a in r.alerts] == [AlertState.PENDING]
    assert [a.state for a in setup.store.load_alerts()] == [AlertState.PENDING]
    assert [[a.state for a in batch] for batch in setup.sent] == [[AlertState.PENDING]]
    assert fenced(setup.engine) == 0


def test_ownership_lost_during_the_evaluation_drops_its_results(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    """The pending alert of the last owned tick stays as it was in the store and in memory; the
    tick that would have made it fire writes nothing, sends nothing and says so."""
    owner = Owner()
    setup.engine.tick("replay", float(setup.ts[10]), owned=owner)
    stored = {a.fingerprint: a for a in setup.store.load_alerts()}
    shown = setup.engine.alerts()
    setup.sent.clear()

    def lose() -> None:
        owner.owns = False

    setup.source.during.append(lose)
    setup.source.armed = True
    with caplog.at_level(logging.WARNING, logger="alerter.engine.engine"):
        results = setup.engine.tick("replay", float(setup.ts[20]), owned=owner)
    assert results == []
    assert {a.fingerprint: a for a in setup.store.load_alerts()} == stored, "nothing written"
    assert setup.sent == [], "nothing handed to the notifications"
    assert setup.engine.alerts() == shown, "nothing published in memory"
    assert fenced(setup.engine) == 1
    [record] = [r for r in caplog.records if "no longer owns" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert (record.__dict__["group"], record.__dict__["replica"]) == ("replay", "alerter-a")

    setup.source.armed, owner.owns = False, True
    setup.engine.tick("replay", float(setup.ts[20]), owned=owner)
    assert [a.state for a in setup.store.load_alerts()] == [AlertState.FIRING], "owned again: written"


def test_a_fenced_tick_does_not_open_the_source_down_alert(tmp_path: Path) -> None:
    """The outage a dropped tick saw is the new owner's to report, from its own queries."""

    class Down:
        def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
            raise SourceError("unreachable", "connection refused", retryable=True, query=expr)

        def query(self, expr: str, at: float) -> list[Series]:
            return self.query_range(expr, at, at, 1.0)

    store = Store(tmp_path / "state.db")
    source = Down()
    engine = Engine(rule_bundle([RULE], STEP, tmp_path), source, store, Baselines(source, store),
                    now=EPOCH)  # fmt: skip
    try:
        engine.tick("replay", EPOCH, owned=Owner(owns=False))
        assert engine.alerts() == [] and store.load_alerts() == []
        engine.tick("replay", EPOCH, owned=Owner())
        assert [a.rule for a in engine.alerts()] == ["AlerterSourceDown"], "the owner's tick opens it"
    finally:
        engine.close()
        store.close()


def test_the_scheduler_judges_ownership_by_its_clock_when_the_results_are_ready(setup: Setup) -> None:
    """The tick starts at +0 within the owner's deadline (+10); its query takes until +12 on the
    scheduler's clock, so by the write the group may belong to another replica: dropped. The
    same query answering at +9 is written."""
    clock = [EPOCH]
    deadline = EPOCH + 10

    def owns(group: str, now: float) -> bool:
        return group == "replay" and now < deadline

    scheduler = Scheduler(setup.engine, owns=owns, replica="alerter-b", clock=lambda: clock[0])
    took = [12.0]

    def slow() -> None:
        clock[0] += took[0]

    setup.source.during.append(slow)
    setup.source.armed = True
    assert scheduler.tick("replay", EPOCH), "owned when it started"
    assert setup.store.load_alerts() == [] and setup.sent == []
    assert fenced(setup.engine) == 1

    clock[0], took[0] = EPOCH, 9.0
    assert scheduler.tick("replay", EPOCH)
    assert [a.state for a in setup.store.load_alerts()] == [AlertState.PENDING]
    assert fenced(setup.engine) == 1

    clock[0] = deadline
    assert not scheduler.tick("replay", deadline), "not owned at the start: not ticked at all"
    assert fenced(setup.engine) == 1
