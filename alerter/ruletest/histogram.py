"""Native histograms in rule unit tests: the value, its arithmetic and its two renderings.

Used by :mod:`alerter.ruletest.notation` (a ``{{...}}`` literal and its ``+``/``-`` expansion
build one), :mod:`alerter.ruletest.prometheus` (written through remote write, read back from the
HTTP API) and :mod:`alerter.ruletest.run` (``exp_samples[].histogram`` compared).

The facts follow Prometheus' ``model/histogram/float_histogram.go`` (prometheus/prometheus): a
histogram has a ``schema`` (bucket boundaries are powers of ``2^(2^-schema)``: the positive
bucket with index ``i`` is ``(base^(i-1), base^i]``, the negative one ``[-base^i, -base^(i-1))``),
a zero bucket ``[-zero_threshold, zero_threshold]``, absolute float counts per bucket, and a
counter-reset hint. ``a+b`` is ``FloatHistogram.Add`` (the zero thresholds reconciled to the
wider one, the other's buckets reduced to the receiver's schema), ``a-b`` its ``Sub``.

promtool compares an expected histogram with the result by ``FloatHistogram.TestExpression()``
strings (``cmd/promtool/unittest.go``), the notation after ``Compact``: one span per side, no
empty bucket at either end. :meth:`NativeHistogram.test_expression` writes that string. The HTTP
API returns bucket boundaries instead of schema and indices, and drops empty buckets, the
counter-reset hint and the width of an empty zero bucket; :func:`from_api` turns its answer back
into a histogram in the expected one's schema, and :meth:`NativeHistogram.as_served` drops from
the expected one what the API cannot show, so the two compare as promtool compares them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from alerter.config.gotemplate.values import format_float_v

RESET_HINTS = {"unknown": 0, "reset": 1, "not_reset": 2, "gauge": 3}
"""``counter_reset_hint:`` words and their ``prompb.Histogram.ResetHint`` numbers (UNKNOWN, YES,
NO, GAUGE)."""

_HINT_WORDS = {number: word for word, number in RESET_HINTS.items()}

MIN_SCHEMA, MAX_SCHEMA = -4, 8
"""The exponential schemas Prometheus accepts (``histogram.ExponentialSchemaMin/Max``)."""

Buckets = tuple[tuple[int, float], ...]
"""(bucket index, count) pairs in ascending index order."""


class HistogramError(ValueError):
    """Two histograms cannot be combined (the increment has a lower schema than the base)."""


def bucket_upper(index: int, schema: int) -> float:
    """The upper bound of positive bucket ``index`` (``base^index``), as Prometheus' ``getBound``."""
    if schema <= 0:
        try:
            return math.ldexp(1.0, index << -schema)
        except OverflowError:
            return math.inf
    try:
        return float(2.0 ** (index / (1 << schema)))
    except OverflowError:
        return math.inf


def _reduce_index(index: int, delta: int) -> int:
    """The index a bucket falls in at a schema ``delta`` lower (Go's ``targetIdx``)."""
    return ((index - 1) >> delta) + 1


@dataclass(frozen=True)
class NativeHistogram:
    """A float histogram as promtool's notation builds it (``histogram.FloatHistogram``)."""

    schema: int = 0
    count: float = 0.0
    sum: float = 0.0
    zero_count: float = 0.0
    zero_threshold: float = 0.0
    positive: Buckets = field(default=())
    negative: Buckets = field(default=())
    reset_hint: int = 0

    # -- arithmetic ---------------------------------------------------------------------

    def add(self, other: NativeHistogram) -> NativeHistogram:
        """``self + other`` as ``FloatHistogram.Add``; ``other`` may not have a lower schema."""
        return self._combine(other, 1.0)

    def sub(self, other: NativeHistogram) -> NativeHistogram:
        """``self - other`` as ``FloatHistogram.Sub``."""
        return self._combine(other, -1.0)

    def _combine(self, other: NativeHistogram, sign: float) -> NativeHistogram:
        if self.schema > other.schema:
            # promql/parser/parse.go histogramsSeries refuses this before combining.
            raise HistogramError(
                f"cannot merge from schema {other.schema} to {self.schema}: the increment "
                "needs the same or a higher schema than the first histogram"
            )
        me, other_zero = _reconcile_zero(self, other)
        delta = other.schema - me.schema
        positive = dict(me.positive)
        negative = dict(me.negative)
        for mine, theirs in ((positive, other.positive), (negative, other.negative)):
            for index, count in theirs:
                if bucket_upper(index, other.schema) <= me.zero_threshold:
                    continue  # counted in other_zero by the reconciliation
                target = _reduce_index(index, delta)
                mine[target] = mine.get(target, 0.0) + sign * count
        hint = me.reset_hint
        if sign > 0 and other.reset_hint != hint:
            hint = RESET_HINTS["gauge"] if RESET_HINTS["gauge"] in (hint, other.reset_hint) else 0
        return replace(
            me,
            count=me.count + sign * other.count,
            sum=me.sum + sign * other.sum,
            zero_count=me.zero_count + sign * other_zero,
            positive=tuple(sorted(positive.items())),
            negative=tuple(sorted(negative.items())),
            reset_hint=hint,
        )

    # -- rendering ----------------------------------------------------------------------

    def compact(self) -> NativeHistogram:
        """``Compact(math.MaxInt)``: one span per side, without empty buckets at its ends."""
        return replace(self, positive=_dense(self.positive), negative=_dense(self.negative))

    def test_expression(self) -> str:
        """``FloatHistogram.TestExpression()``: the notation promtool prints and compares."""
        m = self.compact()
        parts = []
        if m.schema != 0:
            parts.append(f"schema:{m.schema}")
        for key, number in (
            ("count", m.count),
            ("sum", m.sum),
            ("z_bucket", m.zero_count),
            ("z_bucket_w", m.zero_threshold),
        ):
            if number != 0:
                parts.append(f"{key}:{format_float_v(number)}")
        if m.reset_hint:
            parts.append(f"counter_reset_hint:{_HINT_WORDS[m.reset_hint]}")
        for offset_key, buckets_key, side in (
            ("offset", "buckets", m.positive),
            ("n_offset", "n_buckets", m.negative),
        ):
            if side:
                if side[0][0] != 0:
                    parts.append(f"{offset_key}:{side[0][0]}")
                parts.append(f"{buckets_key}:[{' '.join(format_float_v(c) for _, c in side)}]")
        return "{{" + " ".join(parts) + "}}"

    def as_served(self) -> NativeHistogram:
        """What the HTTP API can show of this histogram: no counter-reset hint, no empty
        buckets, and no zero-bucket width when the zero bucket is empty."""
        return replace(
            self,
            reset_hint=0,
            zero_threshold=self.zero_threshold if self.zero_count != 0 else 0.0,
            positive=tuple((i, c) for i, c in self.positive if c != 0),
            negative=tuple((i, c) for i, c in self.negative if c != 0),
        )

    # -- the wire -------------------------------------------------------------------------

    @staticmethod
    def spans(side: Buckets) -> list[tuple[int, int]]:
        """``BucketSpan`` (offset, length) pairs for ``side``: the first offset is the first
        index, each later one the gap since the previous span, as Prometheus encodes them."""
        out: list[tuple[int, int]] = []
        previous_end = 0
        for index, _ in side:
            if out and index == previous_end:
                out[-1] = (out[-1][0], out[-1][1] + 1)
            else:
                out.append((index - previous_end if out else index, 1))
            previous_end = index + 1
        return out


def _dense(side: Buckets) -> Buckets:
    kept = [(i, c) for i, c in side if c != 0]
    if not kept:
        return ()
    values = dict(side)
    return tuple((i, values.get(i, 0.0)) for i in range(kept[0][0], kept[-1][0] + 1))


def _zero_for_threshold(h: NativeHistogram, larger: float) -> tuple[float, float]:
    """``zeroCountForLargerThreshold``: h's zero count with every bucket below ``larger`` merged
    in, and the threshold widened to the upper bound of a populated bucket it cuts through."""
    threshold = larger
    while True:
        count = h.zero_count
        widened = False
        for side in (h.positive, h.negative):
            for index, bucket in side:
                lower = bucket_upper(index - 1, h.schema)
                upper = bucket_upper(index, h.schema)
                if lower >= threshold:
                    break
                count += bucket
                if upper > threshold:
                    if bucket != 0:
                        threshold = upper
                        widened = True
                    break
            if widened:
                break
        if not widened:
            return count, threshold


def _trim(h: NativeHistogram) -> NativeHistogram:
    def keep(side: Buckets) -> Buckets:
        return tuple((i, c) for i, c in side if bucket_upper(i, h.schema) > h.zero_threshold)

    return replace(h, positive=keep(h.positive), negative=keep(h.negative))


def _reconcile_zero(h: NativeHistogram, other: NativeHistogram) -> tuple[NativeHistogram, float]:
    """``reconcileZeroBuckets``: both at the wider threshold; returns h and other's zero count."""
    other_zero, other_threshold = other.zero_count, other.zero_threshold
    while other_threshold != h.zero_threshold:
        if h.zero_threshold > other_threshold:
            other_zero, other_threshold = _zero_for_threshold(other, h.zero_threshold)
        if other_threshold > h.zero_threshold:
            zero, threshold = _zero_for_threshold(h, other_threshold)
            h = _trim(replace(h, zero_count=zero, zero_threshold=threshold))
    return h, other_zero


# -- the HTTP API's histograms ------------------------------------------------------------------


@dataclass(frozen=True)
class ServedBucket:
    """One bucket as ``/api/v1/query`` returns it: ``[boundaries, lower, upper, count]``."""

    boundaries: int
    lower: float
    upper: float
    count: float


@dataclass(frozen=True)
class ServedHistogram:
    """A histogram as the HTTP API returns it: count, sum and its non-empty buckets."""

    count: float
    sum: float
    buckets: tuple[ServedBucket, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ServedHistogram:
        raw = data.get("buckets") or []
        assert isinstance(raw, list)
        buckets = tuple(ServedBucket(int(b[0]), float(b[1]), float(b[2]), float(b[3])) for b in raw)
        return cls(float(str(data["count"])), float(str(data["sum"])), buckets)

    def render(self) -> str:
        """The buckets by their bounds, for a histogram no exponential schema describes."""
        shown = " ".join(f"{_interval(b)}:{format_float_v(b.count)}" for b in self.buckets)
        return f"{{{{count:{format_float_v(self.count)} sum:{format_float_v(self.sum)} buckets:[{shown}]}}}}"


def _interval(bucket: ServedBucket) -> str:
    left = "[" if bucket.boundaries in (1, 3) else "("
    right = "]" if bucket.boundaries in (0, 3) else ")"
    return f"{left}{format_float_v(bucket.lower)},{format_float_v(bucket.upper)}{right}"


def _close(a: float, b: float) -> bool:
    """Bounds computed here and by Go's table of ``2^(j/2^schema)`` may differ in the last bits."""
    return a == b or math.isclose(a, b, rel_tol=1e-12)


def from_api(served: ServedHistogram, schemas: Iterable[int]) -> NativeHistogram | None:
    """The first schema of ``schemas`` whose boundaries are exactly the served buckets, as a
    histogram in that schema; None when none fits (the caller then shows the bounds)."""
    for schema in schemas:
        found = _in_schema(served, schema)
        if found is not None:
            return found
    return None


def _is_zero_bucket(bucket: ServedBucket) -> bool:
    return bucket.boundaries == 3 and bucket.lower <= 0 <= bucket.upper


def _in_schema(served: ServedHistogram, schema: int) -> NativeHistogram | None:
    positive: list[tuple[int, float]] = []
    negative: list[tuple[int, float]] = []
    zero_count, zero_threshold = 0.0, 0.0
    for bucket in served.buckets:
        if _is_zero_bucket(bucket):
            zero_count, zero_threshold = bucket.count, bucket.upper
    scale = 1 << schema if schema > 0 else 1.0 / (1 << -schema)
    for bucket in served.buckets:
        if _is_zero_bucket(bucket):
            continue
        positive_side = bucket.lower >= 0
        edge = bucket.upper if positive_side else -bucket.lower
        if edge <= 0 or math.isinf(edge):
            return None
        index = round(math.log2(edge) * scale)
        inner = bucket.lower if positive_side else -bucket.upper
        # The bucket beside the zero bucket may be served as starting at the threshold.
        if not _close(bucket_upper(index, schema), edge) or not (
            _close(bucket_upper(index - 1, schema), inner) or _close(inner, zero_threshold)
        ):
            return None
        (positive if positive_side else negative).append((index, bucket.count))
    return NativeHistogram(
        schema=schema,
        count=served.count,
        sum=served.sum,
        zero_count=zero_count,
        zero_threshold=zero_threshold,
        positive=tuple(sorted(positive)),
        negative=tuple(sorted(negative)),
    )


def schemas_to_try(first: int | None) -> list[int]:
    """``first`` (the expected histogram's schema), then every other schema, finest first."""
    rest = [s for s in range(MAX_SCHEMA, MIN_SCHEMA - 1, -1) if s != first]
    return ([first] if first is not None else []) + rest


def same_histogram(expected: NativeHistogram, got: ServedHistogram) -> tuple[bool, str, str]:
    """Whether ``got`` is ``expected`` as promtool would judge it, and both as promtool shows
    them (``TestExpression()``; the served one by its bounds when no schema fits)."""
    shown = expected.as_served()
    parsed = from_api(got, schemas_to_try(expected.schema))
    if parsed is None:
        return False, expected.test_expression(), got.render()
    return (
        shown.test_expression() == parsed.test_expression(),
        expected.test_expression(),
        parsed.test_expression(),
    )


def histograms_text(items: Sequence[str]) -> str:
    return ", ".join(items)
