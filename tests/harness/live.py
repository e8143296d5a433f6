"""Servers in the test process that engine processes talk to, each logging what it was sent.

For tests that run ``alerter run`` as real processes and must tell them apart:

- ``Exporter``: a ``/metrics`` endpoint a real Prometheus scrapes, whose gauges the test sets,
  so an alert fires or resolves when the test says. It writes Prometheus' text format as
  prometheus/docs ``content/docs/instrumenting/exposition_formats.md`` defines it: ``# TYPE``
  lines, then ``name{label="value"} value``, label values with ``\\``, ``"`` and newlines escaped,
  the last line ending in a newline, served as ``text/plain; version=0.0.4``.
- ``QueryLog``: a proxy in front of Prometheus. Each replica's ``prometheus.url`` is
  ``{url}/<replica>``; the proxy strips that first path segment, forwards the request and
  records who asked which expression when, so a test sees which replica evaluated a rule
  group at what time without trusting the replica's own account.
- ``WebhookSink``: a webhook receiver. Each replica's webhook URL is ``{url}/<replica>``; every
  POST is answered 200 and recorded with its sender, its ``X-Alerter-Key`` and its JSON body.

All bind 127.0.0.1 on a free port, record times with ``time.time()`` (the clock the engine
processes write their Lease times with), and stop with ``stop()`` or at the end of a ``with``.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

__all__ = ["Exporter", "Message", "Query", "QueryLog", "WebhookSink"]

Answer = tuple[int, str, bytes]
"""(HTTP status, Content-Type, body)."""
Handle = Callable[[str, str, Mapping[str, str], bytes], Answer]
"""(method, path with query, headers, body) -> answer."""


class _LocalServer:
    """One ThreadingHTTPServer on 127.0.0.1 whose every request goes to ``handle``."""

    def __init__(self, handle: Handle, name: str) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(handle))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name=name
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def address(self) -> str:
        """host:port, as a Prometheus scrape target names it."""
        return self.url.removeprefix("http://")

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _handler_for(handle: Handle) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Every scrape and query would flood the test's output."""

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, content_type, data = handle(self.command, self.path, headers, body)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

    return Handler


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Exporter(_LocalServer):
    """Gauges the test sets, served at ``/metrics`` for a real Prometheus to scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        super().__init__(self._answer, "exporter")

    def set(self, name: str, labels: Mapping[str, str], value: float) -> None:
        with self._lock:
            self._values[(name, tuple(sorted(labels.items())))] = value

    def text(self) -> str:
        with self._lock:
            values = sorted(self._values.items())
        lines: list[str] = []
        for name in sorted({n for (n, _), _ in values}):
            lines.append(f"# TYPE {name} gauge")
            for (metric, labels), value in values:
                if metric == name:
                    inside = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                    lines.append(f"{name}{{{inside}}} {value!r}" if inside else f"{name} {value!r}")
        return "".join(line + "\n" for line in lines)

    def _answer(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        if method != "GET" or urlsplit(path).path != "/metrics":
            return 404, "text/plain", b"not found\n"
        return 200, "text/plain; version=0.0.4; charset=utf-8", self.text().encode()


@dataclass(frozen=True)
class Query:
    """One request a replica sent to Prometheus through the proxy."""

    at: float
    who: str
    path: str
    expr: str


class QueryLog(_LocalServer):
    """A proxy in front of ``upstream`` (a Prometheus) that records each replica's queries."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self._lock = threading.Lock()
        self._queries: list[Query] = []
        super().__init__(self._answer, "query-log")

    def url_for(self, who: str) -> str:
        """The ``prometheus.url`` of replica ``who``."""
        return f"{self.url}/{who}"

    def queries(self) -> list[Query]:
        with self._lock:
            return list(self._queries)

    def _answer(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        at = time.time()
        parts = urlsplit(path)
        who, _, rest = parts.path.lstrip("/").partition("/")
        form = parse_qs(parts.query)
        if method == "POST" and "form" in headers.get("content-type", ""):
            form.update(parse_qs(body.decode()))
        with self._lock:
            self._queries.append(Query(at, who, "/" + rest, (form.get("query") or [""])[0]))
        target = f"{self.upstream}/{rest}" + (f"?{parts.query}" if parts.query else "")
        request = urllib.request.Request(target, data=body if method == "POST" else None, method=method)
        if "content-type" in headers:
            request.add_header("Content-Type", headers["content-type"])
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.headers.get("Content-Type", ""), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("Content-Type", ""), exc.read()


@dataclass(frozen=True)
class Message:
    """One webhook POST: when, from which replica, its idempotency key and its JSON body."""

    at: float
    who: str
    key: str
    body: Mapping[str, Any]


class WebhookSink(_LocalServer):
    """A webhook receiver that takes every message (200) and keeps it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[Message] = []
        super().__init__(self._answer, "webhook-sink")

    def url_for(self, who: str) -> str:
        """The webhook ``url`` of replica ``who``."""
        return f"{self.url}/{who}"

    def messages(self) -> list[Message]:
        with self._lock:
            return list(self._messages)

    def _answer(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        if method != "POST":
            return 405, "text/plain", b"POST only\n"
        message = Message(time.time(), urlsplit(path).path.strip("/"), headers.get("x-alerter-key", ""),
                          json.loads(body or b"{}"))  # fmt: skip
        with self._lock:
            self._messages.append(message)
        return 200, "text/plain", b"ok\n"
