"""The composition root: builds every component from the config and runs them.

``alerter run`` calls ``App.from_config(path).run()``. Only this module knows how the pieces fit:
config -> source, store, baselines, engine, scheduler, HTTP server; reloads on SIGHUP and when a
config or rule file changes, keeping the old configuration running when the new one is invalid.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from alerter.config import AppConfig, Bundle, expand, load
from alerter.config.check import exposed_without_auth
from alerter.core.errors import AlerterError, ConfigError, ConfigErrors
from alerter.core.model import Alert, AlertState, Verdict
from alerter.engine.baselines import Baselines, FitStats
from alerter.engine.engine import QUERY_CONCURRENCY, Engine, GroupPlan, plan
from alerter.engine.evaluate import alert_fingerprint, alert_labels
from alerter.engine.metrics import EngineMetrics
from alerter.engine.scheduler import Scheduler
from alerter.notify import mute
from alerter.notify import wiring as notify_wiring
from alerter.notify.pages import Page, Pages, PageVerdict
from alerter.notify.slack import links
from alerter.notify.slack.actions import Acks, AlertActions
from alerter.remediate.contracts import Event
from alerter.service import api, logs, routes
from alerter.service.auth import Auth
from alerter.service.server import Server, tls_context
from alerter.source.wiring import build_source
from alerter.store.sqlite import Store

if TYPE_CHECKING:
    from alerter.cluster.sharding import Sharding
    from alerter.notify import Pipeline
    from alerter.remediate.runner import Runner

log = logging.getLogger(__name__)

RELOAD_CHECK_SECONDS = 5.0
FLUSH_SECONDS = 5.0
"""How often due notification groups are flushed and the outbox is sent."""
REMEDIATE_SECONDS = 5.0
"""How often remediation runs (and renews its Lease, which must be shorter than the Lease)."""
CHART_SPAN = 6 * 3600.0
SLACK_API_ENV = "ALERTER_SLACK_API_URL"
"""Points every Slack receiver at another Web API base URL (a proxy, or the demo's local sink)."""


class App:
    """A running engine: owns the store, the scheduler, the server and the reload loop.

    Serves the HTTP routes as a ``ports.Service``: they see only what that Protocol names.
    """

    def __init__(
        self, config_path: str, bundle: Bundle, *, now: float, clock: Callable[[], float] = time.time
    ) -> None:
        if bundle.config is None:
            raise AlerterError("alerter run needs a config file")
        cfg: AppConfig = bundle.config
        self.config_path = config_path
        self.clock = clock
        self.started_at = now
        self.ready = True
        self.auth = Auth.from_config(cfg.server)
        tls = tls_context(cfg.server.tls) if cfg.server.tls is not None else None
        self.metrics = EngineMetrics(export_bands=cfg.server.export_bands)
        self.source = build_source(cfg.prometheus)
        self.store = Store.from_config(cfg.storage, relative_to=Path(config_path).parent)
        self.sharding = _sharding(cfg)
        """This replica's share of the rule groups; None when it owns them all (no ``cluster``)."""
        self._renew_period = cfg.cluster.renew_period
        windows = notify_wiring.windows_from_config(cfg.maintenance)
        self.baselines = Baselines.background(
            self.source, self.store, on_fit=self._fitted, exclusions=mute.maintenance_exclusions(windows)
        )
        self.engine = Engine(
            bundle,
            self.source,
            self.store,
            self.baselines,
            metrics=self.metrics,
            sink=self._sink,
            now=now,
            query_threads=QUERY_CONCURRENCY,
            load_alerts=self.sharding is None,  # a shared group's alerts load when it is gained
        )
        self.silences = mute.Silences(self.store)
        self.pages = Pages(self.store)
        self.alert_actions = AlertActions(
            self.silences, Acks(self.store), self._alert, self.pages, self._judged
        )
        self._train_on_false_pages()
        self.pipeline = self._pipeline(cfg, self.engine.groups)
        self._watch_pipeline()
        self.signing_secrets = notify_wiring.signing_secrets(cfg.receivers)
        # Every runner this process builds (one per reload) decides under this one lock: an
        # approval still running on the old runner never interleaves with the new one's tick.
        self._decision_lock = threading.Lock()
        self.runner, self.remediation_error = self._runner(cfg)
        self.scheduler = Scheduler(self.engine, owns=self.sharding.owns if self.sharding else None,
                                   replica=self.sharding.identity if self.sharding else "")  # fmt: skip
        self.server = Server(cfg.server.listen, tls)
        self._exposed = exposed_without_auth(cfg.server)
        # One worker: button presses are decided in the order they arrive, off the HTTP thread.
        self._decisions = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slack-decision")
        self._reload_requested = threading.Event()
        self._stop = threading.Event()
        self._mtimes = self._watched_mtimes(bundle)
        self._reload: dict[str, object] = {"at": now, "ok": True}
        self._errors: list[ConfigError] = []
        routes.install(self.server, self)

    def _pipeline(self, cfg: AppConfig, groups: Mapping[str, GroupPlan]) -> Pipeline | None:
        """The notification pipeline for ``groups``, or None when no receiver is configured.

        Builds only: registers nothing and changes no state, so a reload can build it before
        deciding to switch (see ``reload``).
        """
        if not cfg.receivers:
            return None
        from alerter.notify import RenderContext, RuleInfo, chart_provider

        rules = {ctx.name: RuleInfo.of(ctx.rule) for plan in groups.values() for ctx in plan.rules}
        context = RenderContext(
            prometheus_url=links.browser_base(cfg.prometheus.url, cfg.prometheus.external_url),
            rules=rules,
            chart=chart_provider(
                lambda alert, now: self._chart_verdict(alert, now),
                facts={name: info.facts for name, info in rules.items() if info.facts is not None},
                span=CHART_SPAN,
            ),
            grafana=links.Grafana(g.url, g.datasource, g.org_id, g.dashboard_uid)
            if (g := cfg.grafana)
            else None,
            engine_url=cfg.server.external_url
            or links.listen_base(cfg.server.listen, cfg.server.tls is not None),
            standing=self.alert_actions.standing,
        )
        notifiers = notify_wiring.notifiers_from_config(
            cfg.receivers,
            context=context,
            slack_api_url=os.environ.get(SLACK_API_ENV, notify_wiring.SLACK_API),
            external_url=cfg.server.external_url or "",
        )
        if self.sharding is None:
            return notify_wiring.pipeline_from_config(cfg, self.store, notifiers)
        # Sharing the store: every replica ingests its rule groups' alerts, and each notification
        # group is decided and sent by the one replica rendezvous hashing names for its key.
        return notify_wiring.pipeline_from_config(
            cfg, self.store, notifiers, replica=self.sharding.identity, owns=self.sharding.owns_key
        )

    def _watch_pipeline(self) -> None:
        """Export the open notification groups of whichever pipeline is current at scrape time."""
        self.metrics.watch(
            "alerter_notification_groups",
            "Open notification groups.",
            lambda: float(len(self.pipeline.pending_groups())) if self.pipeline is not None else 0.0,
        )

    def _chart_verdict(self, alert: Alert, now: float) -> Verdict | None:
        try:
            return self.engine.recent_verdict(alert, now, CHART_SPAN)
        except AlerterError as exc:
            log.warning("chart data unavailable", extra={"rule": alert.rule, "error": str(exc)})
            return None

    def _runner(self, cfg: AppConfig) -> tuple[Runner | None, str]:
        """The remediation runner, or None and why (shown on /api/v1/actions and logged)."""
        if not cfg.policies:
            return None, ""
        from alerter.remediate import wiring as remediate_wiring

        identity = os.environ.get("POD_NAME") or socket.gethostname()
        sharding = self.sharding  # sharing the groups: each replica acts for its own, not as the Lease holder
        try:
            return remediate_wiring.build_runner(
                cfg,
                self.store,
                identity=identity,
                lock=self._decision_lock,
                leader=sharding,
                owns=self._acts_for if sharding is not None else None,
            ), ""
        except (AlerterError, ValueError, OSError) as exc:
            reason = f"remediation disabled: cannot reach Kubernetes ({exc})"
            log.error(reason)
            return None, reason

    def _acts_for(self, rule: str, fingerprint: str, now: float) -> bool:
        """Sharing the groups: whether this replica remediates for the alert (its group's owner).

        The engine holds the alerts of the groups this replica owns; an alert it does not hold
        belongs to the group that has a rule of that name (another replica's, or one whose alert
        has gone), and an alert of a rule no group has any more to the owner of its fingerprint,
        so that exactly one replica still closes its actions."""
        assert self.sharding is not None
        held = next((a for a in self.engine.alerts() if a.fingerprint == fingerprint), None)
        if held is not None:
            return self.sharding.owns(held.group, now)
        groups = [
            name for name, group in self.engine.groups.items() if any(c.name == rule for c in group.rules)
        ]
        if len(groups) > 1:  # the same alert name in several groups: the store knows which
            stored = next(
                (a for a in self.store.load_alerts(rule=rule) if a.fingerprint == fingerprint), None
            )
            groups = [stored.group] if stored is not None else groups[:1]
        if groups:
            return self.sharding.owns(groups[0], now)
        return self.sharding.owns_key(fingerprint, now)

    def _sink(self, alerts: Sequence[Alert], now: float) -> None:
        """Every tick's alerts: into the notification groups (sending happens in ``flush``).

        A resolved alert also ends the silences pressed "until resolved" on it, so its next
        episode is heard.
        """
        self.pages.record(alerts)  # first: a press right after the message finds its page
        if self.pipeline is not None:
            self.pipeline.ingest(alerts, now)
        resolved = [a.fingerprint for a in alerts if a.state is AlertState.RESOLVED]
        for silence in self.silences.end_with(resolved, now) if resolved else ():
            log.info(
                "silence ended with its alert", extra={"silence": silence.id, "alert": silence.ends_with}
            )

    def _alert(self, fingerprint: str) -> Alert | None:
        """The engine's current alert with this fingerprint (a Slack button names one).

        Slack calls whichever replica its request reaches: sharing the groups, one that does not
        own the alert's group finds it in the store its owner keeps it in.
        """
        held = next((a for a in self.engine.alerts() if a.fingerprint == fingerprint), None)
        if held is not None or self.sharding is None:
            return held
        return next((a for a in self.store.load_alerts() if a.fingerprint == fingerprint), None)

    def _judged(self, verdict: PageVerdict, alert: Alert | None) -> None:
        """A "Not an incident" (or its undo) from Slack: count it, and tell the baseline cache."""
        page = verdict.page
        if verdict.noise:
            self.metrics.false_pages.labels(page.group, page.rule).inc()
        located = self._baseline_series(page)
        if located is None:
            return
        key, series = located
        if series != verdict.series:
            self.pages.note_series(page.fingerprint, page.active_at, series)
        self.baselines.note_normal(key, series, page.active_at, page.resolved_at, normal=verdict.noise)

    def _baseline_series(self, page: Page, series: str = "") -> tuple[str, str] | None:
        """(baseline key, series fingerprint) the page's episode was noted under; None for a
        threshold rule, a removed rule, or a series the rule no longer sees (then ``series``)."""
        ctx = self.engine.context(page.group, page.rule)
        if ctx is None or ctx.baseline is None:
            return None
        for status in self.engine.series(ctx.key):
            if alert_fingerprint(ctx, alert_labels(ctx, status.labels)) == page.fingerprint:
                return ctx.baseline.key, status.labels.fingerprint
        return (ctx.baseline.key, series) if series else None

    def _train_on_false_pages(self) -> None:
        """At start and after a reload: the confirmed false pages are normal data again (the
        cache's firing periods live in memory; a resolved alert the store restores is noted again)."""
        for verdict in self.pages.false_pages():
            located = self._baseline_series(verdict.page, verdict.series)
            if located is not None:
                key, series = located
                self.baselines.note_normal(key, series, verdict.page.active_at, verdict.page.resolved_at)

    def _flush(self, now: float) -> None:
        if self.pipeline is None or not self._member(now):
            return
        report = self.pipeline.flush(now)
        for name in ("sent", "retrying", "failed", "muted"):
            count = getattr(report, name)
            if count:
                self.metrics.notifications.labels(name).inc(count)

    def _member(self, now: float) -> bool:
        """Whether this replica may act now: always alone; with others, while its member Lease holds."""
        return self.sharding is None or self.sharding.membership.holds(now)

    def _share(self, now: float) -> None:
        """Renew membership and re-read ownership; take up gained groups, let lost ones go.

        A gained group's alerts are loaded from the store before its job is added, so its first
        tick continues them; a lost group's job goes first (its ticks already stopped, as
        ``owns`` answers no), then its alerts leave memory, so the API and remediation show only
        what this replica owns.
        """
        if self.sharding is None:
            return
        change = self.sharding.round({name: g.load for name, g in self.engine.groups.items()}, now)
        for group in sorted(change.gained):
            self.engine.adopt(group, now)
        if change.gained or change.lost:
            self.scheduler.sync()
        for group in sorted(change.lost):
            self.engine.release(group)

    def _remediate(self, now: float) -> None:
        """Hand every firing or resolved alert whose rule names policies to the runner."""
        runner = self.runner  # one read: a reload may swap it meanwhile; runners share one lock
        if runner is None:
            return
        candidates = self.engine.remediation_candidates()
        if self.sharding is not None:
            candidates = [(a, p) for a, p in candidates if self.sharding.owns(a.group, now)]
        events = runner.step(candidates, now)
        self.post_events(events, now)

    def post_events(self, events: Sequence[Event], now: float) -> None:
        """Remediation decisions into the alert's thread (approval requests with buttons)."""
        if self.pipeline is None:
            return
        from alerter.notify import Button, note_message

        for event in events:
            self.metrics.remediation.labels(event.decision).inc()
            message = event.message
            if message is None:
                continue
            buttons = []
            if message.buttons and message.action_id is not None:
                value = str(message.action_id)
                buttons = [
                    Button("approve", "Approve", value, "primary"),
                    Button("reject", "Reject", value, "danger"),
                ]
            self.pipeline.note(message.alert, note_message(message.text, buttons), now)

    def reply_privately(self, response_url: str, text: str) -> None:
        """An ephemeral reply to a button press; Slack's own host, or the local Slack API stand-in."""
        from alerter.notify import reply_privately
        from alerter.notify.slack.client import RESPONSE_URL_PREFIX

        allowed = [RESPONSE_URL_PREFIX]
        local = os.environ.get(SLACK_API_ENV)
        if local:
            parts = urlsplit(local)
            allowed.append(f"{parts.scheme}://{parts.netloc}/")
        try:
            reply_privately(response_url, text, allowed=tuple(allowed))
        except AlerterError as exc:
            log.warning("could not reply to the button press", extra={"error": str(exc)})

    def defer(self, job: Callable[[], None]) -> None:
        """Run ``job`` on the decision worker (Slack's buttons), logging whatever it raises."""

        def guarded() -> None:
            try:
                job()
            except Exception:
                log.exception("background job failed")

        self._decisions.submit(guarded)

    @classmethod
    def from_config(cls, config_path: str) -> App:
        return cls(config_path, load(config_path), now=time.time())

    def _fitted(self, stats: FitStats) -> None:
        self.metrics.fit_seconds.observe(stats.seconds)
        self.metrics.fitted_series.inc(stats.series)

    def status(self) -> dict[str, object]:
        out = api.status_json(
            self.engine,
            config_path=self.config_path,
            started_at=self.started_at,
            reload=self._reload,
            errors=self._errors,
        )
        out["notifications"] = "enabled" if self.pipeline is not None else "no receivers configured"
        out["remediation"] = self.remediation_error or (
            "enabled" if self.runner is not None else "no policies configured"
        )
        return out

    # -- reloading -----------------------------------------------------------------------

    def _watched_mtimes(self, bundle: Bundle) -> dict[str, float]:
        paths = [self.config_path, *(r.path for r in bundle.rule_files)]
        cfg = bundle.config
        if cfg is not None:  # a new file matching a glob must trigger a reload too
            found, _ = expand(cfg.rule_files, Path(self.config_path).parent)
            paths += [str(p) for p in found]
        out = {}
        for path in paths:
            try:
                out[path] = os.stat(path).st_mtime
            except OSError:
                out[path] = -1.0
        return out

    def reload(self, now: float) -> bool:
        """Validate everything, then switch; on any error keep running the old configuration."""
        try:
            bundle = load(self.config_path)
        except ConfigErrors as exc:
            self._errors = list(exc.errors)
            self._reload = {"at": now, "ok": False, "errors": len(exc.errors)}
            self.metrics.reloads.labels("failure").inc()
            self.metrics.reload_ok.set(0)
            for error in exc.errors:
                log.error(
                    "reload rejected; the previous configuration keeps running",
                    extra={"config_error": str(error)},
                )
            self._mtimes = self._current_mtimes()  # retry only when a file changes again
            return False
        assert bundle.config is not None
        # Build everything the new configuration needs first; switch only when all of it exists,
        # so a failure leaves the running configuration whole instead of half replaced.
        try:
            pipeline = self._pipeline(bundle.config, plan(bundle))
            secrets = notify_wiring.signing_secrets(bundle.config.receivers)
            auth = Auth.from_config(bundle.config.server)
            server = bundle.config.server
            tls = tls_context(server.tls) if server.tls is not None else None
            runner, remediation_error = self._runner(bundle.config)
        except (AlerterError, ValueError, OSError) as exc:
            self._reload = {"at": now, "ok": False, "errors": 1, "error": str(exc)}
            self.metrics.reloads.labels("failure").inc()
            self.metrics.reload_ok.set(0)
            log.error("reload failed; the previous configuration keeps running", extra={"error": str(exc)})
            self._mtimes = self._current_mtimes()
            return False
        self.engine.reload(bundle, now)
        self._train_on_false_pages()  # a changed rule has a new baseline key
        self.pipeline = pipeline
        self.signing_secrets = secrets
        self.auth = auth
        self.server.use_tls(tls)  # re-read certificates: a rotated one applies to new connections
        self.runner, self.remediation_error = runner, remediation_error
        self.scheduler.sync()
        self._mtimes = self._watched_mtimes(bundle)
        self._errors = []
        self._reload = {"at": now, "ok": True}
        self.metrics.reloads.labels("success").inc()
        self.metrics.reload_ok.set(1)
        log.info("configuration reloaded", extra={"groups": len(self.engine.groups)})
        return True

    def _current_mtimes(self) -> dict[str, float]:
        out = {}
        for path in self._mtimes:
            try:
                out[path] = os.stat(path).st_mtime
            except OSError:
                out[path] = -1.0
        return out

    def _check_reload(self, now: float) -> None:
        changed = self._current_mtimes() != self._mtimes
        if self._reload_requested.is_set() or changed:
            self._reload_requested.clear()
            self.reload(now)

    # -- running -------------------------------------------------------------------------

    def start(self) -> None:
        self.scheduler.every(RELOAD_CHECK_SECONDS, "reload-check", self._check_reload)
        self.scheduler.every(FLUSH_SECONDS, "notify-flush", self._flush)
        self.scheduler.every(REMEDIATE_SECONDS, "remediate", self._remediate)
        if self.sharding is not None:
            self._share(self.clock())  # join now rather than one renew period from now
            self.scheduler.every(self._renew_period, "cluster-membership", self._share)
        self.scheduler.start()
        self.server.start()
        log.info(
            "alerter started", extra={"listen": f"port {self.server.port}", "groups": len(self.engine.groups)}
        )
        if self._exposed:
            log.warning(
                "the HTTP API listens beyond loopback without authentication: anyone who reaches the "
                "port can silence alerts and reload; set server.auth (see the README)"
            )

    def stop(self) -> None:
        self.ready = False
        self._stop.set()
        self.scheduler.shutdown()
        if self.sharding is not None:
            self.sharding.leave(self.clock())  # the others take its groups at once
        self.server.stop()
        self._decisions.shutdown(wait=True)  # a decision in flight finishes before the store closes
        self.engine.close()
        self.baselines.close()
        self.store.close()

    def run(self) -> None:
        """Run until SIGTERM or SIGINT; SIGHUP reloads."""
        signal.signal(signal.SIGHUP, lambda *_: self._reload_requested.set())
        signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
        signal.signal(signal.SIGINT, lambda *_: self._stop.set())
        self.start()
        try:
            while not self._stop.wait(1.0):
                pass
        finally:
            log.info("alerter stopping")
            self.stop()


def _sharding(cfg: AppConfig) -> Sharding | None:
    """This replica's share of the groups when ``cluster.enabled``, or None (it owns them all)."""
    if not cfg.cluster.enabled:
        return None
    from alerter.cluster.membership import Membership
    from alerter.cluster.sharding import Sharding
    from alerter.remediate.kubernetes import Timeouts, connect

    cluster = cfg.cluster
    k8s = cluster.kubernetes
    try:
        api_client = connect(in_cluster=k8s.in_cluster, kubeconfig=k8s.kubeconfig, context=k8s.context)
        membership = Membership(
            api_client,
            namespace=cluster.namespace,
            identity=cluster.identity(),
            duration=cluster.lease_duration,
            cluster=cluster.name,
            timeouts=Timeouts(connect=k8s.connect_timeout, read=k8s.read_timeout),
        )
    except (AlerterError, ValueError) as exc:
        raise AlerterError(f"cluster: {exc} (see the cluster section of alerter.yaml)") from exc
    return Sharding(membership, settle=cluster.lease_duration)


def run(config_path: str) -> int:
    """``alerter run``: configure logging from the config, then run the app."""
    bundle = load(config_path)
    assert bundle.config is not None
    level = os.environ.get("ALERTER_LOG_LEVEL", bundle.config.logging.level)
    fmt = os.environ.get("ALERTER_LOG_FORMAT", bundle.config.logging.format)
    logs.configure(level, fmt)
    App(config_path, bundle, now=time.time()).run()
    return 0
