"""The composition root: builds every component from the config and runs them.

``alerter run`` calls ``App.from_config(path).run()``. Only this module knows how the pieces fit:
config -> source, store, baselines, engine, scheduler, HTTP server; reloads on SIGHUP and when a
config or rule file changes, keeping the old configuration running when the new one is invalid.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from alerter import api, logs
from alerter.baselines import Baselines, FitStats
from alerter.config import AppConfig, Bundle, expand, load
from alerter.config.engine import PrometheusConfig
from alerter.engine import Engine
from alerter.errors import AlerterError, ConfigError, ConfigErrors
from alerter.metrics import EngineMetrics
from alerter.scheduler import Scheduler
from alerter.server import Request, Response, Server
from alerter.source.prometheus import PrometheusSource
from alerter.store import Store

log = logging.getLogger(__name__)

RELOAD_CHECK_SECONDS = 5.0


def build_source(cfg: PrometheusConfig) -> PrometheusSource:
    """The Prometheus client with credentials resolved from env/files (never from the config text)."""
    try:
        token = cfg.bearer_token.resolve()
        basic = (cfg.basic_auth.username, cfg.basic_auth.password.resolve() or "") if cfg.basic_auth else None
    except KeyError as exc:
        raise AlerterError(f"prometheus credentials: environment variable {exc} is not set") from None
    except OSError as exc:
        raise AlerterError(f"prometheus credentials: cannot read {exc.filename}: {exc.strerror}") from None
    return PrometheusSource(
        cfg.url,
        timeout=cfg.timeout,
        bearer_token=token,
        basic_auth=basic,
        headers=cfg.headers,
        ca_file=cfg.ca_file,
        tls_verify=cfg.tls_verify,
        compression=cfg.compression,
    )


class App:
    """A running engine: owns the store, the scheduler, the server and the reload loop."""

    def __init__(self, config_path: str, bundle: Bundle, *, now: float) -> None:
        if bundle.config is None:
            raise AlerterError("alerter run needs a config file")
        cfg: AppConfig = bundle.config
        self.config_path = config_path
        self.started_at = now
        self.metrics = EngineMetrics()
        self.source = build_source(cfg.prometheus)
        storage = Path(cfg.storage.path)
        if not storage.is_absolute():
            storage = Path(config_path).parent / storage
        storage.parent.mkdir(parents=True, exist_ok=True)
        self.store = Store(storage)
        self.baselines = Baselines.background(self.source, self.store, on_fit=self._fitted)
        self.engine = Engine(bundle, self.source, self.store, self.baselines, metrics=self.metrics, now=now)
        self.scheduler = Scheduler(self.engine)
        self.server = Server(cfg.server.listen)
        self._reload_requested = threading.Event()
        self._stop = threading.Event()
        self._mtimes = self._watched_mtimes(bundle)
        self._reload: dict[str, Any] = {"at": now, "ok": True}
        self._errors: list[ConfigError] = []
        self._routes()

    @classmethod
    def from_config(cls, config_path: str) -> App:
        return cls(config_path, load(config_path), now=time.time())

    def _fitted(self, stats: FitStats) -> None:
        self.metrics.fit_seconds.observe(stats.seconds)
        self.metrics.fitted_series.inc(stats.series)

    def _routes(self) -> None:
        s = self.server
        s.metrics(self.metrics.registry)
        s.route("GET", "/healthz", lambda _: Response.text("ok\n"))
        s.route("GET", "/readyz", self._ready)
        s.route(
            "GET",
            "/api/v1/alerts",
            lambda r: Response.json(api.alerts_json(self.engine, r.query.get("state", []))),
        )
        s.route("GET", "/api/v1/rules", lambda _: Response.json(api.rules_json(self.engine)))
        s.route("GET", "/api/v1/status", lambda _: Response.json(self.status()))
        s.route("POST", "/-/reload", self._reload_endpoint)

    def status(self) -> dict[str, Any]:
        return api.status_json(
            self.engine,
            config_path=self.config_path,
            started_at=self.started_at,
            reload=self._reload,
            errors=self._errors,
        )

    def _ready(self, _: Request) -> Response:
        if self._stop.is_set():
            return Response.text("shutting down\n", 503)
        return Response.text("ready\n")

    def _reload_endpoint(self, _: Request) -> Response:
        ok = self.reload(time.time())
        return Response.json(self.status(), 200 if ok else 400)

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
        self.engine.reload(bundle, now)
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
        self.scheduler.start()
        self.server.start()
        log.info(
            "alerter started", extra={"listen": f"port {self.server.port}", "groups": len(self.engine.groups)}
        )

    def stop(self) -> None:
        self._stop.set()
        self.scheduler.shutdown()
        self.server.stop()
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


def run(config_path: str) -> int:
    """``alerter run``: configure logging from the config, then run the app."""
    bundle = load(config_path)
    assert bundle.config is not None
    level = os.environ.get("ALERTER_LOG_LEVEL", bundle.config.logging.level)
    fmt = os.environ.get("ALERTER_LOG_FORMAT", bundle.config.logging.format)
    logs.configure(level, fmt)
    App(config_path, bundle, now=time.time()).run()
    return 0
