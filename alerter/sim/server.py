"""The live simulator: serves the fleet's ``/metrics`` at the current time and takes fault injections.

Started by ``alerter sim serve`` (and by tests, in a thread or a subprocess). The simulator is
its own process, so unlike the engine it reads the wall clock, through the ``clock`` argument
tests can replace. Endpoints:

- ``GET /metrics``: vLLM and LiteLLM metrics of every model (Prometheus text format).
- ``POST /inject?kind=latency_regression&model=llama-3.1-8b&duration=10m[&magnitude=3][&start=<unix>]``:
  adds a fault starting now (or at ``start``); answers with the fault as JSON.
- ``GET /faults``: every injected fault with the series it disturbs (the live ground truth).
- ``POST /clear``: removes all faults. ``GET /healthz``: ``ok``.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from alerter.core.durations import parse_duration
from alerter.sim.exposition import CONTENT_TYPE, render_instant
from alerter.sim.faults import Fault
from alerter.sim.fleet import Fleet
from alerter.sim.metrics import Resume, live_samples

__all__ = ["SimServer"]


class SimServer:
    """An HTTP server exposing ``fleet`` as it is at ``clock()``; thread-safe fault injection."""

    def __init__(
        self, fleet: Fleet, host: str = "127.0.0.1", port: int = 0, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._fleet = fleet
        self._lock = threading.Lock()
        self._scrape_lock = threading.Lock()
        self._resume: Resume | None = None
        self.clock = clock
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def fleet(self) -> Fleet:
        with self._lock:
            return self._fleet

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._fleet = self._fleet.with_fault(fault)

    def clear(self) -> None:
        with self._lock:
            self._fleet = self._fleet.without_faults()

    def metrics_text(self) -> str:
        """The exposition at ``clock()``; counters continue from the previous scrape (see ``Resume``)."""
        with self._scrape_lock:
            families, self._resume = live_samples(self.fleet, self.clock(), self._resume)
        return render_instant(families)

    def start(self) -> SimServer:
        """Serve in a background thread (for tests and embedding)."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="sim-server", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def fault_from_query(self, query: dict[str, list[str]]) -> Fault:
        """Parse an ``/inject`` query string; raises ValueError with a message for the client."""

        def one(name: str, default: str | None = None) -> str:
            values = query.get(name)
            if not values:
                if default is None:
                    raise ValueError(f"missing query parameter {name!r}")
                return default
            return values[0]

        models = [m.name for m in self.fleet.models]
        model = one("model", models[0])
        if model not in models:
            raise ValueError(f"unknown model {model!r}; the fleet has {', '.join(models)}")
        duration_text = one("duration", "10m")
        duration = float(duration_text) if _is_number(duration_text) else parse_duration(duration_text)
        start = float(one("start", repr(self.clock())))
        magnitude = float(one("magnitude", "nan"))
        return Fault(one("kind"), model, start, duration, magnitude if math.isfinite(magnitude) else math.nan)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _handler_for(sim: SimServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Scrapes every few seconds would flood the terminal."""

        def _send(self, status: int, body: str, content_type: str = "application/json") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/metrics":
                self._send(200, sim.metrics_text(), CONTENT_TYPE)
            elif path == "/faults":
                self._send(200, json.dumps([f.to_json() for f in sim.fleet.faults], indent=2))
            elif path == "/healthz":
                self._send(200, "ok\n", "text/plain")
            else:
                self._send(404, json.dumps({"error": f"no such endpoint {path}; try /metrics"}))

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/inject":
                try:
                    fault = sim.fault_from_query(parse_qs(parts.query))
                    sim.inject(fault)
                except ValueError as exc:
                    self._send(400, json.dumps({"error": str(exc)}))
                    return
                self._send(201, json.dumps(fault.to_json()))
            elif parts.path == "/clear":
                sim.clear()
                self._send(200, json.dumps({"faults": 0}))
            else:
                self._send(404, json.dumps({"error": f"no such endpoint {parts.path}; try /inject"}))

    return Handler
