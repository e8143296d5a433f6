"""A Prometheus outage: rules go to error, nothing resolves, AlerterSourceDown fires, then recovery."""

from __future__ import annotations

from collections.abc import Callable

from harness import ManagedProcess, SimHistory
from harness.engine_setup import TTFT_RULE, EngineKit, incident

from alerter.core.model import AlertState
from alerter.engine.engine import SOURCE_DOWN
from alerter.source.prometheus import PrometheusSource


def test_outage_never_resolves_and_raises_the_meta_alert(
    sim_history: SimHistory,
    private_prometheus: Callable[..., ManagedProcess],
    engine_kit: Callable[..., EngineKit],
) -> None:
    server = private_prometheus()
    source = PrometheusSource(server.url, timeout=5)
    start = incident(sim_history.truth_path, "latency_regression")["start"]
    kit = engine_kit(source, TTFT_RULE.format(for_="2m", keep="2m"), now=start)
    kit.walk(start, start + 600)
    firing = {a.fingerprint: a for a in kit.engine.alerts() if a.state is AlertState.FIRING}
    assert firing

    server.stop()
    t = start + 660
    for _ in range(3):
        kit.engine.tick("latency", t)
        t += 60
    health = kit.engine.health()[("latency", "TTFTAnomaly")]
    assert health.last_error.startswith("unreachable")
    alerts = {a.fingerprint: a for a in kit.engine.alerts()}
    for fingerprint, before in firing.items():
        assert alerts[fingerprint].state is AlertState.FIRING, "an outage must never resolve an alert"
        assert alerts[fingerprint].fired_at == before.fired_at
    meta = [a for a in alerts.values() if a.rule == SOURCE_DOWN]
    assert meta and meta[0].state is AlertState.FIRING
    assert "unreachable" in meta[0].annotations["description"]
    stored = {a.fingerprint: a.state for a in kit.store.load_alerts()}
    assert stored[meta[0].fingerprint] is AlertState.FIRING

    server.start()
    kit.engine.tick("latency", t)
    health = kit.engine.health()[("latency", "TTFTAnomaly")]
    assert health.last_error == "" and health.last_error_at is not None
    meta_after = [a for a in kit.engine.alerts() if a.rule == SOURCE_DOWN]
    assert meta_after and meta_after[0].state is AlertState.RESOLVED
    assert kit.engine.metrics.source_up._value.get() == 1
