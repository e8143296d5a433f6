"""``alerter backtest``: replay history through the real engine, notifications and remediation.

The CLI calls :func:`register` (adds the ``backtest`` subcommand) or :func:`main`; tests and the
benchmark call :func:`replay`. A backtest walks a clock from ``--from`` to ``--to`` in ``--step``
increments and runs, at each step, exactly what a live engine runs:

- every rule group whose ``interval`` has passed is ticked by an :class:`~alerter.engine.engine.Engine`
  with a fresh temporary store and baselines fitted synchronously, on data before the tick only
  (the engine queries ``now - history .. now``), refitted on each rule's own ``refit`` cadence;
- the remediation runner decides with a :class:`~alerter.remediate.recording.RecordingActuator`
  (policy gates and audit as in production, nothing touched);
- the notification pipeline (routing, grouping, silences of maintenance windows, dedup) flushes
  into :class:`~alerter.backtest.record.RecordingNotifier` receivers.

A ``--step`` coarser than a group's ``interval`` ticks that group once per step: faster, with
firing and resolution times rounded to the step (each tick still judges its whole trigger
window). Queries go through :class:`~alerter.backtest.source.PrefetchSource`, so each expression is
fetched from Prometheus once per step size rather than once per tick. ``--against`` replays a
second rule set over the same range and reports alerts found by only one of them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alerter.backtest import report
from alerter.backtest.closest import Closest, comparison, comparison_peak
from alerter.backtest.record import Delivery, Episode, Episodes, RecordingNotifier, event_json
from alerter.backtest.source import PrefetchSource
from alerter.backtest.truth import Truth, read_truth
from alerter.config import AppConfig, Bundle, load
from alerter.core.errors import AlerterError, ConfigErrors
from alerter.core.model import Alert
from alerter.engine.baselines import Baselines
from alerter.engine.engine import Engine
from alerter.notify import mute
from alerter.notify import wiring as notify_wiring
from alerter.notify.pages import Pages, PageVerdict
from alerter.remediate.audit import AuditLog
from alerter.remediate.recording import RecordingActuator
from alerter.remediate.runner import Event, Runner
from alerter.source import Source
from alerter.store.sqlite import Store

CHART_SPAN = 6 * 3600.0
"""Hours of data before an episode's end shown in its chart (longer episodes show all of it)."""
MAX_CHARTS = 60
"""Charts drawn per backtest; the rest of the episodes are listed without one."""


@dataclass
class Result:
    """Everything one replay recorded, plus how long it took."""

    start: float
    end: float
    step: float
    rules: list[str]
    episodes: list[Episode]
    deliveries: list[Delivery]
    events: list[dict[str, Any]]
    seconds: float = 0.0
    ticks: int = 0
    fetches: int = 0
    served: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)
    """What the recording actuator would have changed (auto-mode policies), in order."""
    closest: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per rule (engine name), how close it came to firing (``alerter.backtest.closest``)."""


def seed_actuator(config: AppConfig) -> RecordingActuator:
    """Targets the configured policies name, at their lower bound (1 replica, 100% on the primary)."""
    from alerter.remediate import wiring as remediate_wiring

    actuator = RecordingActuator()
    for policy in config.policies:
        spec = remediate_wiring.action_from_config(policy)
        namespace, name = spec.target
        ref = f"{namespace}/{name}"
        scale = policy.scale
        if scale is not None:
            actuator.replicas[ref] = scale.min_replicas or 1
        elif policy.route is not None:
            actuator.routes[ref] = [("primary", 100), (policy.route.backend, 0)]
        else:
            actuator.configmaps[ref] = {}
    return actuator


def _runner(config: AppConfig, store: Store) -> tuple[Runner | None, RecordingActuator | None]:
    if not config.policies:
        return None, None
    from alerter.remediate import wiring as remediate_wiring

    actuator = seed_actuator(config)
    policies = [remediate_wiring.policy_from_config(p) for p in config.policies]
    switches = remediate_wiring.switches_from_config(config.remediation)
    return Runner(AuditLog(store), actuator, policies, switches, leader=None), actuator


class _Replay:
    """One walk through history; owns the engine, pipeline and runner of this backtest only."""

    def __init__(
        self, bundle: Bundle, source: PrefetchSource, store: Store, start: float, charts: bool, pending: bool
    ) -> None:
        assert bundle.config is not None
        cfg = bundle.config
        self.source = source
        self.episodes = Episodes(pending=pending)
        self.events: list[dict[str, Any]] = []
        self.charts_left = MAX_CHARTS if charts else 0
        windows = notify_wiring.windows_from_config(cfg.maintenance)
        baselines = Baselines(source, store, exclusions=mute.maintenance_exclusions(windows))
        self._ticking = ""
        """The group being ticked: its alerts that the engine no longer hands over have ended."""
        self.engine = Engine(bundle, source, store, baselines, sink=self._sink, now=start)
        self.notifiers = {r.name: RecordingNotifier(r.name) for r in cfg.receivers}
        self.pipeline = (
            notify_wiring.pipeline_from_config(cfg, store, dict(self.notifiers)) if self.notifiers else None
        )
        self.runner, self.actuator = _runner(cfg, store)
        self._last: dict[str, float] = {}
        self.closest = Closest()

    def _sink(self, alerts: Sequence[Alert], now: float) -> None:
        by_fp = {a.fingerprint: a for a in alerts}
        for ended in self.episodes.observe_tick(alerts, now, self._ticking):
            alert = by_fp.get(ended.fingerprint)
            if alert is not None:
                self._chart(ended, alert, now)
        if self.pipeline is not None:
            self.pipeline.ingest(alerts, now)

    def _chart(self, episode: Episode, alert: Alert, now: float) -> None:
        """Draw the episode with the band as judged at its end (the detector of that moment)."""
        if self.charts_left <= 0:
            return
        self.charts_left -= 1
        span = max(CHART_SPAN, now - episode.active_at + 3600.0)
        episode.chart = report.chart(self.engine, alert, episode, now, span)

    def step(self, now: float) -> None:
        for name, plan in self.engine.groups.items():
            last = self._last.get(name)
            if last is None or now - last >= plan.interval - 1e-6:
                self._ticking = name
                self.closest.observe(plan.rules, self.engine.tick(name, now), now)
                self._last[name] = now
        if self.runner is not None:
            self._remediate(now)
        if self.pipeline is not None:
            self.pipeline.flush(now)

    def _remediate(self, now: float) -> None:
        assert self.runner is not None
        events: list[Event] = self.runner.step(self.engine.remediation_candidates(), now)
        self.events += [event_json(e) for e in events]
        if self.pipeline is None:
            return
        from alerter.notify import note_message

        for event in events:
            if event.message is not None:
                self.pipeline.note(event.message.alert, note_message(event.message.text), now)

    def finish(self, start: float, now: float) -> None:
        """Chart the episodes still firing at the end of the range; find threshold rules' near misses."""
        alerts = {a.fingerprint: a for a in self.engine.alerts()}
        for episode in list(self.episodes.open.values()):
            alert = alerts.get(episode.fingerprint)
            if alert is not None:
                self._chart(episode, alert, now)
        self._comparisons(start, now)

    def _comparisons(self, start: float, end: float) -> None:
        """For a threshold rule that never returned a series and compares with a number, the
        closest its other side came: one range query of that side over the whole range."""
        for plan in self.engine.groups.values():
            for ctx in plan.rules:
                track = self.closest.tracks.get(ctx.name)
                comp = comparison(ctx.rule.expr) if ctx.baseline is None else None
                if track is None or comp is None or track.stage() != "series":
                    continue
                at = ctx.group.query_offset
                try:
                    series = self.source.query_range(comp.side, start - at, end - at, plan.interval)
                except AlerterError:  # a source error included: the report goes on without it
                    continue
                peak = comparison_peak(comp, series)
                if peak is not None:
                    track.offer_comparison(peak)


def replay(
    bundle: Bundle,
    source: Source,
    start: float,
    end: float,
    step: float = 60.0,
    *,
    charts: bool = True,
    prefetch: bool = True,
    workdir: Path | None = None,
    on_progress: Callable[[float], None] | None = None,
    pending: bool = False,
) -> Result:
    """Replay ``bundle``'s rules over [start, end] against ``source``; nothing outside is touched.

    ``prefetch`` False sends every query of every tick to ``source`` (the benchmark's baseline).
    ``pending`` records episodes from the moment their alert turned pending, including those that
    never fired (see :class:`~alerter.backtest.record.Episodes`).
    """
    if bundle.config is None:
        raise AlerterError("a backtest needs the engine config (receivers, route, policies)")
    if not end > start:
        raise AlerterError(f"--to ({_iso(end)}) must be after --from ({_iso(start)})")
    if not step > 0:
        raise AlerterError(f"--step must be positive, got {step}")
    began = time.perf_counter()
    prefetched = PrefetchSource(source, until=end, enabled=prefetch)
    with tempfile.TemporaryDirectory(prefix="alerter-backtest-", dir=workdir) as tmp:
        # A throw-away database: durability across power loss buys nothing here.
        store = Store(Path(tmp) / "state.db", synchronous="OFF")
        try:
            walk = _Replay(bundle, prefetched, store, start, charts, pending)
            ticks = 0
            t = start
            while t <= end + 1e-6:
                walk.step(t)
                ticks += 1
                if on_progress is not None:
                    on_progress(t)
                t = start + ticks * step
            walk.finish(start, end)
            changes = _changes(walk.actuator)
            errors = {f"{g}/{r}": h.last_error for (g, r), h in walk.engine.health().items() if h.last_error}
        finally:
            store.close()
    rules = sorted({ctx.rule.alert for plan in walk.engine.groups.values() for ctx in plan.rules})
    deliveries = sorted((d for n in walk.notifiers.values() for d in n.deliveries), key=lambda d: d.at)
    return Result(
        start,
        end,
        step,
        rules,
        walk.episodes.all(),
        deliveries,
        walk.events,
        time.perf_counter() - began,
        ticks,
        prefetched.fetches,
        prefetched.served,
        errors,
        changes,
        walk.closest.to_json(),
    )


def _changes(actuator: RecordingActuator | None) -> list[dict[str, Any]]:
    """Applied changes and reverts, as ``{at, target, from, to}``."""
    if actuator is None:
        return []
    return [
        {"at": at, "target": f"{c.via}/{c.namespace}/{c.name}", "from": c.previous, "to": c.desired}
        for at, c in actuator.applied
    ]


# -- command line ------------------------------------------------------------------------


def parse_time(text: str) -> float:
    """``2026-11-01``, ``2026-11-01T06:00``, ``...Z``/offset (UTC when none), or unix seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise AlerterError(
            f"cannot read time {text!r}: use 2026-11-01, 2026-11-01T06:00Z or unix seconds"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _time_arg(text: str) -> float:
    try:
        return parse_time(text)
    except AlerterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _step_arg(text: str) -> float:
    from alerter.core.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")


def _progress(start: float, end: float) -> Callable[[float], None]:
    """Print a line to stderr per replayed day, so a month-long backtest shows it is moving."""
    done = {"day": -1}

    def report(now: float) -> None:
        day = int((now - start) // 86400)
        if day != done["day"]:
            done["day"] = day
            share = 100.0 * (now - start) / (end - start) if end > start else 100.0
            print(f"replaying {_iso(now)} ({share:.0f}%)", file=sys.stderr, flush=True)

    return report


def load_rules(config: str | None, rules: Sequence[str] | None) -> Bundle:
    """The config with its own rule files, or with ``rules`` in their place (no config: ``rules`` alone)."""
    if config is None:
        return load(None, rules or ())
    base = load(config)
    if not rules:
        return base
    only = load(None, rules)
    return Bundle(base.config, base.config_path, only.rule_files)


def _arguments(parser: argparse.ArgumentParser) -> None:

    parser.add_argument(
        "--config", "-c", help="alerter.yaml (Prometheus, receivers, route, policies); optional with --csv"
    )
    parser.add_argument(
        "--rules", nargs="+", metavar="FILE", help="rule files replacing the config's rule_files"
    )
    parser.add_argument(
        "--csv",
        metavar="FILE",
        help="replay an exported series instead of Prometheus: a time column, then one column per "
        "series; every rule judges every column (its expr is not evaluated)",
    )
    parser.add_argument(
        "--from", dest="start", type=_time_arg, help="start, e.g. 2026-11-01 (--csv: its first row)"
    )
    parser.add_argument("--to", dest="end", type=_time_arg, help="end, e.g. 2026-11-27 (--csv: its last row)")
    parser.add_argument(
        "--step", type=_step_arg, help="clock step (default 1m; --csv: the spacing of its rows)"
    )
    parser.add_argument("--report", metavar="HTML", help="write a self-contained HTML report here")
    parser.add_argument("--json", dest="json_path", metavar="FILE", help="write the result as JSON here")
    parser.add_argument("--against", nargs="+", metavar="FILE", help="rule files to compare with (B side)")
    parser.add_argument("--no-charts", action="store_true", help="leave charts out of the HTML report")
    parser.add_argument(
        "--truth",
        metavar="FILE",
        help="ground truth of the incidents (`alerter sim history --truth`): report caught and missed "
        "incidents, detection delays and false pages",
    )
    parser.add_argument(
        "--truth-tolerance",
        type=_step_arg,
        metavar="DURATION",
        help="how far before an incident's start or after its end a page still belongs to it (default 10m)",
    )


def command(args: argparse.Namespace) -> int:
    """Run a backtest from parsed arguments; print the summary; write the requested reports."""
    from alerter.source.wiring import build_source

    if args.csv:
        from alerter.backtest import series

        return series.csv_command(args)
    missing = [
        flag
        for flag, value in (("--config", args.config), ("--from", args.start), ("--to", args.end))
        if value is None
    ]
    if missing:
        raise AlerterError(
            f"a backtest against Prometheus needs {', '.join(missing)} (or --csv FILE --rules ...)"
        )
    step = 60.0 if args.step is None else args.step
    try:
        bundle = load_rules(args.config, args.rules)
        other = load_rules(args.config, args.against) if args.against else None
        truth = load_truth(args)
    except ConfigErrors as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        return 1
    assert bundle.config is not None
    charts = bool(args.report) and not args.no_charts
    progress = _progress(args.start, args.end)
    with build_source(bundle.config.prometheus) as source:
        result = replay(bundle, source, args.start, args.end, step, charts=charts, on_progress=progress)
        against = (
            replay(other, source, args.start, args.end, step, charts=charts, on_progress=progress)
            if other
            else None
        )
    write_reports(args, result, against, truth, flagged=load_flagged(bundle.config, args.config))
    return 0


def load_flagged(config: AppConfig, config_path: str) -> tuple[str, list[PageVerdict]] | None:
    """The production store's confirmed false pages ("Not an incident" in Slack), when the
    config's ``storage.path`` exists; None otherwise (a config used only for backtests)."""
    path = Path(config.storage.path)
    if not path.is_absolute():
        path = Path(config_path).parent / path
    if not path.exists():
        return None
    with Store(path) as store:
        return str(path), Pages(store).false_pages()


def load_truth(args: argparse.Namespace) -> Truth | None:
    """The ``--truth`` file, read before replaying so that a bad file fails at once."""
    path = getattr(args, "truth", None)
    return read_truth(path) if path else None


def write_reports(
    args: argparse.Namespace,
    result: Result,
    against: Result | None,
    truth: Truth | None = None,
    *,
    flagged: tuple[str, list[PageVerdict]] | None = None,
) -> None:
    """Print the summary and write the JSON and HTML reports the arguments ask for."""
    doc = report.to_json(
        result, against, truth=truth, tolerance=getattr(args, "truth_tolerance", None), flagged=flagged
    )
    print(report.text(doc))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    if args.report:
        Path(args.report).write_text(report.html(doc, result, against), encoding="utf-8")


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``alerter backtest`` to an argparse subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "backtest",
        help="replay history through the rules, notifications and remediation",
        description="Replay a time range of the configured Prometheus through the engine with a walking "
        "clock; report alerts, notifications and remediation decisions.",
    )
    _arguments(parser)
    parser.set_defaults(func=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``alerter backtest`` on its own (``python -m alerter.backtest``)."""
    parser = argparse.ArgumentParser(prog="alerter backtest", description="Replay history through the rules.")
    _arguments(parser)
    args = parser.parse_args(argv)
    try:
        return command(args)
    except AlerterError as exc:
        print(f"alerter backtest: {exc}", file=sys.stderr)
        return 1


__all__ = ["Result", "command", "main", "parse_time", "register", "replay", "seed_actuator"]
