"""The stand-in API server on the wire: HTTP on a free port of 127.0.0.1, bearer-token authentication.

``make demo`` (``alerter.demo.run``) starts a ``KubeApiServer`` and points the real ``kubernetes``
client at it through ``write_kubeconfig``; tests use ``serve`` (no authentication) or a
``KubeApiServer`` of their own and stop it themselves. Authentication comes first, as in the real
handler chain (kubernetes/kubernetes ``staging/src/k8s.io/apiserver/pkg/endpoints/filters/authentication.go``):
a wrong token is a 401 before any routing; no token at all is the anonymous user, whom RBAC
refuses (403). Bodies are compact JSON ending in a newline, as ``json.Encoder`` writes them.

``KubeApiServer.stall`` makes requests to one path go unanswered, as a partitioned network or a
server stuck on etcd does: the connection stays open until the test releases it and is then
closed with no answer. A stall may let the request be served first, so the write happens and
only its answer is lost, as when kube-apiserver's handler finishes after its timeout filter gave
up on it (``staging/src/k8s.io/apiserver/pkg/server/filters/timeout.go``: a 504, or a closed
connection once the answer had begun, while the handler runs on).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from alerter.testing.kubernetes.cluster import ANONYMOUS, Cluster
from alerter.testing.kubernetes.errors import ApiError, storage_error, unauthorized
from alerter.testing.kubernetes.objects import deployment

TOKEN = "demo-cluster-token"

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{{name: demo-cluster, cluster: {{server: "{url}"}}}}]
users: [{{name: alerter, user: {{token: {token}}}}}]
contexts: [{{name: demo-cluster, context: {{cluster: demo-cluster, user: alerter}}}}]
current-context: demo-cluster
"""


def write_kubeconfig(path: Path, url: str, token: str = TOKEN) -> Path:
    """A kubeconfig whose only context is the stand-in at ``url``, authenticating with ``token``."""
    path.write_text(KUBECONFIG.format(url=url, token=token), encoding="utf-8")
    return path


@dataclass
class Stall:
    """Requests of ``method`` to ``path`` (no query) that get no answer; see ``KubeApiServer.stall``.

    ``arrived`` is set when the first one came in (after it was served, if ``served``); the
    connection is held open until ``release()`` and then closed without an answer. ``times``
    requests are stalled (None: every one until released); later ones are answered as usual.
    ``hits`` counts the requests stalled so far (a client's retries included).
    """

    method: str
    path: str
    served: bool = False
    times: int | None = None
    hits: int = 0
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()

    def take(self, method: str, path: str) -> bool:
        """Whether this request is one to stall (counting it)."""
        if method != self.method or path != self.path or self.times == 0:
            return False
        if self.times is None:
            if self.released.is_set():
                return False
        else:
            self.times -= 1
        self.hits += 1
        return True


class KubeApiServer:
    """A ``Cluster`` served over HTTP; ``token=None`` switches authentication off."""

    def __init__(self, cluster: Cluster | None = None, *, token: str | None = TOKEN) -> None:
        self.cluster = cluster or Cluster()
        self.token = token
        self.stalls: list[Stall] = []
        self._stalls_lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> KubeApiServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name="kube-api"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        for stall in self.stalls:
            stall.release()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> KubeApiServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def add_deployment(self, namespace: str, name: str, replicas: int) -> None:
        """A Deployment with ``replicas`` ready pods (the demo's target of the scale policy)."""
        self.cluster.put("deployments", deployment(namespace, name, replicas))

    def replicas(self, namespace: str, name: str) -> int:
        return int(self.cluster.get("deployments", namespace, name)["spec"]["replicas"])

    def stall(
        self, method: str, path: str, *, served: bool = False, times: int | None = None, held: bool = True
    ) -> Stall:
        """Leave requests to ``path`` unanswered (``held=False``: close their connection at once)."""
        if not held and times is None:
            raise ValueError("a stall that is not held closes connections at once: give times")
        stall = Stall(method, path, served, times)
        if not held:
            stall.release()
        self.stalls.append(stall)
        return stall

    def _stall_for(self, method: str, path: str) -> Stall | None:
        with self._stalls_lock:
            return next((s for s in self.stalls if s.take(method, path)), None)

    def answer(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for one request; every refusal is a ``Status``."""
        user = None
        if self.token is not None:
            sent = headers.get("Authorization")
            if sent is None:
                user = ANONYMOUS
            elif sent != f"Bearer {self.token}":
                return 401, unauthorized().status()
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip()
        try:
            return self.cluster.handle(method, path.split("?", 1)[0], content_type, body, user)
        except ApiError as error:
            return error.code, error.status()
        except Exception as exc:  # a bug in the stand-in: answer as NewInternalError would
            return 500, storage_error(500, "InternalError", f"Internal error occurred: {exc!r}").status()


@contextmanager
def serve(cluster: Cluster | None = None) -> Iterator[tuple[str, Cluster]]:
    """An unauthenticated server for a test: yields its URL and the cluster behind it, then stops."""
    with KubeApiServer(cluster, token=None) as server:
        yield server.url, server.cluster


def _handler_for(server: KubeApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes

        def log_message(self, format: str, *args: Any) -> None:
            """Lease renewals every few seconds would flood the terminal."""

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            stall = server._stall_for(self.command, self.path.split("?", 1)[0])
            if stall is not None:
                if stall.served:
                    server.answer(self.command, self.path, self.headers, body)
                stall.arrived.set()
                stall.released.wait()
                self.close_connection = True
                return
            code, answer = server.answer(self.command, self.path, self.headers, body)
            data = json.dumps(answer, separators=(",", ":")).encode() + b"\n"
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler
