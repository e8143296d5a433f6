"""Silence, Acknowledge and Not an incident, pressed on an alert's Slack message.

Each firing alert of a message gets five buttons (``alert_buttons``): Silence 1h, Silence 4h,
Silence until resolved, Acknowledge, and Not an incident; a resolved alert keeps only the last,
since a page is often judged to be noise after it has resolved. Their callbacks reach the same signed endpoint as
Approve / Reject (``service.routes``), which reads them with ``parse_press`` and lets
``AlertActions.press`` decide on the app's decision worker. A silence from Slack is an ordinary
silence in ``notify.mute`` (listed and expired like one from the CLI or the API) whose matchers
are all the alert's labels, each by equality, as Alertmanager's "Silence" on an alert fills
them in; "until resolved" also ends when the alert resolves. An acknowledgement records who and
when for the alert's current episode in ``notify_acks``. Both are told in the alert's thread,
and later renderings of the message show them (``standing``). Pressing again changes nothing:
the second press finds the first one's silence or acknowledgement and is answered privately.

"Not an incident" records a verdict on the alert's episode (``notify.pages``: who, when, rule,
group, fingerprint, ``active_at`` .. ``resolved_at``); the button's value names the episode
(``<fingerprint>:<active_at>``), so it still works after the engine has forgotten the resolved
alert, and never judges a later episode of the same alert. Once given, the button becomes "It
was real", which takes the verdict back (anyone may press either; the row keeps who decided
last). A second "Not an incident" changes nothing and is answered privately. The app hears of
every change (``on_verdict``): it counts the false page and tells the baseline cache that the
period is normal data (or no longer).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from alerter.core.durations import format_duration
from alerter.core.model import Alert, AlertState
from alerter.notify.mute import Silence, SilenceError, Silences
from alerter.notify.pages import Page, Pages, PageVerdict
from alerter.notify.slack import mrkdwn
from alerter.notify.slack.blocks import Button, Standing
from alerter.store.sqlite import Store

SCHEMA = [
    """CREATE TABLE notify_acks (
        fingerprint TEXT NOT NULL, episode REAL NOT NULL, user_id TEXT NOT NULL,
        user_name TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (fingerprint, episode))""",
]

SILENCE = "silence"
ACK = "ack"
NOISE = "noise"
"""Not an incident: the page was a false one."""
REAL = "real"
"""It was real: takes a "Not an incident" back."""
SILENCE_FOR = {"1h": 3600.0, "4h": 4 * 3600.0}
UNTIL_RESOLVED = "resolved"
UNTIL_RESOLVED_AT_MOST = 7 * 86400.0
"""An "until resolved" silence still ends after this long: an alert stuck firing must be heard again."""
RENEW_BY_AT_LEAST = 300.0
"""A Silence press that would move the end by less than this is a repeat (a double click, a second
person pressing too) and changes nothing; pressed again near its end, it renews the silence."""
_FINGERPRINT = re.compile(r"^[0-9a-f]{16}$")
_EPISODE = re.compile(r"^([0-9a-f]{16}):(-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)$")


def alert_buttons(alert: Alert, standing: Standing | None = None) -> list[Button]:
    """The buttons of one firing or resolved alert; the value is its fingerprint (16 hex digits),
    and for Not an incident / It was real also the episode's start (``<fingerprint>:<active_at>``).

    Slack posts ``action_id`` and ``value`` back; an ``action_id`` is "unique among all other
    action_ids in the containing block" and at most 255 characters, a value at most 2000
    (https://docs.slack.dev/reference/block-kit/block-elements/button-element), so the
    buttons of each alert sit in an actions block of their own. An acknowledged alert has no
    Acknowledge button; a resolved one has only Not an incident (or It was real, once said).
    """
    value = alert.fingerprint
    buttons = []
    if alert.state is AlertState.FIRING:
        buttons = [
            Button(f"{SILENCE}:1h", "Silence 1h", value),
            Button(f"{SILENCE}:4h", "Silence 4h", value),
            Button(f"{SILENCE}:{UNTIL_RESOLVED}", "Silence until resolved", value),
        ]
        if standing is None or not standing.acknowledged:
            buttons.append(Button(ACK, "Acknowledge", value, "primary"))
    if alert.state in (AlertState.FIRING, AlertState.RESOLVED) and alert.active_at is not None:
        episode_value = f"{value}:{alert.active_at!r}"
        if standing is not None and standing.false_page:
            buttons.append(Button(REAL, "It was real", episode_value))
        else:
            buttons.append(Button(NOISE, "Not an incident", episode_value))
    return buttons


@dataclass(frozen=True)
class Press:
    """One press of an alert button, as the signed callback said it."""

    verb: str
    option: str
    fingerprint: str
    user_id: str
    user_name: str
    episode: float | None = None
    """The start (``active_at``) of the episode a Not an incident / It was real press judges."""

    @property
    def who(self) -> str:
        """A Slack mention (shown as @name to every reader), or the name when there is no ID."""
        return f"<@{self.user_id}>" if self.user_id else mrkdwn.escape(self.user_name or "someone")

    @property
    def author(self) -> str:
        """``created_by`` of a silence: the Slack name and ID, so the CLI's list says who."""
        name = self.user_name or self.user_id or "unknown"
        return f"{name} (Slack {self.user_id})" if self.user_id and self.user_id != name else name


def is_alert_action(action_id: str) -> bool:
    """Whether a callback's ``action_id`` belongs to an alert button (else it may be Approve / Reject)."""
    return action_id.split(":")[0] in (SILENCE, ACK, NOISE, REAL)


def parse_press(action_id: str, value: str, user_id: str, user_name: str) -> Press:
    """The press behind an alert button's callback; ValueError says what does not fit."""
    verb, _, option = action_id.partition(":")
    if verb == SILENCE and option not in (*SILENCE_FOR, UNTIL_RESOLVED):
        raise ValueError(f"unknown silence length {option!r} in action {action_id!r}")
    if verb in (ACK, NOISE, REAL) and option:
        raise ValueError(f"unknown action {action_id!r}")
    if verb not in (SILENCE, ACK, NOISE, REAL):
        raise ValueError(f"unknown action {action_id!r}")
    if not (user_id or user_name):
        raise ValueError("the callback does not say who pressed the button")
    if verb in (NOISE, REAL):
        found = _EPISODE.match(value)
        if found is None or not math.isfinite(float(found.group(2))):
            raise ValueError(
                f"button value {value[:60]!r} does not name an alert episode (<fingerprint>:<active_at>)"
            )
        return Press(verb, option, found.group(1), user_id, user_name, float(found.group(2)))
    if not _FINGERPRINT.match(value):
        raise ValueError(f"button value {value[:40]!r} is not an alert fingerprint")
    return Press(verb, option, value, user_id, user_name)


@dataclass(frozen=True)
class Ack:
    """Who acknowledged an alert's episode (which started at ``episode``), and when."""

    fingerprint: str
    episode: float
    user_id: str
    user_name: str
    at: float

    @property
    def who(self) -> str:
        return f"<@{self.user_id}>" if self.user_id else mrkdwn.escape(self.user_name)


class Acks:
    """The acknowledgements in the store's ``notify_acks`` table, one per alert episode."""

    def __init__(self, store: Store) -> None:
        self._store = store
        store.ensure_schema("notify_acks", 1, SCHEMA)

    def get(self, fingerprint: str, episode: float) -> Ack | None:
        with self._store.transaction() as db:
            row = db.execute(
                "SELECT fingerprint, episode, user_id, user_name, at FROM notify_acks"
                " WHERE fingerprint = ? AND episode = ?",
                (fingerprint, episode),
            ).fetchone()
        if row is None:
            return None
        return Ack(str(row[0]), float(row[1]), str(row[2]), str(row[3]), float(row[4]))

    def add(self, fingerprint: str, episode: float, user_id: str, user_name: str, at: float) -> Ack:
        """Record the first acknowledgement of the episode; a later one returns the first unchanged."""
        with self._store.transaction() as db:
            db.execute(
                "INSERT INTO notify_acks (fingerprint, episode, user_id, user_name, at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (fingerprint, episode, user_id, user_name, at),
            )
        found = self.get(fingerprint, episode)
        assert found is not None
        return found


@dataclass(frozen=True)
class Outcome:
    """What a press changed: ``note`` for the alert's thread, or ``private`` for the presser alone."""

    note: str | None = None
    private: str | None = None
    silence: Silence | None = None
    ack: Ack | None = None
    verdict: PageVerdict | None = None


OnVerdict = Callable[[PageVerdict, Alert | None], None]
"""Told of every changed verdict, with the engine's alert when it still has that episode."""


class AlertActions:
    """Decides the alert buttons' presses; ``find`` returns the engine's alert by fingerprint.

    ``pages`` records Not an incident / It was real (without it those presses are refused,
    privately); ``on_verdict`` hears of each verdict that changed.
    """

    def __init__(
        self,
        silences: Silences,
        acks: Acks,
        find: Callable[[str], Alert | None],
        pages: Pages | None = None,
        on_verdict: OnVerdict | None = None,
    ) -> None:
        self.silences = silences
        self.acks = acks
        self.pages = pages
        self._find = find
        self._on_verdict = on_verdict

    def press(self, press: Press, now: float) -> Outcome:
        """Silence, acknowledge or judge the alert, once; a repeated or impossible press only
        answers privately."""
        alert = self._find(press.fingerprint)
        if press.verb in (NOISE, REAL):
            return self._judge(alert, press, now)
        if alert is None:
            return Outcome(private="This alert is no longer known to the engine (its rule was removed?).")
        if press.verb == ACK:
            return self._acknowledge(alert, press, now)
        return self._silence(alert, press, now)

    def standing(self, alert: Alert, now: float) -> Standing:
        """What people did about the alert, for the message's later renderings (repeat, resolution)."""
        lines = []
        ack = self.acks.get(alert.fingerprint, episode(alert))
        if ack is not None:
            lines.append(f":eyes: Acknowledged by {ack.who} at {_when(ack.at, now)}")
        labels = silence_labels(alert)
        muting = [s for s in self.silences.active(now) if s.mutes(labels, now)]
        if muting:
            longest = max(muting, key=lambda s: (s.ends_at, s.id))
            lines.append(f":mute: {_silenced(longest, now)}")
        verdict = None
        if self.pages is not None and alert.active_at is not None:
            verdict = self.pages.verdict(alert.fingerprint, alert.active_at)
        false_page = verdict is not None and verdict.noise
        if verdict is not None and verdict.noise:
            lines.append(
                f":white_check_mark: Not an incident, said {_by(verdict)} at {_when(verdict.at, now)}"
            )
        return Standing(
            tuple(lines), acknowledged=ack is not None, silenced=bool(muting), false_page=false_page
        )

    def _judge(self, alert: Alert | None, press: Press, now: float) -> Outcome:
        """Record Not an incident (``noise``) or It was real on the episode the button names."""
        noise = press.verb == NOISE
        if self.pages is None:
            return Outcome(private="Verdicts on pages are not recorded by this engine.")
        assert press.episode is not None  # parse_press gives every verdict press its episode
        current = alert if alert is not None and alert.active_at == press.episode else None
        page = self.pages.page(press.fingerprint, press.episode)
        if current is not None:
            page = Page.of(current) or page
        if page is None:
            return Outcome(
                private="This alert's episode is not known to the engine any more (or it never fired):"
                " there is no page to judge."
            )
        name = _plain_page(page)
        before = self.pages.verdict(page.fingerprint, page.active_at)
        if not noise and (before is None or not before.noise):
            return Outcome(
                private=f"{name} was not marked as not an incident: there is nothing to take back."
            )
        verdict, changed = self.pages.judge(
            page, noise=noise, user_id=press.user_id, user_name=press.user_name, at=now
        )
        if not changed:
            return Outcome(
                private=f"{name} was already marked not an incident by {verdict.by} at {_when(verdict.at, now)}.",
                verdict=verdict,
            )
        if self._on_verdict is not None:
            self._on_verdict(verdict, current)
        title = _title_page(page)
        if noise:
            note = (
                f":white_check_mark: {title} marked *not an incident* by {press.who} at {_when(now, now)}:"
                " counted as a false page of its rule, and its period is trained on as normal from the next refit"
            )
        else:
            note = (
                f":rotating_light: {title} marked *real* by {press.who} at {_when(now, now)}"
                f" (taking back {before.by if before else 'someone'}'s not an incident)"
            )
        return Outcome(note=note, verdict=verdict)

    def _acknowledge(self, alert: Alert, press: Press, now: float) -> Outcome:
        if alert.state is not AlertState.FIRING:
            return Outcome(
                private=f"{_plain(alert)} is {alert.state.value}: there is nothing to acknowledge."
            )
        start = episode(alert)
        earlier = self.acks.get(alert.fingerprint, start)
        if earlier is not None:
            return Outcome(
                private=f"{_plain(alert)} was already acknowledged by"
                f" {earlier.user_name or earlier.user_id} at {_when(earlier.at, now)}.",
                ack=earlier,
            )
        ack = self.acks.add(alert.fingerprint, start, press.user_id, press.user_name, now)
        return Outcome(note=f":eyes: {_title(alert)} acknowledged by {ack.who} at {_when(now, now)}", ack=ack)

    def _silence(self, alert: Alert, press: Press, now: float) -> Outcome:
        labels = silence_labels(alert)
        matchers = [f"{name}={_quoted(value)}" for name, value in sorted(labels.items())]
        existing = self.silences.same(matchers, now)
        title, plain = _title(alert), _plain(alert)
        if press.option == UNTIL_RESOLVED:
            if alert.state is not AlertState.FIRING:
                return Outcome(
                    private=f"{plain} is {alert.state.value}: nothing to silence until it resolves."
                )
            tied = [s for s in existing if s.ends_with == alert.fingerprint]
            if tied:
                shown = _silenced(tied[0], now, plain=True)
                return Outcome(private=f"{plain} is already {shown}.", silence=tied[0])
            silence = self.silences.add(
                matchers,
                ends_at=now + UNTIL_RESOLVED_AT_MOST,
                now=now,
                created_by=press.author,
                comment="from Slack: until the alert resolves",
                ends_with=alert.fingerprint,
            )
            return Outcome(note=f":mute: {title} {_silenced(silence, now, by=press.who)}", silence=silence)
        length = SILENCE_FOR[press.option]
        ends_at = now + length
        if existing and existing[0].ends_at >= ends_at - RENEW_BY_AT_LEAST:
            shown = _silenced(existing[0], now, plain=True)
            return Outcome(private=f"{plain} is already {shown}.", silence=existing[0])
        fixed = [s for s in existing if not s.ends_with]
        try:
            if fixed:
                silence = self.silences.extend(fixed[0].id, ends_at, now)
            else:
                silence = self.silences.add(
                    matchers,
                    ends_at=ends_at,
                    now=now,
                    created_by=press.author,
                    comment=f"from Slack: {format_duration(length)}",
                )
        except SilenceError as exc:  # labels that cannot make a silence (none at all)
            return Outcome(private=f"Could not silence {plain}: {exc}")
        verb = "extended" if fixed else "silenced"
        return Outcome(
            note=f":mute: {title} {verb} by {press.who} for {format_duration(length)}, until {_when(ends_at, now)}"
            f" (silence `{silence.id}`; `alerter silence expire {silence.id}` ends it early)",
            silence=silence,
        )


def silence_labels(alert: Alert) -> Mapping[str, str]:
    """The labels routes and silences see: the series labels plus ``alertname``."""
    labels = dict(alert.labels.items())
    labels.setdefault("alertname", alert.rule)
    return labels


def episode(alert: Alert) -> float:
    """When the alert's current episode began: an acknowledgement holds for that episode only."""
    start = alert.fired_at if alert.fired_at is not None else alert.active_at
    return float(start) if start is not None else 0.0


def _by(verdict: PageVerdict) -> str:
    """``by <@U1>``: who gave the verdict, as a Slack mention when the id is known."""
    return f"by <@{verdict.user_id}>" if verdict.user_id else f"by {mrkdwn.escape(verdict.by)}"


def _title_page(page: Page) -> str:
    """``*Rule* `k=v, ...` `` of a recorded page, as ``_title`` names a live alert."""
    series = ", ".join(
        f"{k}={v}" for k, v in sorted(page.labels.items()) if k not in ("alertname", "severity")
    )
    name = mrkdwn.shorten(page.rule, 200, mrkdwn.ELLIPSIS)
    shown = f" `{mrkdwn.shorten(series, 300, mrkdwn.ELLIPSIS)}`" if series else ""
    return f"*{name}*{shown}"


def _plain_page(page: Page) -> str:
    series = ", ".join(
        f"{k}={v}" for k, v in sorted(page.labels.items()) if k not in ("alertname", "severity")
    )
    return f"{page.rule} ({series[:300]})" if series else page.rule


def _quoted(value: str) -> str:
    """A matcher value in double quotes, escaped as ``config.types.Matcher`` reads it back."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _silenced(silence: Silence, now: float, *, by: str | None = None, plain: bool = False) -> str:
    """``silenced by @ann until 04:12 UTC``: the expiry, and who, as the thread and message say it
    (mrkdwn, or ``plain`` text for a private reply)."""
    author = silence.created_by or "someone"
    who = by if by is not None else (author if plain else mrkdwn.escape(author))
    if silence.ends_with:
        return (
            f"silenced by {who} until it resolves (at the latest {_when(silence.ends_at, now)};"
            f" silence `{silence.id}`)"
        )
    return f"silenced by {who} until {_when(silence.ends_at, now)} (silence `{silence.id}`)"


def _title(alert: Alert) -> str:
    """``*Rule* `k=v, ...` `` naming the alert in a thread note (several may share a thread)."""
    series = ", ".join(f"{k}={v}" for k, v in alert.labels.items() if k not in ("alertname", "severity"))
    name = mrkdwn.shorten(alert.rule, 200, mrkdwn.ELLIPSIS)
    shown = f" `{mrkdwn.shorten(series, 300, mrkdwn.ELLIPSIS)}`" if series else ""
    return f"*{name}*{shown}"


def _plain(alert: Alert) -> str:
    """The alert's name and series as plain text, for a private reply."""
    series = ", ".join(f"{k}={v}" for k, v in alert.labels.items() if k not in ("alertname", "severity"))
    return f"{alert.rule} ({series[:300]})" if series else alert.rule


def _when(ts: float, now: float) -> str:
    """``03:12 UTC``, with the date when it is not ``now``'s day (a silence of 4h may end tomorrow)."""
    moment = datetime.fromtimestamp(ts, UTC)
    if moment.date() == datetime.fromtimestamp(now, UTC).date():
        return moment.strftime("%H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M UTC")
