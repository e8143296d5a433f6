"""Operator commands that act on the engine's store: silences, remediation actions, the kill switch,
the notification log.

Called by the ``alerter`` command (``silence add|list|expire``, ``actions list``,
``remediation pause|resume``, ``notifications list``). They open the store named by ``alerter.yaml`` directly, so they
work whether or not the engine is running (SQLite serialises the writers), and a running engine
sees the change at its next tick.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from alerter.config import load
from alerter.core.durations import parse_duration
from alerter.notify.mute import SilenceError, Silences
from alerter.notify.outbox import Entry, Outbox
from alerter.remediate import audit
from alerter.store.sqlite import Store


def open_store(config_path: str) -> Store:
    """The store of the engine configured by ``config_path`` (rule files are not needed here)."""
    bundle = load(config_path)
    assert bundle.config is not None
    return Store.from_config(bundle.config.storage, relative_to=Path(config_path).parent)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def silence_add(args: argparse.Namespace) -> int:
    now = time.time()
    try:
        duration = parse_duration(args.duration)
    except ValueError as exc:
        print(f"alerter silence add: --duration: {exc}", file=sys.stderr)
        return 2
    with open_store(args.config) as store:
        try:
            silence = Silences(store).add(
                args.matchers, ends_at=now + duration, now=now, created_by=args.by, comment=args.comment
            )
        except SilenceError as exc:
            print(f"alerter silence add: {exc}", file=sys.stderr)
            return 1
    print(f"silence {silence.id} until {_when(silence.ends_at)}")
    return 0


def silence_list(args: argparse.Namespace) -> int:
    now = time.time()
    with open_store(args.config) as store:
        silences = Silences(store).list(now, include_expired=args.all)
    if not silences:
        print("no silences")
    for s in silences:
        state = "active" if s.starts_at <= now < s.ends_at else ("expired" if s.ends_at <= now else "pending")
        matchers = ", ".join(str(m) for m in s.matchers)
        print(
            f"{s.id}  {state:8} until {_when(s.ends_at)}  {{{matchers}}}  by {s.created_by or '-'}: {s.comment}"
        )
    return 0


def silence_expire(args: argparse.Namespace) -> int:
    with open_store(args.config) as store:
        try:
            silence = Silences(store).expire(args.id, time.time())
        except SilenceError as exc:
            print(f"alerter silence expire: {exc}", file=sys.stderr)
            return 1
    print(f"silence {silence.id} expired")
    return 0


def actions_list(args: argparse.Namespace) -> int:
    with open_store(args.config) as store:
        print(audit.format_actions(audit.list_actions(store, limit=args.limit)))
    return 0


def format_notifications(entries: list[Entry]) -> str:
    """The notification log as a terminal table, oldest first so it reads like the channel.

    One line per message: when it was enqueued, where it went, how it went (``sent``,
    ``failed`` with the receiver's error, ``retrying``, ``pending``, ``superseded``), whether it
    opened a conversation, replied in its thread or closed it, why, and the message's text.
    """
    if not entries:
        return "no notifications"
    rows = [("CREATED", "RECEIVER", "STATE", "KIND", "REASON", "TEXT")]
    for e in sorted(entries, key=lambda e: e.id):
        shown = e.as_json()
        text = " ".join(str(shown["title"]).split())
        if e.last_error:
            retries = f" after {e.attempts} failed attempt(s)" if e.attempts else ""
            text += f"  (error{retries}: {e.last_error})"
        rows.append(
            (_when_seconds(e.created), e.receiver, str(shown["state"]), e.payload.kind.value, e.reason, text)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1] for row in rows
    )


def _when_seconds(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def notifications_list(args: argparse.Namespace, now: float | None = None) -> int:
    """``alerter notifications list``: what the engine sent (or tried to), from the outbox's log.

    The log keeps finished entries for the outbox's retention, so this answers "did the page go
    out, and when" after the fact, whether or not the engine is running.
    """
    since = None
    if args.since is not None:
        try:
            window = parse_duration(args.since)
        except ValueError as exc:
            print(f"alerter notifications list: --since: {exc}", file=sys.stderr)
            return 2
        since = (time.time() if now is None else now) - window
    if args.limit < 1:
        print(f"alerter notifications list: --limit must be at least 1, got {args.limit}", file=sys.stderr)
        return 2
    with open_store(args.config) as store:
        entries = Outbox(store).history(receiver=args.receiver, since=since, limit=args.limit)
    if args.json:
        print(json.dumps({"notifications": [e.as_json() for e in reversed(entries)]}, indent=2))
    else:
        print(format_notifications(entries))
    return 0


def _switch(pause: bool) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        with open_store(args.config) as store:
            (audit.pause if pause else audit.resume)(store, time.time(), args.by)
        print("remediation paused: no action will be taken" if pause else "remediation resumed")
        return 0

    return run


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``silence``, ``actions``, ``notifications`` and ``remediation`` to the ``alerter`` command."""
    user = getpass.getuser() if sys.platform != "win32" else "operator"

    def command(
        parent: argparse._SubParsersAction[argparse.ArgumentParser], name: str, helptext: str
    ) -> argparse.ArgumentParser:
        parser = parent.add_parser(name, help=helptext, description=helptext)
        parser.add_argument("--config", "-c", required=True, help="alerter.yaml (names the state database)")
        return parser

    silence = sub.add_parser("silence", help="mute notifications matching labels for a while").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    add = command(silence, "add", "create a silence")
    add.add_argument(
        "matchers", nargs="+", help='label matchers, e.g. alertname="TTFTAnomaly" model_name=~"llama.*"'
    )
    add.add_argument("--duration", "-d", default="2h", help="how long, as a duration (default 2h)")
    add.add_argument("--comment", default="", help="why (shown in alerts and lists)")
    add.add_argument("--by", default=user, help="who creates it (default: your user name)")
    add.set_defaults(func=silence_add)
    ls = command(silence, "list", "list silences")
    ls.add_argument("--all", action="store_true", help="include expired silences")
    ls.set_defaults(func=silence_list)
    expire = command(silence, "expire", "end a silence now")
    expire.add_argument("id", help="silence id (see `alerter silence list`)")
    expire.set_defaults(func=silence_expire)

    actions = sub.add_parser(
        "actions", help="remediation actions taken, proposed and skipped"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    lst = command(actions, "list", "print the remediation audit log")
    lst.add_argument("--limit", type=int, default=50)
    lst.set_defaults(func=actions_list)

    notifications = sub.add_parser(
        "notifications", help="the notification log: what was sent to Slack and the other receivers"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    nls = command(notifications, "list", "print the notification log, oldest first")
    nls.add_argument(
        "--since", metavar="DURATION", help="only those enqueued this long ago or later, e.g. 1h"
    )
    nls.add_argument("--receiver", "-r", help="only this receiver's (a name under receivers:)")
    nls.add_argument("--limit", type=int, default=100, help="the most recent N at most (default 100)")
    nls.add_argument(
        "--json", action="store_true", help="JSON with the fields of GET /api/v1/notifications, oldest first"
    )
    nls.set_defaults(func=notifications_list)

    switch = sub.add_parser("remediation", help="the global remediation kill switch").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    for name, pause in (("pause", True), ("resume", False)):
        parser = command(
            switch, name, "stop all remediation actions" if pause else "allow remediation actions again"
        )
        parser.add_argument("--by", default=user, help="who (recorded in the audit log)")
        parser.set_defaults(func=_switch(pause))
