"""Muting: silences (created by people, persisted) and maintenance windows (cron + duration).

The pipeline asks ``Muter.reason(labels)`` for every alert of a group at flush time; a muted
alert is left out of the notification, and when the silence expires or the window closes it is
notified as a new alert of the group. ``Silences`` is also the API behind ``alerter silence
add|list|expire`` and the HTTP API: all of them take ``now``.
"""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from alerter.config.types import Matcher
from alerter.core import cron
from alerter.store.sqlite import Store

SCHEMA = [
    """CREATE TABLE silences (
        id TEXT PRIMARY KEY, matchers TEXT NOT NULL, starts_at REAL NOT NULL, ends_at REAL NOT NULL,
        created_by TEXT NOT NULL, comment TEXT NOT NULL, created_at REAL NOT NULL)""",
]
SCHEMA_V2 = [
    # The fingerprint of the alert whose resolution ends the silence ("until resolved" from Slack).
    "ALTER TABLE silences ADD COLUMN ends_with TEXT NOT NULL DEFAULT ''",
]
_COLUMNS = "id, matchers, starts_at, ends_at, created_by, comment, created_at, ends_with"


class SilenceError(ValueError):
    """A silence request that cannot be honoured (bad matcher, end before start, unknown id)."""


def parse_matchers(texts: Iterable[str | Matcher]) -> tuple[Matcher, ...]:
    """Matchers from ``name="value"`` strings (``=``, ``!=``, ``=~``, ``!~``)."""
    out = []
    for text in texts:
        if isinstance(text, Matcher):
            out.append(text)
            continue
        try:
            out.append(Matcher.model_validate(text))
        except ValueError as err:
            raise SilenceError(f'invalid matcher {text!r}: write name="value" ({_first_line(err)})') from None
    return tuple(out)


@dataclass(frozen=True)
class Silence:
    """Mutes alerts whose labels match every matcher while ``starts_at <= now < ends_at``."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    created_at: float
    ends_with: str = ""
    """The fingerprint of an alert whose resolution ends this silence early, or empty."""

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def mutes(self, labels: Mapping[str, str], now: float) -> bool:
        return self.active(now) and all(m.matches(labels) for m in self.matchers)

    def state(self, now: float) -> str:
        """``pending``, ``active`` or ``expired``, as Alertmanager shows silences."""
        return "pending" if now < self.starts_at else "active" if now < self.ends_at else "expired"

    def as_json(self, now: float) -> dict[str, object]:
        """The silence as the HTTP API and ``alerter silence list -o json`` show it."""
        return {
            "id": self.id,
            "matchers": [str(m) for m in self.matchers],
            "startsAt": self.starts_at,
            "endsAt": self.ends_at,
            "state": self.state(now),
            "createdBy": self.created_by,
            "comment": self.comment,
            "createdAt": self.created_at,
            **({"endsWithAlert": self.ends_with} if self.ends_with else {}),
        }


class Silences:
    """The persisted silences in the store's ``silences`` table."""

    def __init__(self, store: Store) -> None:
        self._store = store
        store.ensure_schema("silences", 1, SCHEMA)
        store.ensure_schema("silences", 2, SCHEMA_V2)

    def add(
        self,
        matchers: Iterable[str | Matcher],
        *,
        ends_at: float,
        now: float,
        starts_at: float | None = None,
        created_by: str = "",
        comment: str = "",
        ends_with: str = "",
    ) -> Silence:
        """Create a silence from now (or ``starts_at``) until ``ends_at``.

        With ``ends_with`` (an alert's fingerprint) the silence also ends when that alert
        resolves (``end_with``), so the alert's next episode is heard again.
        """
        parsed = parse_matchers(matchers)
        if not parsed:
            raise SilenceError("a silence needs at least one matcher (it would mute everything)")
        if all(m.matches({}) for m in parsed):
            raise SilenceError(
                "these matchers also match alerts without those labels: add one that requires a value"
            )
        start = now if starts_at is None else starts_at
        if ends_at <= start or ends_at <= now:
            raise SilenceError("the silence must end after it starts and in the future")
        silence = Silence(uuid.uuid4().hex[:12], parsed, start, ends_at, created_by, comment, now, ends_with)
        with self._store.transaction() as db:
            db.execute(
                f"INSERT INTO silences ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (silence.id, _dump(parsed), start, ends_at, created_by, comment, now, ends_with),
            )
        return silence

    def get(self, silence_id: str) -> Silence:
        with self._store.transaction() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM silences WHERE id = ?", (silence_id,)).fetchone()
        if row is None:
            raise SilenceError(f"no silence with id {silence_id!r} (see `alerter silence list`)")
        return _silence(row)

    def list(self, now: float, *, include_expired: bool = False) -> list[Silence]:
        """Silences by start time; expired ones only on request."""
        with self._store.transaction() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM silences ORDER BY starts_at, id").fetchall()
        found = [_silence(r) for r in rows]
        return [s for s in found if include_expired or s.ends_at > now]

    def expire(self, silence_id: str, now: float) -> Silence:
        """End a silence at ``now``; its alerts are notified at the next flush."""
        silence = self.get(silence_id)
        if silence.ends_at <= now:
            raise SilenceError(f"silence {silence_id} already expired")
        with self._store.transaction() as db:
            db.execute("UPDATE silences SET ends_at = ? WHERE id = ?", (now, silence_id))
        return self.get(silence_id)

    def active(self, now: float) -> builtins.list[Silence]:
        return [s for s in self.list(now) if s.active(now)]

    def same(self, matchers: Iterable[str | Matcher], now: float) -> builtins.list[Silence]:
        """Active silences with exactly these matchers (in any order), longest-lasting first.

        A second press of a Silence button finds the first press's silence here instead of
        adding another one.
        """
        wanted = {str(m) for m in parse_matchers(matchers)}
        found = [s for s in self.active(now) if {str(m) for m in s.matchers} == wanted]
        return sorted(found, key=lambda s: (-s.ends_at, s.id))

    def extend(self, silence_id: str, ends_at: float, now: float) -> Silence:
        """Move an active silence's end to a later ``ends_at`` (a longer Silence pressed after a shorter)."""
        silence = self.get(silence_id)
        if not silence.active(now):
            raise SilenceError(f"silence {silence_id} is not active; create a new one")
        if ends_at <= silence.ends_at:
            raise SilenceError(f"silence {silence_id} already lasts until {silence.ends_at:.0f}")
        with self._store.transaction() as db:
            db.execute("UPDATE silences SET ends_at = ? WHERE id = ?", (ends_at, silence_id))
        return self.get(silence_id)

    def end_with(self, fingerprints: Iterable[str], now: float) -> builtins.list[Silence]:
        """End the active silences that last until one of these alerts resolves; returns them."""
        wanted = set(fingerprints)
        ending = [s for s in self.active(now) if s.ends_with and s.ends_with in wanted]
        if ending:
            with self._store.transaction() as db:
                db.executemany("UPDATE silences SET ends_at = ? WHERE id = ?", [(now, s.id) for s in ending])
        return [self.get(s.id) for s in ending]


def _dump(matchers: Sequence[Matcher]) -> str:
    """Matchers as JSON objects: a value with a quote or backslash survives, unlike ``str(m)``."""
    return json.dumps([{"name": m.name, "op": m.op, "value": m.value} for m in matchers])


def _load(text: str) -> tuple[Matcher, ...]:
    """Matchers as ``_dump`` writes them, or as strings (``name="value"``, rows written before)."""
    out = []
    for item in json.loads(text):
        out.append(Matcher.model_validate(item) if isinstance(item, dict) else parse_matchers([item])[0])
    return tuple(out)


def _silence(row: Sequence[object]) -> Silence:
    sid, matchers, starts, ends, by, comment, created, ends_with = row
    return Silence(
        str(sid),
        _load(str(matchers)),
        float(starts),  # type: ignore[arg-type]
        float(ends),  # type: ignore[arg-type]
        str(by),
        str(comment),
        float(created),  # type: ignore[arg-type]
        str(ends_with),
    )


@dataclass(frozen=True)
class Window:
    """A maintenance window ready to evaluate: parsed cron, zone, duration, matchers."""

    name: str
    cron: cron.Cron
    duration: float
    matchers: tuple[Matcher, ...]
    zone: ZoneInfo

    @classmethod
    def build(
        cls,
        name: str,
        expression: str,
        duration: float,
        matchers: Iterable[str | Matcher],
        timezone: str = "UTC",
    ) -> Window:
        if duration <= 0:
            raise ValueError(f"maintenance window {name!r}: duration must be > 0")
        return cls(name, cron.parse_cron(expression), duration, parse_matchers(matchers), cron.zone(timezone))

    def open_at(self, now: float) -> bool:
        return cron.window_open(self.cron, self.duration, self.zone, now) is not None


def maintenance_exclusions(
    windows: Sequence[Window],
) -> Callable[[Mapping[str, str], float, float], list[tuple[float, float]]]:
    """Periods to keep out of baseline training: ``(labels, start, end) -> [(from, to), ...]``.

    The baseline cache calls this for each series it fits, so maintenance (a deploy, a
    planned failover) never teaches a detector what "normal" looks like.
    """

    def periods(labels: Mapping[str, str], start: float, end: float) -> list[tuple[float, float]]:
        found: list[tuple[float, float]] = []
        for window in windows:
            if all(m.matches(labels) for m in window.matchers):
                found.extend(cron.windows_between(window.cron, window.duration, window.zone, start, end))
        return sorted(found)

    return periods


class Muter:
    """Decides, at one instant, whether labels are muted and by what (for the log)."""

    def __init__(self, silences: Sequence[Silence], windows: Sequence[Window], now: float) -> None:
        self._silences = [s for s in silences if s.active(now)]
        self._windows = [w for w in windows if w.open_at(now)]
        self._now = now

    def reason(self, labels: Mapping[str, str]) -> str | None:
        """``silence <id>`` or ``maintenance <name>`` when muted, else None."""
        for silence in self._silences:
            if silence.mutes(labels, self._now):
                return f"silence {silence.id}"
        for window in self._windows:
            if all(m.matches(labels) for m in window.matchers):
                return f"maintenance {window.name}"
        return None


def _first_line(err: Exception) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__
