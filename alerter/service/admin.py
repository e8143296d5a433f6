"""Operator commands that act on the engine's store: silences, remediation actions, the kill switch.

Called by the ``alerter`` command (``silence add|list|expire``, ``actions list``,
``remediation pause|resume``). They open the store named by ``alerter.yaml`` directly, so they
work whether or not the engine is running (SQLite serialises the writers), and a running engine
sees the change at its next tick.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from alerter.config import load
from alerter.core.durations import parse_duration
from alerter.notify.mute import SilenceError, Silences
from alerter.remediate import audit
from alerter.store.sqlite import Store


def open_store(config_path: str) -> Store:
    """The store of the engine configured by ``config_path`` (rule files are not needed here)."""
    bundle = load(config_path)
    assert bundle.config is not None
    path = Path(bundle.config.storage.path)
    if not path.is_absolute():
        path = Path(config_path).parent / path
    return Store(path)


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


def _switch(pause: bool) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        with open_store(args.config) as store:
            (audit.pause if pause else audit.resume)(store, time.time(), args.by)
        print("remediation paused: no action will be taken" if pause else "remediation resumed")
        return 0

    return run


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``silence``, ``actions`` and ``remediation`` to the ``alerter`` command."""
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

    switch = sub.add_parser("remediation", help="the global remediation kill switch").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    for name, pause in (("pause", True), ("resume", False)):
        parser = command(
            switch, name, "stop all remediation actions" if pause else "allow remediation actions again"
        )
        parser.add_argument("--by", default=user, help="who (recorded in the audit log)")
        parser.set_defaults(func=_switch(pause))
