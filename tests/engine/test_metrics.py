"""The engine's metrics: the ``alerter_baseline`` family rendered by its owner.

``BandCollector.render`` must write the same bytes as the client library's ``generate_latest``
(prometheus_client/exposition.py: labels sorted by name, values escaped for backslash,
newline and double quote, floats through ``floatToGoString``) writes for the same samples.
"""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, generate_latest

from alerter.engine.metrics import BandCollector, EngineMetrics


def _library(bands: BandCollector) -> bytes:
    registry = CollectorRegistry()
    registry.register(bands)
    return generate_latest(registry)


AWKWARD = (
    ("job", 'say "hi"'),
    ("model_name", "llama\\3\nb"),
    ("namespace", "ünïcödé ok"),
    ("pod", "a b,c=d"),
    ("zone", 'x",bound="expected'),
)


def test_render_writes_what_the_library_writes() -> None:
    bands = BandCollector()
    bands.update(
        "g",
        "R1",
        {
            AWKWARD: (1.5, 0.25, 12345678.9),
            (("pod", "p1"),): (math.nan, -math.inf, math.inf),
            (("bound", "own"), ("alertname", "theirs")): (0.1, 0.0, 1e-9),
        },
    )
    bands.update("a", "R0", {(("pod", "p0"),): (3.0, 2.0, 4.0)})
    assert bands.render() == _library(bands)
    assert (
        b'alerter_baseline{alertname="R0",bound="expected",pod="p0",rule_group="a"} 3.0\n' in bands.render()
    )


def test_render_follows_updates_series_that_come_and_go_and_retain() -> None:
    bands = BandCollector()
    one, two, three = (("pod", "1"),), (("pod", "2"),), (("pod", "3"),)
    bands.update("g", "R", {one: (1.0, 0.0, 2.0), two: (5.0, 4.0, 6.0)})
    bands.update("g", "R", {two: (7.0, 6.0, 8.0), three: (9.0, 8.0, 10.0)})
    bands.update("h", "S", {one: (1.0, 0.0, 2.0)})
    text = bands.render()
    assert text == _library(bands)
    assert b'pod="1",rule_group="g"' not in text and b'alertname="S",bound="upper",pod="1"' in text
    assert b'alerter_baseline{alertname="R",bound="expected",pod="2",rule_group="g"} 7.0\n' in text
    bands.retain({("h", "S")})
    assert bands.render() == _library(bands)
    assert b'rule_group="g"' not in bands.render()
    bands.retain(set())
    assert (
        bands.render()
        == _library(bands)
        == (
            b"# HELP alerter_baseline Learned band of each evaluated series (expected, lower, upper).\n"
            b"# TYPE alerter_baseline gauge\n"
        )
    )


def test_exposition_holds_the_registry_and_the_bands_once() -> None:
    metrics = EngineMetrics()
    metrics.evaluations.labels("g", "R").inc()
    metrics.bands.update("g", "R", {(("pod", "p"),): (1.0, 0.5, 1.5)})
    body = metrics.exposition().decode()
    assert 'alerter_rule_evaluations_total{alertname="R",rule_group="g"} 1.0' in body
    assert body.count("# TYPE alerter_baseline gauge") == 1
    assert body.count("alerter_baseline{") == 3


def test_bands_can_be_left_out() -> None:
    metrics = EngineMetrics(export_bands=False)
    metrics.bands.update("g", "R", {(("pod", "p"),): (1.0, 0.5, 1.5)})
    body = metrics.exposition()
    assert b"alerter_baseline{" not in body and b"# TYPE alerter_baseline gauge" not in body
    assert b"alerter_config_last_reload_successful 1.0" in body
