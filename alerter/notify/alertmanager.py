"""The Alertmanager receiver: forwards alerts to ``POST /api/v2/alerts``.

For teams whose routing, silencing and paging already live in an Alertmanager cluster (which
also deduplicates across several alerter replicas). Alertmanager resolves an alert on its own
when ``endsAt`` passes, so firing alerts carry ``endsAt = now + 4 × resend_interval`` and the
pipeline re-sends them every ``resend_interval`` (Prometheus does the same); resolved alerts
carry their resolution time. Each payload holds the group's whole state, so the outbox may drop
older undelivered payloads of a group in favour of the newest (``coalesce``).

Alertmanager validates each alert of a batch on its own: it stores the valid ones and answers
400 with the errors of the others, joined by "; ", without saying which alerts they belong to
(``postAlertsHandler`` in prometheus/alertmanager ``api/v2/api.go``). The receiver finds the
refused alerts by judging them as Alertmanager does (``refusal``), or, when the server judges
differently (another version), by sending halves of the batch again, which is harmless for the
accepted ones. The delivery then counts as sent, with the refused alerts named
(``PartialDelivery``), and later sends of the group leave those alerts out while they stay
unchanged, so one bad alert does not answer every resend of the others with a 400.

Requests carry basic auth or a bearer token and use the receiver's TLS settings (CA, client
certificate), as Prometheus' ``alertmanager_config`` does; the wiring reads them from config.
"""

from __future__ import annotations

import json
import re
import ssl
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from alerter.core.errors import NotifyError
from alerter.core.model import Alert, AlertState
from alerter.notify.base import Notification, Payload
from alerter.notify.http import HTTPStatusError, post_json
from alerter.notify.secret import Secret
from alerter.notify.sender import PartialDelivery

REMEMBERED = 10_000
"""Refused alerts remembered per receiver (oldest forgotten first): bounded memory, and far more
distinct bad alerts than any group holds."""

NAMED = 10
"""Refused alerts named in one error message; the rest are counted."""

_LEGACY_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
"""Label and annotation names Alertmanager 0.25 accepts (prometheus/common ``model.LabelName.IsValid``)."""

_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert_labels(alert: Alert) -> dict[str, str]:
    """The alert's labels with ``alertname`` set, as Alertmanager requires."""
    return {"alertname": alert.rule, **dict(alert.labels)}


def refusal(alert: dict[str, Any]) -> list[str]:
    """The errors Alertmanager 0.25 may give for one posted alert; empty when it accepts it.

    Mirrors ``postAlertsHandler`` (empty label values dropped first) and prometheus/common
    ``model.Alert.Validate`` (``model/alert.go``), in its order. A label set is checked name by
    name in Go's random map order, so each invalid name is a possible error. Label values are
    always valid UTF-8 here: a Python string has no invalid bytes to send.
    """
    labels = {k: v for k, v in alert.get("labels", {}).items() if v != ""}
    starts, ends = alert.get("startsAt"), alert.get("endsAt")
    if starts and ends and _time(ends) < _time(starts):
        return ["start time must be before end time"]
    bad = [f"invalid label set: invalid name {_go_quote(n)}" for n in labels if not _LEGACY_NAME.match(n)]
    if bad:
        return bad
    if not labels:
        return ["at least one label pair required"]
    annotations = alert.get("annotations", {})
    return [
        f"invalid annotations: invalid name {_go_quote(n)}" for n in annotations if not _LEGACY_NAME.match(n)
    ]


def match_refusals(alerts: Sequence[dict[str, Any]], answer: str) -> list[tuple[int, str]] | None:
    """(index, error) of the refused alerts when ``answer`` is exactly their errors in batch order.

    None when it is not: the server judged differently, and the caller must find out by sending.
    """
    found: list[tuple[int, str]] = []
    at = 0
    for index, alert in enumerate(alerts):
        possible = refusal(alert)
        if not possible:
            continue
        separator = "; " if found else ""
        match = next((p for p in possible if answer.startswith(separator + p, at)), None)
        if match is None:
            return None
        found.append((index, match))
        at += len(separator) + len(match)
    return found if found and at == len(answer) else None


class AlertmanagerNotifier:
    """One Alertmanager (or a load balancer in front of a cluster)."""

    coalesce = True
    threads = False
    burst_limit = None

    def __init__(
        self,
        name: str,
        url: str,
        *,
        timeout: float = 10.0,
        resend_interval: float = 60.0,
        generator_url: Callable[[Alert, float], str] | None = None,
        authorization: Secret | None = None,
        context: ssl.SSLContext | None = None,
    ) -> None:
        """``authorization`` is the ``Authorization`` header's value (``http.bearer``,
        ``http.basic``); ``context`` the TLS settings (``http.client_context``)."""
        if not url.startswith(("http://", "https://")):
            raise ValueError(
                f"alertmanager receiver {name!r}: url must start with http:// or https://, got {url!r}"
            )
        if resend_interval <= 0:
            raise ValueError(f"alertmanager receiver {name!r}: resend_interval must be > 0")
        self.name = name
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.resend_interval = resend_interval
        self.generator_url = generator_url
        self.authorization = authorization
        self.context = context
        self._refused: OrderedDict[str, bool] = OrderedDict()
        """Identities of refused alerts, each with whether ``refusal`` explained its refusal."""

    def __repr__(self) -> str:
        auth = self.authorization is not None
        return f"AlertmanagerNotifier(name={self.name!r}, url={self.url!r}, authorization={auth})"

    def render(self, notification: Notification) -> Payload:
        alerts = [self._alert(a, notification.now) for a in notification.alerts]
        firing = [i for i, a in enumerate(notification.alerts) if a.state is not AlertState.RESOLVED]
        return Payload(notification.kind, {"alerts": alerts, "firing": firing})

    def _alert(self, alert: Alert, now: float) -> dict[str, Any]:
        started = alert.fired_at or alert.active_at or now
        if alert.state is AlertState.RESOLVED:
            ends = alert.resolved_at if alert.resolved_at is not None else now
        else:
            ends = now + 4 * self.resend_interval
        out: dict[str, Any] = {
            "labels": alert_labels(alert),
            "annotations": dict(alert.annotations),
            "startsAt": rfc3339(started),
            "endsAt": rfc3339(ends),
        }
        if self.generator_url is not None:
            out["generatorURL"] = self.generator_url(alert, now)
        return out

    def deliver(self, payload: Payload, key: str, thread: str | None, now: float) -> str | None:
        """POST the alerts; firing ones get ``endsAt`` from the send time, not the render time,
        so alerts held back by an outage do not arrive already expired. Alerts refused before
        are left out; newly refused ones raise ``PartialDelivery`` (or a permanent
        ``NotifyError`` when every alert was refused)."""
        alerts = [dict(a) for a in payload.body["alerts"]]
        for index in payload.body.get("firing", []):
            alerts[index]["endsAt"] = rfc3339(now + 4 * self.resend_interval)
        sending = [a for a in alerts if not self._still_refused(a)]
        if not sending:
            return thread
        try:
            self._post(sending)
        except HTTPStatusError as err:
            if err.status != 400:
                raise
            refused, judged = self._find_refused(sending, err.body)
            for index, _ in refused:
                self._remember(sending[index], judged)
            message = self._describe(refused, sending, err)
            if len(refused) == len(sending):
                raise NotifyError(message, retryable=False) from None
            raise PartialDelivery(message, refused=len(refused), thread=thread) from None
        return thread

    def recover(self, payload: Payload, key: str, thread: str | None) -> tuple[bool, str | None]:
        """Posting the same alerts again is harmless: Alertmanager merges them."""
        return False, thread

    def _post(self, alerts: Sequence[dict[str, Any]]) -> None:
        body = json.dumps(list(alerts)).encode()
        what = f"alertmanager receiver {self.name}"
        headers = {} if self.authorization is None else {"Authorization": self.authorization.reveal()}
        post_json(
            f"{self.url}/api/v2/alerts",
            body,
            what=what,
            timeout=self.timeout,
            headers=headers,
            context=self.context,
        )

    def _find_refused(
        self, alerts: Sequence[dict[str, Any]], answer: str
    ) -> tuple[list[tuple[int, str]], bool]:
        """(index, error) of the alerts Alertmanager refused (it has stored the others), and
        whether ``refusal`` explained them (else they were found by sending halves again)."""
        errors = _error_list(answer)
        matched = match_refusals(alerts, errors)
        if matched is not None:
            return matched, True
        return self._bisect(alerts, range(len(alerts)), errors, known_bad=True), False

    def _bisect(
        self, alerts: Sequence[dict[str, Any]], indices: range, errors: str, *, known_bad: bool = False
    ) -> list[tuple[int, str]]:
        """Send ``indices`` again (halving) to find the refused alerts, for a server whose rules
        differ from ``refusal``. Accepted alerts are merely merged again by Alertmanager."""
        if not known_bad:
            try:
                self._post([alerts[i] for i in indices])
                return []
            except HTTPStatusError as err:
                if err.status != 400:
                    raise
                errors = _error_list(err.body)
        if len(indices) == 1:
            return [(indices[0], errors)]
        middle = len(indices) // 2
        return self._bisect(alerts, indices[:middle], errors) + self._bisect(alerts, indices[middle:], errors)

    def _remember(self, alert: dict[str, Any], judged: bool) -> None:
        self._refused[_identity(alert)] = judged
        while len(self._refused) > REMEMBERED:
            self._refused.popitem(last=False)

    def _still_refused(self, alert: dict[str, Any]) -> bool:
        """True for an alert refused before that would be refused again. One that ``refusal``
        explained is judged again (an end before the start heals as time passes); one found by
        sending stays left out, since only the server knows its rules."""
        identity = _identity(alert)
        judged = self._refused.get(identity)
        if judged is None:
            return False
        if judged and not refusal(alert):
            del self._refused[identity]
            return False
        return True

    def _describe(
        self, refused: list[tuple[int, str]], alerts: Sequence[dict[str, Any]], err: HTTPStatusError
    ) -> str:
        what = f"alertmanager receiver {self.name}"
        if not refused:
            return f"{what}: HTTP 400 ({err.body[:200]}), yet every alert was accepted when sent again"
        named = "; ".join(f"{_show(alerts[i])}: {reason}" for i, reason in refused[:NAMED])
        more = f"; and {len(refused) - NAMED} more" if len(refused) > NAMED else ""
        return (
            f"{what}: Alertmanager refused {len(refused)} of {len(alerts)} alert(s) (HTTP 400), "
            f"left out of later sends while unchanged: {named}{more}"
        )


def _identity(alert: dict[str, Any]) -> str:
    """What a refusal can depend on: the labels, the annotations' names and the start. Not the
    annotations' values, which templates change from one evaluation to the next, nor the
    ``endsAt`` that every firing send moves."""
    names = sorted(alert.get("annotations", {}))
    return json.dumps([alert.get("labels"), names, alert.get("startsAt")], sort_keys=True)


def _show(alert: dict[str, Any]) -> str:
    labels = dict(alert.get("labels", {}))
    name = labels.pop("alertname", "")
    inner = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in sorted(labels.items()))
    return f"{name or '(no alertname)'}{{{inner}}}"


def _error_list(answer: str) -> str:
    """The text of a 400: Alertmanager answers a JSON string (go-swagger encodes the payload)."""
    try:
        decoded = json.loads(answer)
    except ValueError:
        return answer
    return decoded if isinstance(decoded, str) else answer


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _go_quote(text: str) -> str:
    """Go's ``%q`` (``strconv.Quote``) of a name, as Alertmanager writes it in its errors."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)
