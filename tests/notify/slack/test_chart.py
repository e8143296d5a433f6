"""The alert chart renders a valid PNG of the requested size and rejects misaligned input."""

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


def test_chart_provider_charts_the_most_anomalous_firing_alert() -> None:
    data = day_of_ttft()
    verdict = Verdict(
        data["timestamps"],
        data["values"],
        data["expected"],
        data["lower"],
        data["upper"],
        np.zeros(data["timestamps"].size),
        data["anomalous"],
        tier="stl",
    )
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
    bad = Verdict([T0], [1.0], [1.0], [0.0], [2.0], [0.0], [False], tier="x")
    object.__setattr__(bad, "values", np.array([1.0, 2.0]))
    alert = Alert("TTFT", "g", Labels(pod="a"), state=AlertState.FIRING)
    note = Notification("r", "k", Labels(), (alert,), NotifyReason.FIRST, T0)
    assert chart_provider(lambda a, now: bad)(note) is None
    assert "drawing it failed" in caplog.text
