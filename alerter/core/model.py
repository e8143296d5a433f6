"""Immutable values shared by every layer: labels, series, verdicts, alerts, decisions.

Nothing here performs I/O or reads the clock. Arrays inside values are never mutated after
construction (they are made read-only), so a value can be handed to another thread or cached
without copying.
"""

from __future__ import annotations

import enum
import functools
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _frozen(array: npt.ArrayLike, dtype: type = np.float64) -> npt.NDArray[np.generic]:
    """``array`` as a read-only array of ``dtype``: a copy, unless it is already one nobody can
    write to (read-only, and so is what it views), as the response parser hands over."""
    if (
        isinstance(array, np.ndarray)
        and array.dtype == dtype
        and not array.flags.writeable
        and (array.base is None or isinstance(array.base, bytes) or _read_only(array.base))
    ):
        return array
    out: npt.NDArray[np.generic] = np.array(array, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


def _read_only(base: object) -> bool:
    """True when ``base`` (what an array views) cannot be written through numpy either."""
    while isinstance(base, np.ndarray):
        if base.flags.writeable:
            return False
        base = base.base
    return base is None or isinstance(base, bytes)


class Labels(Mapping[str, str]):
    """An immutable, sorted label set with a stable fingerprint.

    The fingerprint identifies a series across restarts and processes (it keys stored alert
    state and baselines), so it is a content hash, not Python's randomised ``hash``.
    """

    __slots__ = ("_fingerprint", "_hash", "_items")

    def __init__(self, items: Mapping[str, str] | None = None, /, **kwargs: str) -> None:
        merged = dict(items or {}, **kwargs)
        self._items: tuple[tuple[str, str], ...] = tuple(sorted((str(k), str(v)) for k, v in merged.items()))
        self._hash = hash(self._items)
        digest = hashlib.blake2b(digest_size=8)
        for name, value in self._items:
            digest.update(name.encode())
            digest.update(b"\xff")
            digest.update(value.encode())
            digest.update(b"\xfe")
        self._fingerprint = digest.hexdigest()

    @property
    def fingerprint(self) -> str:
        """16 hex digits, stable across processes and versions."""
        return self._fingerprint

    def __getitem__(self, key: str) -> str:
        for name, value in self._items:
            if name == key:
                return value
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Labels):
            return self._items == other._items
        if isinstance(other, Mapping):
            return dict(self._items) == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        inner = ", ".join(f'{k}="{v}"' for k, v in self._items)
        return "{" + inner + "}"

    def with_(self, **extra: str) -> Labels:
        """A copy with ``extra`` labels added or replaced."""
        return Labels(dict(self._items), **extra)

    def without(self, *names: str) -> Labels:
        """A copy without the given label names."""
        return Labels({k: v for k, v in self._items if k not in names})


@dataclass(frozen=True, eq=False)
class Series:
    """One time series: labels plus ascending timestamps (unix seconds) and float values.

    Missing samples are simply absent; NaN marks a sample that exists but has no usable value
    (e.g. a quantile over no traffic).
    """

    labels: Labels
    timestamps: FloatArray
    values: FloatArray

    def __post_init__(self) -> None:
        ts = _frozen(self.timestamps)
        vs = _frozen(self.values)
        if ts.shape != vs.shape or ts.ndim != 1:
            raise ValueError(
                f"timestamps and values must be 1-D of equal length, got {ts.shape} and {vs.shape}"
            )
        object.__setattr__(self, "timestamps", ts)
        object.__setattr__(self, "values", vs)

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])


@dataclass(frozen=True, eq=False)
class Verdict:
    """What a detector concluded about the recent points of one series.

    Arrays are aligned with ``timestamps``. ``scale`` is the robust standard deviation used for
    the band at each point, so a message can say how many sigmas a value is away.
    ``tier`` names the detector that judged (``static``, ``ewma``, ``stl``, ``mstl``...), since
    users need to know whether a baseline with weeks of data or a cold-start fallback spoke.
    """

    timestamps: FloatArray
    values: FloatArray
    expected: FloatArray
    lower: FloatArray
    upper: FloatArray
    scores: FloatArray
    anomalous: BoolArray
    tier: str
    scale: FloatArray | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        n = np.shape(self.timestamps)[0] if np.ndim(self.timestamps) else 0
        for name in ("timestamps", "values", "expected", "lower", "upper", "scores"):
            arr = _frozen(getattr(self, name))
            if arr.shape != (n,):
                raise ValueError(f"Verdict.{name} must have shape ({n},), got {arr.shape}")
            object.__setattr__(self, name, arr)
        anomalous = _frozen(self.anomalous, dtype=np.bool_)
        if anomalous.shape != (n,):
            raise ValueError(f"Verdict.anomalous must have shape ({n},), got {anomalous.shape}")
        object.__setattr__(self, "anomalous", anomalous)
        if self.scale is not None:
            object.__setattr__(self, "scale", _frozen(self.scale))

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])

    @property
    def fraction(self) -> float:
        """Share of the points with a value that are out of band (0 when there are none)."""
        valid = ~np.isnan(self.values)
        count = int(valid.sum())
        return float(self.anomalous[valid].sum()) / count if count else 0.0

    @functools.cached_property
    def _last_index(self) -> int | None:
        """Index of the most recent point with a value (found once: every ``*_value`` reads it)."""
        valid = np.flatnonzero(~np.isnan(self.values))
        return int(valid[-1]) if valid.size else None

    def _last(self, array: FloatArray) -> float:
        index = self._last_index
        return float(array[index]) if index is not None else float("nan")

    @property
    def value(self) -> float:
        """The most recent value (NaN when the window holds none)."""
        return self._last(self.values)

    @property
    def expected_value(self) -> float:
        return self._last(self.expected)

    @property
    def lower_value(self) -> float:
        return self._last(self.lower)

    @property
    def upper_value(self) -> float:
        return self._last(self.upper)

    @property
    def score(self) -> float:
        """Maximum score over the window, in [0, 1]."""
        finite = self.scores[~np.isnan(self.scores)]
        return float(finite.max()) if finite.size else 0.0


class AlertState(enum.StrEnum):
    """Lifecycle states; the transitions between them are ``alerter.core.alerts``."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"
    NODATA = "nodata"
    ERROR = "error"


@dataclass(frozen=True)
class Alert:
    """The state of one rule for one series, as a handful of timestamps (unix seconds).

    Transitions compare ``now`` with these timestamps against ``for`` and ``keep_firing_for``;
    nothing here reads the clock. ``transitions`` and ``flapping`` are what flap damping remembers
    across ticks and restarts. ``alerter.core.codec`` turns an alert into plain values and back
    for every place that stores or shows one.
    """

    rule: str
    group: str
    labels: Labels
    state: AlertState = AlertState.INACTIVE
    active_at: float | None = None
    fired_at: float | None = None
    resolved_at: float | None = None
    keep_firing_since: float | None = None
    last_eval: float | None = None
    last_sent_at: float | None = None
    value: float = float("nan")
    expected: float = float("nan")
    lower: float = float("nan")
    upper: float = float("nan")
    score: float = 0.0
    fraction: float = 0.0
    tier: str = ""
    reason: str = ""
    annotations: Mapping[str, str] = field(default_factory=dict)
    transitions: tuple[float, ...] = ()
    """Times the alert started or stopped firing, within the flap window, oldest first."""
    flapping: bool = False
    """Whether flap damping holds the alert firing (too many transitions in the flap window)."""

    @property
    def fingerprint(self) -> str:
        """Identity of the alert: rule, group and series labels."""
        return self.labels.with_(__rule__=self.rule, __group__=self.group).fingerprint


@dataclass(frozen=True)
class Decision:
    """The outcome of a pure decision (send? act?) with the reason a human will read."""

    allowed: bool
    reason: str
