"""Every way a query can fail surfaces as a SourceError with the right kind and retryability."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
import urllib3
from harness import GarbageServer, ManagedProcess, Reply, free_port, self_signed_certificate, start_victoria

from alerter.core.errors import SourceError
from alerter.source import ERROR_KINDS
from alerter.source.prometheus import PrometheusSource, classify


def _error(source: PrometheusSource, expr: str = "up", *, instant: bool = False) -> SourceError:
    with pytest.raises(SourceError) as info:
        if instant:
            source.query(expr, 1_700_000_000)
        else:
            source.query_range(expr, 1_700_000_000, 1_700_003_600, 60)
    assert info.value.kind in ERROR_KINDS
    assert info.value.query == expr
    return info.value


def test_bad_query_carries_prometheus_message(prometheus_source: PrometheusSource) -> None:
    error = _error(prometheus_source, "rate(up[5m]")
    assert error.kind == "bad_query" and not error.retryable
    assert "unclosed left parenthesis" in str(error)


def test_bad_query_from_victoria(victoria_source: PrometheusSource) -> None:
    error = _error(victoria_source, "rate(up[5m]", instant=True)
    assert error.kind == "bad_query" and not error.retryable


def test_nothing_listening_is_unreachable() -> None:
    with PrometheusSource(f"http://127.0.0.1:{free_port()}", timeout=5) as source:
        error = _error(source)
    assert error.kind == "unreachable" and error.retryable
    assert "refused" in str(error).lower()


def test_server_stopped_mid_test_is_unreachable(prometheus_factory: Callable[..., ManagedProcess]) -> None:
    server = prometheus_factory()
    with PrometheusSource(server.url, timeout=5) as source:
        (series,) = source.query("vector(1)", 1_700_000_000)
        assert series.values.tolist() == [1.0]
        server.stop()
        error = _error(source, "vector(1)", instant=True)
    assert error.kind == "unreachable" and error.retryable


def test_too_many_samples(prometheus_factory: Callable[..., ManagedProcess]) -> None:
    server = prometheus_factory(extra_args=["--query.max-samples=100"])
    with PrometheusSource(server.url, timeout=10) as source:
        assert len(source.query_range("vector(1)", 1_700_000_000, 1_700_000_000 + 50 * 60, 60)[0]) == 51
        error = _error(source, "sum_over_time(vector(1)[10h:1m])", instant=True)
    assert error.kind == "too_many_samples" and not error.retryable
    assert "too many samples" in str(error)


def test_victoria_sample_limit(tmp_path: Path) -> None:
    with start_victoria(tmp_path, extra_args=["-search.maxSamplesPerQuery=1000"]) as server:
        lines = "".join(
            f'm{{i="{i}"}} {i} {1_700_000_000_000 + k * 60_000}\n' for i in range(5) for k in range(600)
        )
        requests.post(f"{server.url}/api/v1/import/prometheus", data=lines, timeout=30).raise_for_status()
        requests.get(f"{server.url}/internal/force_flush", timeout=30).raise_for_status()
        with PrometheusSource(server.url, timeout=10) as source:
            error = _error(source, "sum(count_over_time(m[10h]))", instant=True)
    assert error.kind == "too_many_samples" and not error.retryable


@pytest.mark.parametrize(
    ("reply", "kind", "retryable", "words"),
    [
        (Reply(200, b"<html>hello</html>"), "malformed", True, "not JSON"),
        (
            Reply(
                200,
                b'{"status":"success","data":{"resultType":"matrix","result":[{"values":1}]}}',
                "application/json",
            ),
            "malformed",
            True,
            "unexpected result shape",
        ),
        (Reply(502, b"<html>Bad Gateway</html>"), "server_error", True, "502"),
        (
            Reply(500, b'{"status":"error","errorType":"internal","error":"boom"}'),
            "server_error",
            True,
            "boom",
        ),
        (
            Reply(
                503,
                b'{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}',
            ),
            "timeout",
            True,
            "timed out",
        ),
        (
            Reply(
                422, b'{"status":"error","errorType":"execution","error":"many-to-many matching not allowed"}'
            ),
            "bad_query",
            False,
            "many-to-many",
        ),
        (Reply(401, b"Unauthorized"), "auth", False, "401"),
        (Reply(403, b"Forbidden"), "auth", False, "403"),
        (Reply(404, b"404 page not found"), "server_error", False, "server root"),
        (Reply(429, b"slow down"), "server_error", True, "429"),
        (Reply(302, b"", "text/plain"), "malformed", True, "not JSON"),
    ],
)
def test_garbage_and_error_replies(
    garbage_server: GarbageServer, reply: Reply, kind: str, retryable: bool, words: str
) -> None:
    garbage_server.reply = reply
    with PrometheusSource(garbage_server.url, timeout=5) as source:
        error = _error(source)
    assert (error.kind, error.retryable) == (kind, retryable)
    assert words in str(error)


def test_no_answer_in_time_is_a_timeout(garbage_server: GarbageServer) -> None:
    garbage_server.reply = Reply(hang=True)
    with PrometheusSource(garbage_server.url, timeout=0.3) as source:
        error = _error(source)
    assert error.kind == "timeout" and error.retryable and "0.3s" in str(error)


def test_credentials_and_headers_are_sent(garbage_server: GarbageServer) -> None:
    garbage_server.reply = Reply(
        200, json.dumps({"status": "success", "data": {"resultType": "vector", "result": []}}).encode()
    )
    with PrometheusSource(
        garbage_server.url, bearer_token="s3cret\n", headers={"X-Scope-OrgID": "team-a"}
    ) as source:
        assert source.query("up", 1) == []
        assert "s3cret" not in repr(source)
    with PrometheusSource(garbage_server.url, basic_auth=("user", "pass"), compression=True) as source:
        source.query("up", 1)
    bearer, basic = garbage_server.requests
    assert bearer.headers["Authorization"] == "Bearer s3cret"
    assert bearer.headers["X-Scope-OrgID"] == "team-a"
    assert bearer.headers["Accept-Encoding"] == "identity"
    assert basic.headers["Authorization"] == "Basic dXNlcjpwYXNz"
    assert "gzip" in basic.headers["Accept-Encoding"]
    assert bearer.path.startswith("/api/v1/query?") and "time=1.000" in bearer.path


def test_token_file(tmp_path: Path, garbage_server: GarbageServer) -> None:
    garbage_server.reply = Reply(
        200, json.dumps({"status": "success", "data": {"resultType": "vector", "result": []}}).encode()
    )
    token = tmp_path / "token"
    token.write_text("from-file\n")
    with PrometheusSource.from_token_file(garbage_server.url, str(token)) as source:
        source.query("up", 1)
    assert garbage_server.requests[0].headers["Authorization"] == "Bearer from-file"
    (tmp_path / "empty").write_text("")
    with pytest.raises(ValueError, match="empty"):
        PrometheusSource.from_token_file(garbage_server.url, str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="cannot read"):
        PrometheusSource.from_token_file(garbage_server.url, str(tmp_path / "missing"))


@pytest.mark.parametrize(
    ("status", "error_type", "message", "kind"),
    [
        (
            422,
            "execution",
            "query processing would load too many samples into memory in query execution",
            "too_many_samples",
        ),
        (422, "", "cannot select more than -search.maxSamplesPerQuery=1000 samples", "too_many_samples"),
        (400, "bad_data", "exceeded maximum resolution of 11,000 points per timeseries", "bad_query"),
        (503, "canceled", "query was canceled", "timeout"),
        (504, "", "gateway timeout", "timeout"),
        (418, "", "teapot", "bad_query"),
    ],
)
def test_classify(status: int, error_type: str, message: str, kind: str) -> None:
    assert classify(status, error_type, message, "q").kind == kind


def test_tls_with_a_ca_bundle(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    ok = json.dumps({"status": "success", "data": {"resultType": "scalar", "result": [1, "4"]}}).encode()
    with GarbageServer(Reply(200, ok, "application/json"), tls=(cert, key)) as server:
        with PrometheusSource(server.url, ca_file=str(cert), timeout=5) as source:
            assert source.query("2+2", 1)[0].values.tolist() == [4.0]
        with (
            PrometheusSource(server.url, tls_verify=False, timeout=5) as source,
            pytest.warns(urllib3.exceptions.InsecureRequestWarning),
        ):
            assert source.query("2+2", 1)[0].values.tolist() == [4.0]
        with PrometheusSource(server.url, timeout=5) as source:
            error = _error(source, "2+2", instant=True)
    assert error.kind == "auth" and not error.retryable and "ca_file" in str(error)
