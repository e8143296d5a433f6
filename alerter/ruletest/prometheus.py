"""A throwaway Prometheus for rule unit tests: started empty, filled by remote write, stopped after.

Called by :mod:`alerter.ruletest.run` once per test group. Rule expressions must be evaluated with
real PromQL semantics, so every test group gets a real Prometheus on 127.0.0.1 with its own
temporary data directory, and its input series are written through the remote-write receiver.

Why remote write and not ``promtool tsdb create-blocks-from openmetrics``: a test series may end
with ``stale``, and a staleness marker is a special NaN bit pattern that only the remote-write
protocol carries (OpenMetrics text has no way to write one, so a backfilled series would keep
answering instant queries for five more minutes). Remote write also needs no block files and no
second process. A group's input series go in one request, every series in time order; what the
test writes afterwards (recording rules' series, ``ALERTS``) is older than the newest input
sample, so the TSDB gets an out-of-order window wider than any test.

The request is a ``prometheus.WriteRequest`` protobuf (a few small messages of
prometheus/prometheus ``prompb/types.proto`` and ``remote.proto``, encoded here by hand rather
than through generated code) compressed with snappy's block format. Native histograms travel in
``TimeSeries.histograms`` (field 4) as ``Histogram`` messages in their float form (counts as
doubles, ``positive_counts``), as promtool appends them (``FloatHistogram``). Prometheus needs
``--enable-feature=native-histograms`` for them, which every throwaway Prometheus is started with.
"""

from __future__ import annotations

import json
import math
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import cramjam

from alerter.core.errors import AlerterError
from alerter.ruletest.histogram import NativeHistogram, ServedHistogram

STALE_NAN_BITS = 0x7FF0000000000002
"""The float64 bit pattern Prometheus reads as a staleness marker (``value.StaleNaN``)."""

START_TIMEOUT = 30.0
"""Seconds a fresh Prometheus may take to answer ``/-/ready`` (an empty TSDB opens in well under 1 s)."""


OUT_OF_ORDER_WINDOW = "3650d"
"""How far behind the newest input sample the walk may still write: longer than any test."""


class PrometheusUnavailable(AlerterError):
    """The Prometheus binary is missing or would not start; the message says how to fix it."""


class QueryFailed(AlerterError):
    """Prometheus refused or failed an expression; the message is Prometheus' own ``error``."""


@dataclass(frozen=True)
class Sample:
    """One sample of an instant query: its labels and its float value (a scalar has no labels),
    or, for a native histogram, ``histogram`` as the HTTP API returns it (``value`` is then NaN)."""

    labels: Mapping[str, str]
    value: float
    histogram: ServedHistogram | None = None


@dataclass(frozen=True)
class SeriesData:
    """One input series: its labels (``__name__`` included) and (unix ms, value) samples in time order."""

    labels: Mapping[str, str]
    samples: Sequence[tuple[int, float]]
    histograms: Sequence[tuple[int, NativeHistogram]] = ()
    """(unix ms, histogram) samples in time order; a series may mix them with floats."""


def find_binary(given: str | None) -> str:
    """The Prometheus executable: ``given`` if set, else ``prometheus`` on PATH."""
    name = given or "prometheus"
    found = shutil.which(name)
    if found is None:
        where = f"{given!r} is not an executable" if given else "no `prometheus` on PATH"
        raise PrometheusUnavailable(
            f"cannot run rule tests: {where} (install Prometheus, e.g. `apt-get install prometheus`, "
            "or pass --prometheus PATH)"
        )
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the wire format ---------------------------------------------------------------------


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 values are sent as their two's complement
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _sample(timestamp_ms: int, value: float) -> bytes:
    """``Sample{double value = 1; int64 timestamp = 2}``; ``struct`` keeps a NaN's payload bits."""
    return b"\x09" + struct.pack("<d", value) + _varint(2 << 3 | 0) + _varint(timestamp_ms)


def _zigzag(value: int) -> int:
    """``sint32``/``sint64``: small negative numbers as small varints."""
    return (value << 1) ^ (value >> 63)


def _double(number: int, value: float) -> bytes:
    """A ``double`` field (wire type 1)."""
    return _varint(number << 3 | 1) + struct.pack("<d", value)


def _int_field(number: int, value: int) -> bytes:
    """A varint field (wire type 0)."""
    return _varint(number << 3) + _varint(value)


def _span(offset: int, length: int) -> bytes:
    """``BucketSpan{sint32 offset = 1; uint32 length = 2}``."""
    return _int_field(1, _zigzag(offset)) + _int_field(2, length)


def histogram_message(timestamp_ms: int, h: NativeHistogram) -> bytes:
    """``prompb.Histogram`` in its float form: ``count_float`` (2), ``sum`` (3), ``schema`` (4,
    sint32), ``zero_threshold`` (5), ``zero_count_float`` (7), ``negative_spans`` (8),
    ``negative_counts`` (10, packed doubles), ``positive_spans`` (11), ``positive_counts`` (13),
    ``reset_hint`` (14) and ``timestamp`` (15)."""
    out = bytearray(_double(2, h.count) + _double(3, h.sum) + _int_field(4, _zigzag(h.schema)))
    out += _double(5, h.zero_threshold) + _double(7, h.zero_count)
    for spans_field, counts_field, side in ((8, 10, h.negative), (11, 13, h.positive)):
        for offset, length in NativeHistogram.spans(side):
            out += _field(spans_field, _span(offset, length))
        if side:
            out += _field(counts_field, b"".join(struct.pack("<d", c) for _, c in side))
    out += _int_field(14, h.reset_hint) + _int_field(15, timestamp_ms)
    return bytes(out)


Run = tuple[bool, list[tuple[int, float | NativeHistogram]]]


def _runs(one: SeriesData) -> list[Run]:
    """The series' samples in time order, cut into runs of floats and runs of histograms.

    Prometheus' remote-write handler appends a ``TimeSeries``' floats before its histograms;
    a series that switches between them (a histogram series ending in ``stale``) goes as one
    ``TimeSeries`` per run, in order, so that every append is in time order.
    """
    merged: list[tuple[int, int, float | NativeHistogram]] = [
        *((t, 0, v) for t, v in one.samples),
        *((t, 1, h) for t, h in one.histograms),
    ]
    merged.sort(key=lambda item: (item[0], item[1]))
    runs: list[Run] = []
    for timestamp_ms, kind, value in merged:
        is_histogram = kind == 1
        if not runs or runs[-1][0] != is_histogram:
            runs.append((is_histogram, []))
        runs[-1][1].append((timestamp_ms, value))
    return runs


def write_request(series: Sequence[SeriesData]) -> bytes:
    """The snappy-compressed ``WriteRequest`` body holding every sample of ``series``."""
    body = bytearray()
    for one in series:
        labels = bytearray()
        for name in sorted(one.labels):  # Prometheus expects labels sorted by name
            label = _field(1, name.encode()) + _field(2, one.labels[name].encode())
            labels += _field(1, label)
        for _, run in _runs(one) or [(False, [])]:
            message = bytearray(labels)
            for timestamp_ms, value in run:
                if isinstance(value, NativeHistogram):
                    message += _field(4, histogram_message(timestamp_ms, value))
                else:
                    message += _field(2, _sample(timestamp_ms, value))
            body += _field(1, bytes(message))
    return bytes(cramjam.snappy.compress_raw(bytes(body)))


def _number(text: str) -> float:
    """A sample value as the HTTP API writes it (``"1.5"``, ``"+Inf"``, ``"NaN"``)."""
    return float(text)


def stale_nan() -> float:
    """A float carrying the staleness bit pattern (kept intact through ``struct``)."""
    value: float = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]
    return value


def is_stale(value: float) -> bool:
    return struct.pack("<d", value) == struct.pack("<Q", STALE_NAN_BITS)


# -- the server --------------------------------------------------------------------------


class ThrowawayPrometheus:
    """A Prometheus with an empty temporary TSDB; use as a context manager.

    Retention is effectively unlimited because retention counts back from the newest block, and
    test data may be placed anywhere in time.
    """

    def __init__(self, binary: str, *, lookback: str = "5m") -> None:
        self.binary = binary
        self.lookback = lookback
        self._dir = Path(tempfile.mkdtemp(prefix="alerter-ruletest-"))
        self._process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def __enter__(self) -> ThrowawayPrometheus:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Launch Prometheus (unless ``launch`` already did) and wait until it answers."""
        if self._process is None:
            self.launch()
        for attempt in range(3):  # another process may take the port between picking and binding it
            if self._wait_ready():
                return
            self._terminate()
            if attempt < 2:
                self.launch()
        tail = self.log_tail()
        self.stop()  # a failed __enter__ gets no __exit__: clean up here
        raise PrometheusUnavailable(f"{self.binary} did not start; its log:\n{tail}")

    def launch(self) -> ThrowawayPrometheus:
        """Start the process and return at once: it opens its TSDB while the caller works on.

        A test file with several groups launches the next group's Prometheus before running the
        current group, so its half second of start-up is spent while the other one is busy.
        """
        # The input series are written first, up to the test's end; what the walk writes later
        # (recording rules, ALERTS) is older than that, which the TSDB takes only inside an
        # out-of-order window (``storage.tsdb.out_of_order_time_window``, Prometheus >= 2.39).
        (self._dir / "prometheus.yml").write_text(
            f"scrape_configs: []\nstorage:\n  tsdb:\n    out_of_order_time_window: {OUT_OF_ORDER_WINDOW}\n"
        )
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        argv = [
            self.binary,
            f"--config.file={self._dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self._dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-remote-write-receiver",
            "--storage.tsdb.retention.time=100y",
            f"--query.lookback-delta={self.lookback}",
            "--log.level=warn",
            # Native histograms in input series need the feature (Prometheus 2.40 to 2.x).
            "--enable-feature=native-histograms",
        ]
        with (self._dir / "prometheus.log").open("wb") as log:
            self._process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        return self

    def _wait_ready(self) -> bool:
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1.0) as reply:
                    if reply.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.02)  # a real process takes real time to open its TSDB
        return False

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = (self._dir / "prometheus.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def push(self, series: Sequence[SeriesData]) -> None:
        """Write ``series`` through ``/api/v1/write``; raises PrometheusUnavailable if refused."""
        if not any(s.samples or s.histograms for s in series):
            return
        request = urllib.request.Request(
            self.url + "/api/v1/write",
            data=write_request(series),
            method="POST",
            headers={
                "Content-Type": "application/x-protobuf",
                "Content-Encoding": "snappy",
                "X-Prometheus-Remote-Write-Version": "0.1.0",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=60.0) as reply:
                reply.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace").strip()
            raise PrometheusUnavailable(
                f"Prometheus refused the input series: HTTP {exc.code} {detail}"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            raise PrometheusUnavailable(f"cannot write the input series to Prometheus: {exc}") from None

    def query(self, expr: str, at: float) -> list[Sample]:
        """Instant query at unix time ``at``: a vector, or a scalar as one sample without labels.

        As promtool's ``query`` (``cmd/promtool/unittest.go``), any other result type (a range
        vector, a string) is an error. A native histogram sample (``"histogram"`` instead of
        ``"value"``) comes back as ``Sample.histogram``.
        """
        params = urllib.parse.urlencode({"query": expr, "time": f"{at:.3f}"})
        request = urllib.request.Request(
            self.url + "/api/v1/query",
            data=params.encode(),
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60.0) as reply:
                answer = json.load(reply)
        except urllib.error.HTTPError as exc:
            try:
                answer = json.loads(exc.read())
            except ValueError:
                raise QueryFailed(f"HTTP {exc.code}") from None
            raise QueryFailed(str(answer.get("error", f"HTTP {exc.code}"))) from None
        except (urllib.error.URLError, OSError) as exc:
            raise PrometheusUnavailable(f"cannot query Prometheus: {exc}") from None
        data = answer["data"]
        kind = data["resultType"]
        if kind == "scalar":
            return [Sample({}, _number(data["result"][1]))]
        if kind != "vector":
            raise QueryFailed("rule result is not a vector or scalar")
        out = []
        for item in data["result"]:
            if "histogram" in item:
                served = ServedHistogram.from_json(item["histogram"][1])
                out.append(Sample(item["metric"], math.nan, served))
            else:
                out.append(Sample(item["metric"], _number(item["value"][1])))
        return out

    def _terminate(self) -> None:
        """Kill the process: its TSDB is thrown away, so there is nothing to shut down cleanly
        (a graceful stop takes Prometheus half a second, most of a small test's time)."""
        if self._process is None or self._process.poll() is not None:
            return
        self._process.kill()
        self._process.wait()

    def stop(self) -> None:
        self._terminate()
        shutil.rmtree(self._dir, ignore_errors=True)
