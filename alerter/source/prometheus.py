"""The Prometheus HTTP API client: queries, label names and values from any Prometheus-compatible server.

The only module that imports prometheus-api-client. The composition root builds one
``PrometheusSource`` from the ``prometheus:`` config section (secrets already resolved from
their ``*_file`` / ``*_env`` settings) and hands it to the evaluator as an
``alerter.source.Source``. Speaks the Prometheus HTTP API, so Thanos and Mimir too; tested
against Prometheus and VictoriaMetrics.

Three things matter on the hot path:

- Range queries are aligned to multiples of ``step`` so repeated evaluations hit the same
  sample grid, and split into chunks of at most ``max_points`` points per series (Prometheus
  refuses more than 11,000); chunks do not overlap and are merged by label set.
- The request goes through the library's ``requests`` session (auth, TLS, headers), but the
  body is parsed by ``alerter.source.parse``: on 20k-point series about 3x faster than
  ``json.loads`` plus conversion, and the whole fetch about 4x faster than the library's own
  ``custom_query_range`` (see ``benchmarks/fetch.py``). Responses are requested uncompressed
  unless ``compression`` is set: gzip made a local fetch several times slower.
- Every failure becomes a ``SourceError`` with a ``kind`` and ``retryable``; no raw
  ``requests`` exception escapes. The library's own retries are switched off (``read=False``
  keeps read timeouts apart from refused connections): retrying is the scheduler's decision.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlparse

import numpy as np
import requests
import urllib3
from prometheus_api_client import PrometheusConnect
from urllib3.util.retry import Retry

from alerter.core.errors import SourceError
from alerter.core.model import Series
from alerter.source.parse import ApiError, parse_response

__all__ = ["MAX_POINTS_PER_SERIES", "PrometheusSource"]

MAX_POINTS_PER_SERIES = 11_000
"""Prometheus rejects range queries that would return more points per series than this."""

_POST_ABOVE = 2_000
"""Expressions longer than this (characters) are sent as a form body, not in the URL."""

_TOO_MANY_SAMPLES = ("too many samples", "maxsamplesperquery", "max-samples", "maxpointspertimeseries")


class PrometheusSource:
    """Queries a Prometheus-compatible HTTP API and returns ``Series``.

    ``basic_auth`` is a ``(user, password)`` pair; ``ca_file`` is a PEM bundle that verifies
    the server (it implies ``tls_verify``); ``headers`` are sent with every request (e.g. a
    tenant header for Mimir). Thread-safe for concurrent queries as ``requests`` sessions are.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        bearer_token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        ca_file: str | None = None,
        tls_verify: bool = True,
        compression: bool = False,
        max_points: int = MAX_POINTS_PER_SERIES,
    ) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"prometheus url must look like http://host:9090, got {url!r}")
        if not (timeout > 0 and math.isfinite(timeout)):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if max_points < 2:
            raise ValueError(f"max_points must be at least 2, got {max_points!r}")
        if bearer_token is not None and basic_auth is not None:
            raise ValueError("use either bearer_token or basic_auth, not both")
        if ca_file is not None and not Path(ca_file).is_file():
            raise ValueError(f"ca_file {ca_file!r} does not exist or is not a file")
        self.url = url.rstrip("/")
        self.timeout = float(timeout)
        self.max_points = int(max_points)
        session = requests.Session()
        session.verify = ca_file if ca_file is not None else tls_verify
        session.headers["Accept-Encoding"] = "gzip" if compression else "identity"
        session.headers.update(headers or {})
        if bearer_token is not None:
            session.headers["Authorization"] = f"Bearer {bearer_token.strip()}"
        client_options: dict[str, Any] = {"auth": basic_auth, "timeout": self.timeout}
        self._client = PrometheusConnect(
            url=self.url,
            session=session,
            disable_ssl=not tls_verify,
            retry=Retry(total=0, read=False, raise_on_status=False),
            **client_options,
        )
        self._session: requests.Session = session
        self._auth = basic_auth
        # Passed with every request: requests lets REQUESTS_CA_BUNDLE override a session's verify.
        self._verify: str | bool = session.verify

    @classmethod
    def from_token_file(cls, url: str, token_file: str, **kwargs: Any) -> PrometheusSource:
        """A source authenticating with the bearer token stored in ``token_file`` (read once)."""
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read bearer token file {token_file!r}: {exc.strerror}") from None
        if not token:
            raise ValueError(f"bearer token file {token_file!r} is empty")
        return cls(url, bearer_token=token, **kwargs)

    def __repr__(self) -> str:
        return f"PrometheusSource({self.url!r}, timeout={self.timeout})"

    def close(self) -> None:
        """Release pooled connections."""
        self._session.close()

    def __enter__(self) -> PrometheusSource:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- queries -------------------------------------------------------------------------

    def query(self, expr: str, at: float) -> list[Series]:
        """Instant query at ``at`` (unix seconds); each Series has one point."""
        _check_expr(expr)
        _check_time("at", at, expr)
        return self._get("/api/v1/query", {"query": expr, "time": _fmt(at)}, expr)

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        """Range query on the grid of multiples of ``step``, chunked and merged by label set."""
        _check_expr(expr)
        _check_time("start", start, expr)
        _check_time("end", end, expr)
        if not (step > 0 and math.isfinite(step)):
            raise SourceError(
                "bad_query", f"step must be a positive number, got {step!r}", retryable=False, query=expr
            )
        if end < start:
            raise SourceError("bad_query", f"end {end} is before start {start}", retryable=False, query=expr)
        chunks = [
            self._get(
                "/api/v1/query_range",
                {"query": expr, "start": _fmt(s), "end": _fmt(e), "step": _fmt(step)},
                expr,
            )
            for s, e in plan_chunks(start, end, step, self.max_points)
        ]
        return chunks[0] if len(chunks) == 1 else merge_chunks(chunks)

    # -- metadata: which series and labels exist ------------------------------------------

    def label_names(self, matches: Sequence[str], start: float, end: float) -> list[str]:
        """Names of the labels of the series that match any of ``matches`` between ``start`` and ``end``.

        ``/api/v1/labels`` with one ``match[]`` per selector: the union over all of them, empty
        when none matches a series. Prometheus and VictoriaMetrics answer from their index, so
        the time range is as coarse as their blocks (two hours) or index (a day). The library's
        ``get_label_names`` sends the same request but reports every failure as one exception
        type with the status code only (prometheus_api_client/prometheus_connect.py), so the
        request goes through this module's session and error classification instead.
        """
        if not matches:
            raise SourceError("bad_query", "label_names needs at least one selector", retryable=False)
        what = " or ".join(matches)
        params = {"match[]": list(matches), "start": _fmt(start), "end": _fmt(end)}
        # Prometheus takes this endpoint as a form body too (web/api/v1/api.go), so long lists fit.
        post = sum(len(m) for m in matches) > _POST_ABOVE
        return self._strings("/api/v1/labels", params, what, post=post)

    def label_values(self, label: str, start: float, end: float, matches: Sequence[str] = ()) -> list[str]:
        """Every value of ``label`` on series between ``start`` and ``end`` that match any of ``matches``
        (all series without them); ``label_values("__name__", ...)`` lists the metric names.

        With ``matches`` the list is empty exactly when no series matches, which ``label_names``
        cannot say: VictoriaMetrics answers ``["__name__"]`` for a selector that matches nothing.
        """
        if not label:
            raise SourceError("bad_query", "label_values needs a label name", retryable=False)
        params: dict[str, str | list[str]] = {"start": _fmt(start), "end": _fmt(end)}
        if matches:
            params["match[]"] = list(matches)
        what = f"values of {label}" + (f" for {' or '.join(matches)}" if matches else "")
        return self._strings(f"/api/v1/label/{quote(label, safe='')}/values", params, what, post=False)

    def _strings(
        self, path: str, params: Mapping[str, str | Sequence[str]], what: str, *, post: bool
    ) -> list[str]:
        status, body = self._send(path, params, what, post=post)
        _refuse(self.url, status, what)
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            if status >= 300:
                raise classify(status, "", body[:200].decode("utf-8", "replace"), what)
            raise SourceError(
                "malformed", f"{self.url}{path} did not answer JSON", retryable=False, query=what
            )
        if answer.get("status") != "success" or status >= 300:
            error = str(answer.get("error") or f"unexpected HTTP {status}")
            raise classify(status, str(answer.get("errorType") or ""), error, what)
        data = answer.get("data")
        if not isinstance(data, list) or not all(isinstance(v, str) for v in data):
            raise SourceError(
                "malformed",
                f"{self.url}{path} answered without a list of strings",
                retryable=False,
                query=what,
            )
        return list(data)

    # -- transport -----------------------------------------------------------------------

    def _get(self, path: str, params: dict[str, str], expr: str) -> list[Series]:
        status, body = self._send(path, params, expr, post=len(expr) > _POST_ABOVE)
        return self._interpret(status, body, expr)

    def _send(
        self, path: str, params: Mapping[str, str | Sequence[str]], expr: str, *, post: bool
    ) -> tuple[int, bytes]:
        """One request through the library's session; every transport failure is a ``SourceError``."""
        url = self._client.url + path
        try:
            if post:
                response = self._session.post(
                    url, data=params, auth=self._auth, timeout=self.timeout, verify=self._verify
                )
            else:
                response = self._session.get(
                    url, params=params, auth=self._auth, timeout=self.timeout, verify=self._verify
                )
            body = response.content
        except requests.exceptions.SSLError as exc:
            raise SourceError(
                "auth",
                f"TLS verification of {self.url} failed ({_reason(exc)}); set ca_file to the CA that signed "
                "its certificate, or tls_verify: false",
                retryable=False,
                query=expr,
            ) from None
        except requests.Timeout:
            raise SourceError(
                "timeout", f"no answer from {self.url} within {self.timeout:g}s", retryable=True, query=expr
            ) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise SourceError(
                "unreachable", f"cannot reach {self.url}: {_reason(exc)}", retryable=True, query=expr
            ) from None
        return response.status_code, body

    def _interpret(self, status: int, body: bytes, expr: str) -> list[Series]:
        _refuse(self.url, status, expr)
        try:
            series = parse_response(body, expr)
        except ApiError as exc:
            raise classify(status, exc.error_type, exc.message, expr) from None
        except SourceError as exc:
            if status >= 400:
                raise classify(status, "", body[:200].decode("utf-8", "replace"), expr) from None
            raise exc from None
        if status >= 300:
            raise classify(status, "", f"unexpected HTTP {status}", expr)
        return series


def _refuse(url: str, status: int, expr: str) -> None:
    """The answers that mean the server will never answer this client: wrong credentials or URL."""
    if status in (401, 403):
        raise SourceError(
            "auth", f"{url} refused the credentials (HTTP {status})", retryable=False, query=expr
        )
    if status == 404:
        raise SourceError(
            "server_error",
            f"{url} has no Prometheus query API (HTTP 404); the url should be the server root",
            retryable=False,
            query=expr,
        )


def classify(status: int, error_type: str, message: str, expr: str) -> SourceError:
    """Map an HTTP status and Prometheus ``errorType`` onto a ``SourceError``.

    Prometheus: 400 bad_data, 422 execution (including the sample limit), 503 timeout/canceled,
    500 internal. VictoriaMetrics answers 422 or 400 with its own wording for its limits.
    """
    lowered = message.lower()
    detail = f"{error_type}: {message}" if error_type else message
    if any(marker in lowered for marker in _TOO_MANY_SAMPLES):
        return SourceError(
            "too_many_samples",
            f"the query would load too many samples (HTTP {status}, {detail}); shorten the range, "
            "raise the step or aggregate more",
            retryable=False,
            query=expr,
        )
    if error_type in ("timeout", "canceled") or status == 504:
        return SourceError(
            "timeout", f"the server gave up on the query: {detail}", retryable=True, query=expr
        )
    if status in (400, 422) or error_type in ("bad_data", "execution"):
        return SourceError(
            "bad_query", f"the server rejected the query: {detail}", retryable=False, query=expr
        )
    if status == 429 or status >= 500:
        return SourceError(
            "server_error", f"server error HTTP {status}: {detail}", retryable=True, query=expr
        )
    return SourceError("bad_query", f"unexpected HTTP {status}: {detail}", retryable=False, query=expr)


def plan_chunks(start: float, end: float, step: float, max_points: int) -> list[tuple[float, float]]:
    """Non-overlapping ``(start, end)`` pairs on the step grid, each with at most ``max_points``.

    The first point is the multiple of ``step`` at or before ``start``; the last is the one at
    or before ``end``.
    """
    first = math.floor(start / step) * step
    count = math.floor((end - first) / step + 1e-9) + 1
    out = []
    for offset in range(0, count, max_points):
        chunk_start = first + offset * step
        chunk_points = min(max_points, count - offset)
        out.append((chunk_start, chunk_start + (chunk_points - 1) * step))
    return out


def merge_chunks(chunks: list[list[Series]]) -> list[Series]:
    """Concatenate per-chunk results by label set, keeping timestamps strictly ascending."""
    parts: dict[Any, list[Series]] = {}
    for chunk in chunks:
        for series in chunk:
            parts.setdefault(series.labels, []).append(series)
    merged = []
    for labels, pieces in parts.items():
        ts = np.concatenate([p.timestamps for p in pieces])
        vs = np.concatenate([p.values for p in pieces])
        if ts.size > 1 and not bool(np.all(ts[1:] > ts[:-1])):
            ts, index = np.unique(ts, return_index=True)
            vs = vs[index]
        merged.append(Series(labels, ts, vs))
    return merged


def _check_expr(expr: str) -> None:
    if not isinstance(expr, str) or not expr.strip():
        raise SourceError("bad_query", "the query expression is empty", retryable=False, query=str(expr))


def _check_time(name: str, value: float, expr: str) -> None:
    if not math.isfinite(value):
        raise SourceError(
            "bad_query", f"{name} must be a finite unix time, got {value!r}", retryable=False, query=expr
        )


def _fmt(seconds: float) -> str:
    """Millisecond precision, the resolution of Prometheus timestamps."""
    return f"{seconds:.3f}"


def _reason(exc: Exception) -> str:
    """The innermost cause ("Connection refused"), not urllib3's pool description."""
    cause: BaseException = exc
    while cause.__context__ is not None and cause.__context__ is not cause:
        cause = cause.__context__
    text = str(cause) or type(cause).__name__
    return text.split("] ", 1)[-1] if text.startswith("[Errno") else text
