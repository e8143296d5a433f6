"""The HTTP server: ``/metrics``, health probes and the JSON API.

A small threaded stdlib server is enough for an operations endpoint scraped every few seconds,
and keeps the engine free of a web framework. Routes are plain callables registered by the app
(``route(method, path, handler)``), so the notification and remediation layers add their own
endpoints (silences, Slack interactivity) without this module importing them. Handlers only read
state or call into owners of state; nothing here mutates the engine directly.

With ``server.tls`` connections are HTTPS, and with a client CA every client must present a
certificate it signed (mutual TLS); the certificate's common name reaches handlers as
``Request.peer``. The TLS handshake runs on the connection's own thread, so a client that stalls
in it holds up nobody else, and a failed handshake is one log line, not a traceback.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST

from alerter.config.engine import ServerTLS
from alerter.core.errors import ConfigError, Location

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
IDLE_SECONDS = 60.0
"""How long a connection may sit silent (in a TLS handshake, or idle between keep-alive requests)."""


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    peer: str = ""
    """The common name of the client's verified certificate (mutual TLS); empty otherwise."""


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


def tls_context(tls: ServerTLS) -> ssl.SSLContext:
    """The server side of ``server.tls``; a file that cannot be used is a ConfigError naming its field."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            Location(tls.cert_file),
            "server.tls.cert_file",
            f"cannot use the certificate and key ({tls.key_file}): {exc}",
            "give a PEM certificate chain and its matching private key",
        ) from None
    if tls.client_ca_file is not None:
        try:
            context.load_verify_locations(cafile=tls.client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                Location(tls.client_ca_file),
                "server.tls.client_ca_file",
                f"cannot read the client CA: {exc}",
                "give the PEM certificate of the CA that signs client certificates",
            ) from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _common_name(connection: socket.socket) -> str:
    if not isinstance(connection, ssl.SSLSocket):
        return ""
    subject = (connection.getpeercert() or {}).get("subject", ())
    for rdn in subject if isinstance(subject, tuple) else ():
        for pair in rdn:  # (("commonName", "ops"),): one relative distinguished name
            if isinstance(pair, tuple) and len(pair) == 2 and pair[0] == "commonName":
                return str(pair[1])
    return ""


class _HTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server that speaks TLS when it has a context (swappable at a reload)."""

    daemon_threads = True
    tls: ssl.SSLContext | None = None

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        tls = self.tls
        if tls is None:
            return connection, address
        # Wrapping does not handshake (the handler's setup does, on its own thread).
        return tls.wrap_socket(connection, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A refused handshake or a dropped connection is the client's problem: one line, no traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # ssl.SSLError and timeouts are OSErrors
            log.info("http connection failed", extra={"client": str(client_address[0]), "error": str(error)})
        else:
            log.exception("http connection handler failed", extra={"client": str(client_address[0])})


class Server:
    """Routes requests to registered handlers on a background thread."""

    def __init__(self, listen: str, tls: ssl.SSLContext | None = None) -> None:
        host, _, port = listen.rpartition(":")
        self._routes: dict[tuple[str, str], Handler] = {}
        self._httpd = _HTTPServer((host.strip("[]"), int(port)), self._handler_class())
        self._httpd.tls = tls
        self._thread: threading.Thread | None = None

    @property
    def tls(self) -> bool:
        return self._httpd.tls is not None

    def use_tls(self, tls: ssl.SSLContext | None) -> None:
        """Serve new connections with ``tls`` (a reload's new certificates), or in plain HTTP."""
        self._httpd.tls = tls

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def route(self, method: str, path: str, handler: Handler) -> None:
        self._routes[(method.upper(), path)] = handler

    def metrics(self, render: Callable[[], bytes]) -> None:
        """Serve ``render()`` (a text-format exposition) on ``GET /metrics``."""
        self.route("GET", "/metrics", lambda _: Response(200, render(), CONTENT_TYPE_LATEST))

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
            timeout = IDLE_SECONDS

            def setup(self) -> None:
                super().setup()
                if isinstance(self.connection, ssl.SSLSocket):
                    self.connection.do_handshake()

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
                    _common_name(self.connection),
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
