"""The HTTP server: ``/metrics``, health probes and the JSON API.

A small threaded stdlib server is enough for an operations endpoint scraped every few seconds,
and keeps the engine free of a web framework. Routes are plain callables registered by the app
(``route(method, path, handler)``), so the notification and remediation layers add their own
endpoints (silences, Slack interactivity) without this module importing them. Handlers only read
state or call into owners of state; nothing here mutates the engine directly.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: object, status: int = 200) -> Response:
        return cls(status, json.dumps(_finite(payload), allow_nan=False).encode(), "application/json")

    @classmethod
    def text(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode())


def _finite(value: object) -> object:
    """JSON has no NaN or infinity: an unknown number is null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


Handler = Callable[[Request], Response]


class Server:
    """Routes requests to registered handlers on a background thread."""

    def __init__(self, listen: str) -> None:
        host, _, port = listen.rpartition(":")
        self._routes: dict[tuple[str, str], Handler] = {}
        self._httpd = ThreadingHTTPServer((host.strip("[]"), int(port)), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def route(self, method: str, path: str, handler: Handler) -> None:
        self._routes[(method.upper(), path)] = handler

    def metrics(self, registry: CollectorRegistry) -> None:
        self.route("GET", "/metrics", lambda _: Response(200, generate_latest(registry), CONTENT_TYPE_LATEST))

    def dispatch(self, request: Request) -> Response:
        handler = self._routes.get((request.method, request.path))
        if handler is None:
            allowed = sorted(m for m, p in self._routes if p == request.path)
            if allowed:
                return Response(405, b"method not allowed", headers={"Allow": ", ".join(allowed)})
            return Response.json({"error": f"no such endpoint: {request.path}"}, 404)
        try:
            return handler(request)
        except Exception:
            log.exception("request handler failed", extra={"path": request.path})
            return Response.json({"error": "internal error; see the engine's log"}, 500)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._send(Response(413, b"request body too large"))
                    return
                body = self.rfile.read(length) if length else b""
                request = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                self._send(server.dispatch(request))

            def _send(self, response: Response) -> None:
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(response.body)))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(response.body)

            do_GET = do_POST = do_DELETE = do_PUT = do_HEAD = _serve

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("http " + format % args)

        return _Handler

    def start(self) -> None:
        # serve_forever notices shutdown() at its next poll: 0.1 s keeps a stop (SIGTERM, reload
        # of the listen address) prompt at a negligible cost in idle wake-ups.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.1,), name="http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for serve_forever, which must be running
            self._httpd.shutdown()
            self._thread = None
        self._httpd.server_close()
