"""The HTTP endpoints of a running engine, registered on the server by the app.

Read-only views (alerts, rules, status, notifications, remediation actions) plus the few writes
an operator or Slack needs: silences, reloads, the Approve / Reject buttons of remediation
proposals and the Silence / Acknowledge buttons of alert messages. Writes pass ``auth`` first (a write token when ``server.auth`` is set), reads too when
``protect_reads`` is; probes and ``/metrics`` are always open. Slack callbacks are accepted only
with a valid signature from a configured signing secret, are answered at once and decided in the
background; nothing here returns a secret. Handlers depend on the narrow Protocols of ``ports``
(the app satisfies them), never on the app itself.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from alerter.core.durations import parse_duration
from alerter.core.errors import ActionError
from alerter.service import api
from alerter.service.auth import Access, Caller
from alerter.service.ports import (
    Approvals,
    Guarded,
    Notifications,
    Remediation,
    Service,
    SlackCallbacks,
    Views,
)
from alerter.service.server import Handler, Request, Response, Server

if TYPE_CHECKING:
    from alerter.notify.slack.actions import Press

log = logging.getLogger(__name__)

Guard = Callable[[Callable[[Request, Caller], Response]], Handler]


def install(server: Server, app: Service) -> None:
    """Register every endpoint; handlers read ``app`` on each request, so a reload shows at once."""
    read, write = _guard(app, Access.READ), _guard(app, Access.WRITE)
    server.metrics(app.metrics.exposition)
    server.route("GET", "/healthz", lambda _: Response.text("ok\n"))
    server.route(
        "GET",
        "/readyz",
        lambda _: Response.text("ready\n") if app.ready else Response.text("stopping\n", 503),
    )
    server.route(
        "GET",
        "/api/v1/alerts",
        read(lambda r, _: _alerts(app, r)),
    )
    server.route("GET", "/api/v1/rules", read(lambda *_: _rules(app)))
    server.route("GET", "/api/v1/status", read(lambda *_: Response.json(app.status())))
    server.route("POST", "/-/reload", write(lambda *_: _reload(app)))
    server.route("GET", "/api/v1/silences", read(lambda r, _: _silences(app, r)))
    server.route("POST", "/api/v1/silences", write(lambda r, caller: _add_silence(app, r, caller)))
    server.route("DELETE", "/api/v1/silences", write(lambda r, _: _expire_silence(app, r)))
    server.route("GET", "/api/v1/notifications", read(lambda r, _: _notifications(app, r)))
    server.route("GET", "/api/v1/actions", read(lambda *_: _actions(app)))
    server.route("POST", "/slack/interactions", lambda r: _slack_interaction(app, r))


def _guard(app: Guarded, need: Access) -> Guard:
    """Wrap handlers so they run only for a caller ``app.auth`` lets through, and learn who it is."""

    def wrap(handler: Callable[[Request, Caller], Response]) -> Handler:
        def guarded(request: Request) -> Response:
            verdict = app.auth.check(request, need)
            return verdict if isinstance(verdict, Response) else handler(request, verdict)

        return guarded

    return wrap


def _alerts(app: Views, request: Request) -> Response:
    """``?state=`` keeps those states; ``?fingerprint=`` one alert (the link in Slack messages)."""
    payload = api.alerts_json(app.engine, request.query.get("state", []))
    wanted = set(request.query.get("fingerprint", []))
    if wanted:
        payload["alerts"] = [a for a in payload["alerts"] if a["fingerprint"] in wanted]
    return Response.json(payload)


def _rules(app: Service) -> Response:
    """The rules, with their pages and confirmed false pages over the last ``pages.WINDOW``."""
    from alerter.notify.pages import WINDOW

    now = app.clock()
    pages = app.alert_actions.pages
    counts = pages.counts(now - WINDOW, now) if pages is not None else None
    payload = api.rules_json(app.engine, counts)
    if counts is not None:
        payload["pages_window_seconds"] = WINDOW
    return Response.json(payload)


def _reload(app: Views) -> Response:
    ok = app.reload(app.clock())
    return Response.json(app.status(), 200 if ok else 400)


def _silences(app: Notifications, request: Request) -> Response:
    include = request.query.get("expired", ["false"])[0] == "true"
    now = app.clock()
    return Response.json(
        {"silences": [s.as_json(now) for s in app.silences.list(now, include_expired=include)]}
    )


MAX_SILENCE_SECONDS = 366 * 86400.0
"""Longest silence the API accepts: a longer one is a rule to delete, not an alert to mute."""
MAX_TEXT = 1000
"""Longest ``created_by`` or ``comment``, in characters."""


class _BadRequest(ValueError):
    """A silence request that cannot be honoured; the message names the field and the fix."""


def _silence_request(body: object, now: float) -> tuple[list[str], float, str, str]:
    """(matchers, ends_at, created_by, comment) of a POST /api/v1/silences body, validated."""
    if not isinstance(body, dict):
        raise _BadRequest(
            f"the body must be a JSON object, got {type(body).__name__}: "
            '{"matchers": ["alertname=\\"X\\""], "duration": "2h", "comment": "..."}'
        )
    matchers = body.get("matchers", [])
    if not isinstance(matchers, list) or not all(isinstance(m, str) for m in matchers):
        raise _BadRequest('matchers: must be a list of strings such as "alertname=\\"X\\""')
    if "ends_at" in body:
        raw = body["ends_at"]
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            raise _BadRequest(f"ends_at: must be a unix time in seconds, got {raw!r}")
        ends_at = float(raw)
    else:
        raw = body.get("duration", "2h")
        if not isinstance(raw, str):
            raise _BadRequest(f'duration: must be a duration string such as "2h", got {raw!r}')
        try:
            ends_at = now + parse_duration(raw)
        except ValueError as exc:
            raise _BadRequest(f"duration: {exc}") from None
    if not ends_at > now:
        raise _BadRequest("ends_at: must be in the future")
    if ends_at - now > MAX_SILENCE_SECONDS:
        raise _BadRequest("duration: a silence lasts at most 366d; delete or fix the rule instead")
    texts = []
    for field in ("created_by", "comment"):
        value = body.get(field, "")
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise _BadRequest(f"{field}: must be a string of at most {MAX_TEXT} characters")
        texts.append(value)
    return matchers, ends_at, texts[0], texts[1]


def _add_silence(app: Notifications, request: Request, caller: Caller) -> Response:
    """Create a silence; with authentication its author is the caller, whatever the body claims."""
    from alerter.notify import SilenceError

    now = app.clock()
    try:
        body = json.loads(request.body or b"{}")
        matchers, ends_at, claimed, comment = _silence_request(body, now)
        created_by = caller.author(claimed)
        silence = app.silences.add(matchers, ends_at=ends_at, now=now, created_by=created_by, comment=comment)
    except (ValueError, TypeError, RecursionError, SilenceError) as exc:
        return Response.json({"error": str(exc) or "the body is not valid JSON"}, 400)
    return Response.json(silence.as_json(now), 201)


def _expire_silence(app: Notifications, request: Request) -> Response:
    from alerter.notify import SilenceError

    ids = request.query.get("id", [])
    if not ids:
        return Response.json({"error": "give ?id=<silence id>"}, 400)
    try:
        silence = app.silences.expire(ids[0], app.clock())
    except SilenceError as exc:
        return Response.json({"error": str(exc)}, 404)
    return Response.json(silence.as_json(app.clock()))


def _notifications(app: Notifications, request: Request) -> Response:
    if app.pipeline is None:
        return Response.json({"notifications": [], "note": "no receivers configured"})
    receiver = request.query.get("receiver", [None])[0]
    entries = app.pipeline.outbox.history(receiver=receiver, limit=200)
    return Response.json({"notifications": [e.as_json() for e in entries]})


def _actions(app: Remediation) -> Response:
    from alerter.remediate import audit

    payload: dict[str, object] = {
        "actions": [r.to_json() for r in audit.list_actions(app.store, limit=200)],
        "events": audit.AuditLog(app.store).events(limit=200),
        "paused": audit.is_paused(app.store),
    }
    if app.remediation_error:
        payload["disabled"] = app.remediation_error
    return Response.json(payload)


def _slack_interaction(app: SlackCallbacks, request: Request) -> Response:
    """Slack's buttons: verify the signature, acknowledge, then decide in the background.

    Approve / Reject go to the remediation runner; Silence / Acknowledge / Not an incident / It
    was real (``silence:*``, ``ack``, ``noise``, ``real``) to ``alert_actions``.

    Slack shows the user an error when the answer takes more than 3 s, and a decision makes
    several Kubernetes calls, so the callback answers as soon as the request is known to be
    sound, with Bolt's bare ``ack()``: an empty 200
    (https://docs.slack.dev/tools/bolt-python/concepts/acknowledge). The outcome reaches the
    alert's thread as every remediation event does; a decision that cannot be made is logged.
    """
    from alerter.notify import SignatureError, parse_interaction, verify_signature
    from alerter.notify.slack.actions import is_alert_action, parse_press

    timestamp = request.headers.get("x-slack-request-timestamp", "")
    signature = request.headers.get("x-slack-signature", "")
    now = app.clock()
    for secret in app.signing_secrets.values():
        try:
            verify_signature(secret, timestamp, request.body, signature, now)
            break
        except SignatureError:
            continue
    else:
        log.warning("slack callback rejected: bad or missing signature")
        return Response.json({"error": "invalid signature"}, 401)
    try:
        interaction = parse_interaction(request.body)
    except ValueError as exc:
        return Response.json({"error": str(exc)}, 400)
    if is_alert_action(interaction.action_id):
        try:
            press = parse_press(
                interaction.action_id, interaction.value, interaction.user_id, interaction.user_name
            )
        except ValueError as exc:
            return Response.json({"error": str(exc)}, 400)
        reply_to = interaction.response_url
        app.defer(lambda: _press(app, press, now, reply_to))
        return Response(200)
    verb = interaction.action_id.split(":")[0]
    runner = app.runner
    if verb not in ("approve", "reject") or runner is None:
        return Response.json({"error": f"unknown action {interaction.action_id!r}"}, 400)
    try:
        action_id = int(interaction.value)
    except ValueError:
        return Response.json({"error": f"button value {interaction.value!r} is not an action id"}, 400)
    by = interaction.user_name or interaction.user_id
    reply_to = interaction.response_url
    app.defer(lambda: _decide(app, runner, verb, action_id, by, now, reply_to))
    return Response(200)


def _decide(
    app: Remediation, runner: Approvals, verb: str, action_id: int, by: str, now: float, reply_to: str
) -> None:
    """The decision behind a button, at the time of the click; its events go to the alert's thread.

    A decision that cannot be made (already decided by someone else, expired) is logged and told
    to the person who pressed the button, privately: the thread has nothing new to show.
    """
    decide = runner.approve if verb == "approve" else runner.reject
    try:
        events = decide(action_id, by, now)
    except ActionError as exc:
        log.warning(
            "remediation decision refused",
            extra={"verb": verb, "action_id": action_id, "by": by, "error": str(exc)},
        )
        if reply_to:
            app.reply_privately(reply_to, f"Could not {verb} action {action_id}: {exc}")
        return
    app.post_events(events, now)


def _press(app: SlackCallbacks, press: Press, now: float, reply_to: str) -> None:
    """An alert button's press, at the time of the click: what it changed goes into the alert's
    thread (every open group holding it); a press that changes nothing (pressed again, the alert
    already resolved) is told to the person who pressed, privately. So is a change no thread can
    show: a Not an incident pressed after the alert's group closed."""
    from alerter.notify import note_message

    outcome = app.alert_actions.press(press, now)
    log.info(
        "slack alert button",
        extra={
            "verb": press.verb,
            "option": press.option,
            "fingerprint": press.fingerprint,
            "by": press.user_name or press.user_id,
            "changed": outcome.note is not None,
            "silence": outcome.silence.id if outcome.silence is not None else "",
            "verdict": "" if outcome.verdict is None else ("noise" if outcome.verdict.noise else "real"),
        },
    )
    private = outcome.private
    note = outcome.note
    if (
        note is not None
        and app.pipeline is not None
        and not app.pipeline.note(press.fingerprint, note_message(note), now)
    ):
        private = note  # no open group holds the alert any more: tell the presser at least
    if private is not None and reply_to:
        app.reply_privately(reply_to, private)
