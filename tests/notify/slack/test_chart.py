"""The alert chart: a valid PNG, the onset zoomed, only runs that count shaded, each detector drawn
as it judges, in the rule's unit; misaligned input refused."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np
import pytest

from alerter.core.errors import SourceError
from alerter.core.model import Alert, AlertState, Labels, Verdict
from alerter.notify.base import Notification, NotifyReason
from alerter.notify.slack.chart import chart_provider, render_chart

T0 = 1_767_225_600.0


def day_of_ttft() -> dict[str, Any]:
    ts = T0 + np.arange(0, 6 * 3600, 60, dtype=float)
    expected = 0.3 + 0.05 * np.sin(ts / 3600)
    values = expected + 0.01 * np.cos(ts / 97)
    values[300:330] += 0.4
    return {
        "timestamps": ts,
        "values": values,
        "expected": expected,
        "lower": expected - 0.08,
        "upper": expected + 0.08,
        "anomalous": np.abs(values - expected) > 0.08,
    }


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """Parse PNG chunks, checking each CRC, so a truncated or corrupt file fails."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    return chunks


def test_chart_is_a_valid_png_of_the_requested_size() -> None:
    png = render_chart(**day_of_ttft(), threshold=0.5, title="p99 TTFT llama3-70b", size=(8, 3.2), dpi=100)
    chunks = png_chunks(png)
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height = struct.unpack(">II", chunks[0][1][:8])
    assert (width, height) == (800, 320)
    pixels = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(set(pixels)) > 10, "the image is not blank"


def test_anomalous_span_and_guard_change_the_picture() -> None:
    data = day_of_ttft()
    plain = render_chart(data["timestamps"], data["values"])
    full = render_chart(**data, threshold=0.5)
    assert plain != full


def test_series_alone_and_single_point_render() -> None:
    png_chunks(render_chart([T0], [1.0], anomalous=[True]))


def test_nan_values_are_gaps_not_errors() -> None:
    data = day_of_ttft()
    data["values"][10:20] = np.nan
    png_chunks(render_chart(**data))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timestamps": [], "values": []}, "non-empty"),
        ({"timestamps": [T0, T0 + 60], "values": [1.0]}, "values must have shape"),
        ({"timestamps": [T0, T0 + 60], "values": [1.0, 2.0], "lower": [0.0]}, "lower must have shape"),
    ],
)
def test_bad_input_is_refused(kwargs: dict[str, list[float]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_chart(**kwargs)  # type: ignore[arg-type]


def ttft_verdict(data: dict[str, Any], *, tier: str) -> Verdict:
    """``day_of_ttft`` as the verdict a detector of ``tier`` gives (scores left at 0)."""
    return Verdict(
        data["timestamps"],
        data["values"],
        data["expected"],
        data["lower"],
        data["upper"],
        np.zeros(data["timestamps"].size),
        data["anomalous"],
        tier=tier,
    )


def test_chart_provider_charts_the_most_anomalous_firing_alert() -> None:
    data = day_of_ttft()
    verdict = ttft_verdict(data, tier="stl")
    asked: list[tuple[str, float]] = []

    def fetch(alert: Alert, now: float) -> Verdict | None:
        asked.append((alert.labels["pod"], now))
        return verdict

    def alert(pod: str, score: float, state: AlertState = AlertState.FIRING) -> Alert:
        return Alert("TTFT", "g", Labels(pod=pod), state=state, score=score)

    alerts = (alert("calm", 0.2), alert("wild", 0.9), alert("gone", 1.0, AlertState.RESOLVED))
    note = Notification("r", "k", Labels(), alerts, NotifyReason.FIRST, T0)
    png = chart_provider(fetch, thresholds={"TTFT": 0.5})(note)
    assert png is not None and png_chunks(png)[0][0] == b"IHDR"
    assert asked == [("wild", T0)]


def test_chart_provider_leaves_out_the_chart_when_the_source_fails() -> None:
    def fetch(alert: Alert, now: float) -> Verdict | None:
        raise SourceError("unreachable", "connection refused", retryable=True)

    note = Notification(
        "r",
        "k",
        Labels(),
        (Alert("TTFT", "g", Labels(pod="a"), state=AlertState.FIRING),),
        NotifyReason.FIRST,
        T0,
    )
    assert chart_provider(fetch)(note) is None
    assert chart_provider(lambda a, now: None)(note) is None


def test_chart_provider_survives_a_misshapen_verdict(caplog: pytest.LogCaptureFixture) -> None:
    one = np.array([1.0])
    bad = Verdict(one * T0, one, one, one * 0, one * 2, one * 0, np.array([False]), tier="x")
    object.__setattr__(bad, "values", np.array([1.0, 2.0]))
    alert = Alert("TTFT", "g", Labels(pod="a"), state=AlertState.FIRING)
    note = Notification("r", "k", Labels(), (alert,), NotifyReason.FIRST, T0)
    assert chart_provider(lambda a, now: bad)(note) is None
    assert "drawing it failed" in caplog.text


def test_onset_gets_a_zoomed_panel_with_it_at_two_thirds() -> None:
    from alerter.notify.slack.chart import MIN_AFTER, zoom_window

    now = T0 + 6 * 3600
    assert zoom_window(now - 1800, now) == (now - 5400, now)  # onset at 2/3 of the zoom
    start, end = zoom_window(now - 60, now)  # a young alert still fills a fifth of it
    assert end == now and end - start == 3 * MIN_AFTER


def test_only_runs_that_count_are_shaded() -> None:
    from alerter.notify.slack.chart import _runs

    ts = T0 + np.arange(0, 3600, 60, dtype=float)
    mask = np.zeros(ts.size, dtype=bool)
    mask[5] = True  # a stray point
    mask[10:16] = True  # six points: counts
    mask[50:] = True  # the episode, started two points before the onset (trigger window)
    onset = float(ts[52])
    runs = _runs(ts, mask, onset, min_run=3, lead=300.0)
    assert runs == [(ts[10] - 30, ts[15] + 30, False), (ts[50] - 30, ts[-1] + 30, True)]
    assert _runs(ts, mask, None, min_run=1) == [
        (ts[5] - 30, ts[5] + 30, False),
        (ts[10] - 30, ts[15] + 30, False),
        (ts[50] - 30, ts[-1] + 30, False),
    ]


def test_band_note_explains_a_band_that_changes_width() -> None:
    from alerter.notify.slack.chart import band_note

    lower, upper = np.array([0.4, 0.4, 0.2, 0.2]), np.array([0.6, 0.6, 0.8, 0.8])
    assert "learned per hour" in band_note("stl(1d)", lower, upper)
    assert band_note("ewma", lower, upper) == ""
    assert band_note("stl(1d)", np.array([0.4, 0.41]), np.array([0.6, 0.61])) == ""


def test_burn_rate_is_drawn_as_the_error_ratio_against_the_paging_level() -> None:
    from alerter.detect import build, units
    from alerter.detect.explain import RuleFacts
    from alerter.notify.slack.chart import as_drawn

    ts = T0 + np.arange(0, 3600, 60, dtype=float)
    detector = build({"detector": "burn_rate", "objective": 0.999}).fit(np.empty(0), np.empty(0))
    verdict = detector.evaluate(ts, np.full(ts.size, 0.05))
    drawn = as_drawn(verdict, RuleFacts(baseline={"detector": "burn_rate", "objective": 0.999}))
    assert drawn.lower is None and not drawn.names.fill
    assert drawn.unit == units.parse("ratio")
    assert drawn.names.band == "pages above 0.600% (6x budget)"
    assert drawn.names.expected == "budget 0.100%"


def test_forecast_is_drawn_as_spend_this_period() -> None:
    from alerter.detect import build
    from alerter.detect.explain import RuleFacts
    from alerter.notify.slack.chart import as_drawn

    month = 1_764_547_200.0  # 2025-12-01T00:00Z
    ts = month + np.arange(-7200, 7200, 600, dtype=float)
    counter = 100.0 + np.arange(ts.size) * 10.0
    counter[15:] -= 140.0  # a restart: the counter drops and counts on
    baseline = {"detector": "forecast", "budget": 1000, "period": "month"}
    verdict = build(baseline).fit(ts[:5], counter[:5]).evaluate(ts, counter)
    drawn = as_drawn(verdict, RuleFacts(baseline=baseline))
    before = [10.0 * i for i in range(12)]  # November, from the first point the data has
    # December counts from its first point; the restart's new value (110) is spend, as a reset
    # counter's increase is in Prometheus.
    december = [0.0, 10.0, 20.0, 130.0, 140.0, 150.0, 160.0, 170.0, 180.0, 190.0, 200.0, 210.0]
    assert drawn.values.tolist() == before + december
    assert drawn.names.value == "spent this period" and drawn.lower is None


def test_chart_provider_draws_the_onset_in_the_rules_unit() -> None:
    from alerter.detect import units
    from alerter.detect.explain import RuleFacts

    data = day_of_ttft()
    verdict = ttft_verdict(data, tier="stl(1d)")
    onset = float(data["timestamps"][300])
    alert = Alert("TTFT", "g", Labels(pod="a"), state=AlertState.FIRING, active_at=onset, score=1.0)
    note = Notification("r", "k", Labels(), (alert,), NotifyReason.FIRST, onset + 600)
    facts = {"TTFT": RuleFacts(unit=units.parse("seconds"), window=300.0)}
    with_unit = chart_provider(lambda a, now: verdict, facts=facts)(note)
    without = chart_provider(lambda a, now: verdict)(note)
    assert with_unit is not None and without is not None and with_unit != without
    assert png_chunks(with_unit)[0][0] == b"IHDR"
