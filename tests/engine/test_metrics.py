"""The engine's metrics: the ``alerter_baseline`` and ``alerter_observed`` families rendered by their owner.

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
            AWKWARD: (1.5, 0.25, 12345678.9, 7.0),
            (("pod", "p1"),): (math.nan, -math.inf, math.inf, math.nan),
            (("bound", "own"), ("alertname", "theirs")): (0.1, 0.0, 1e-9, 2e-9),
        },
    )
    bands.update("a", "R0", {(("pod", "p0"),): (3.0, 2.0, 4.0, 5.5)})
    text = bands.render()
    assert text == _library(bands)
    assert b'alerter_baseline{alertname="R0",bound="expected",pod="p0",rule_group="a"} 3.0\n' in text
    assert b'alerter_observed{alertname="R0",pod="p0",rule_group="a"} 5.5\n' in text
    # A series' own ``bound`` label is overridden in the band and left out of the observed value.
    assert b'alerter_observed{alertname="R1",rule_group="g"} 2e-09\n' in text
    assert b'alerter_observed{alertname="R1",pod="p1"' not in text  # NaN: no sample


def test_render_follows_updates_series_that_come_and_go_and_retain() -> None:
    bands = BandCollector()
    one, two, three = (("pod", "1"),), (("pod", "2"),), (("pod", "3"),)
    bands.update("g", "R", {one: (1.0, 0.0, 2.0, 1.1), two: (5.0, 4.0, 6.0, 5.1)})
    bands.update("g", "R", {two: (7.0, 6.0, 8.0, 7.1), three: (9.0, 8.0, 10.0, 9.1)})
    bands.update("h", "S", {one: (1.0, 0.0, 2.0, 1.2)})
    text = bands.render()
    assert text == _library(bands)
    assert b'pod="1",rule_group="g"' not in text and b'alertname="S",bound="upper",pod="1"' in text
    assert b'alerter_baseline{alertname="R",bound="expected",pod="2",rule_group="g"} 7.0\n' in text
    assert b'alerter_observed{alertname="R",pod="2",rule_group="g"} 7.1\n' in text
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
            b"# HELP alerter_observed Value of each evaluated series at its last evaluation, as its band judged it.\n"
            b"# TYPE alerter_observed gauge\n"
        )
    )


def test_exposition_holds_the_registry_and_the_bands_once() -> None:
    metrics = EngineMetrics()
    metrics.evaluations.labels("g", "R").inc()
    metrics.bands.update("g", "R", {(("pod", "p"),): (1.0, 0.5, 1.5, 1.25)})
    body = metrics.exposition().decode()
    assert 'alerter_rule_evaluations_total{alertname="R",rule_group="g"} 1.0' in body
    assert body.count("# TYPE alerter_baseline gauge") == 1
    assert body.count("alerter_baseline{") == 3
    assert body.count("# TYPE alerter_observed gauge") == 1
    assert 'alerter_observed{alertname="R",pod="p",rule_group="g"} 1.25\n' in body


def test_bands_can_be_left_out() -> None:
    metrics = EngineMetrics(export_bands=False)
    metrics.bands.update("g", "R", {(("pod", "p"),): (1.0, 0.5, 1.5, 1.25)})
    body = metrics.exposition()
    assert b"alerter_baseline{" not in body and b"# TYPE alerter_baseline gauge" not in body
    assert b"alerter_observed" not in body
    assert b"alerter_config_last_reload_successful 1.0" in body


def test_a_scrape_of_10000_series_formats_values_only() -> None:
    """Both families at 10,000 series: the label text is written once per series, at its first
    update, so a scrape costs formatting 40,000 floats. Measured as work, not wall time: the
    library's own formatter is called exactly four times per series per scrape."""
    import alerter.engine.metrics as module

    bands = BandCollector()
    keys = [(("model_name", f"m{i % 7}"), ("pod", f"pod-{i}")) for i in range(10_000)]
    bands.update("g", "R", {k: (1.0, 0.5, 1.5, float(i)) for i, k in enumerate(keys)})
    calls = 0
    real = module._go_float

    def counting(value: float) -> str:
        nonlocal calls
        calls += 1
        return real(value)

    module._go_float = counting
    try:
        text = bands.render()
    finally:
        module._go_float = real
    assert calls == 40_000
    assert text.count(b"\nalerter_observed{") == 10_000
    assert b'alerter_observed{alertname="R",model_name="m3",pod="pod-9999",rule_group="g"} 9999.0\n' in text
