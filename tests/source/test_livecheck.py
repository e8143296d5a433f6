"""``alerter check --prometheus``: rules against the series a real Prometheus and VictoriaMetrics hold.

The series are written at a fixed epoch (Prometheus by remote write, VictoriaMetrics by its
text import) and every check runs with ``at`` at that epoch, so nothing depends on the clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from harness import GarbageServer, Reply, free_port, start_victoria

from alerter import cli
from alerter.config import load
from alerter.ruletest.prometheus import SeriesData, ThrowawayPrometheus, find_binary
from alerter.source.livecheck import Report, check_rules
from alerter.source.prometheus import PrometheusSource

EPOCH = 1_714_564_800  # 2024-05-01T12:00:00Z
POD = {"job": "vllm", "pod": "vllm-0", "model_name": "llama"}
SERIES = [
    {"__name__": "vllm:time_to_first_token_seconds_bucket", "le": "1", **POD},
    {"__name__": "vllm:request_success_total", "finished_reason": "stop", **POD},
    {"__name__": "vllm:num_requests_waiting", **POD},
]

RULES = """\
groups:
  - name: vllm
    rules:
      - alert: SlowFirstToken
        expr: histogram_quantile(0.99, sum by (le) (rate(vllm_time_to_first_token_seconds_bucket[5m]))) > 2
      - alert: ErrorsByZone
        expr: sum by (zone) (rate(vllm:request_success_total[5m])) > 0
      - alert: QueueLong
        expr: vllm:num_requests_waiting > 10
        annotations:
          summary: "{{ $labels.nosuch }} waits on {{ $labels.pod }}"
      - alert: NoSuchPod
        expr: vllm:num_requests_waiting{pod="nosuch"} > 10
      - alert: QueueLongJinja
        expr: max by (model_name) (vllm:num_requests_waiting) > 10
        annotations:
          summary: "{{ labels.model_name }} on {{ labels.nosuch }}"
      - alert: NoStops
        expr: |
          sum by (model_name) (rate(vllm:request_success_total{finished_reason="stop"}[5m])) == 0
          and on (model_name) vllm:num_requests_waiting > 0
        labels: {severity: page}
        annotations:
          summary: "{{ $labels.model_name }} stopped ({{ $labels.severity }})"
"""


def _expected(path: Path, url: str) -> list[str]:
    """Each finding of RULES, columns counted by hand from the text above."""
    return [
        f"{path}:5:58: groups[0].rules[0].expr: selector vllm_time_to_first_token_seconds_bucket "
        f"matches no series on {url}; did you mean vllm:time_to_first_token_seconds_bucket?",
        f"{path}:7:23: groups[0].rules[1].expr: label zone in by(...) is on no series of "
        f"vllm:request_success_total on {url}; labels there: finished_reason, job, model_name, pod",
        f"{path}:11:32: groups[0].rules[2].annotations.summary: the template reads label nosuch, which is "
        f"on no series of vllm:num_requests_waiting on {url}; labels there: job, model_name, pod",
        f'{path}:13:15: groups[0].rules[3].expr: selector vllm:num_requests_waiting{{pod="nosuch"}} matches '
        f"no series on {url}; series named vllm:num_requests_waiting exist: check the label matchers",
        f"{path}:17:58: groups[0].rules[4].annotations.summary: the template reads label nosuch, which is "
        f"on no series of vllm:num_requests_waiting on {url}; labels there: job, model_name, pod",
    ]


def _samples(labels: dict[str, str]) -> SeriesData:
    """Ten minutes of one sample a minute, ending at EPOCH."""
    return SeriesData(labels, [((EPOCH - 600 + 60 * i) * 1000, float(i)) for i in range(11)])


@pytest.fixture(scope="module")
def prometheus() -> Iterator[ThrowawayPrometheus]:
    with ThrowawayPrometheus(find_binary(None)) as server:
        server.push([_samples(labels) for labels in SERIES])
        yield server


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "vllm.rules.yaml"
    path.write_text(RULES)
    return path


def _check(url: str, path: Path, *, at: float = EPOCH, max_requests: int = 200) -> Report:
    with PrometheusSource(url, timeout=10) as source:
        return check_rules(
            source, load(None, [path]).rule_files, at=at, lookback=3600, max_requests=max_requests
        )


def test_each_finding_names_its_file_line_column_and_field(
    prometheus: ThrowawayPrometheus, rules: Path
) -> None:
    report = _check(prometheus.url, rules)
    assert [str(f) for f in report.findings] == _expected(rules, prometheus.url)
    # The correct rule (rules[5]: two selectors, on(), templates reading a series and a rule label) says nothing.
    assert not [f for f in report.findings if f.path.startswith("groups[0].rules[5]")]
    assert (report.rules, report.not_promql, report.unchecked) == (6, 0, 0)


def test_selectors_cost_requests_only_when_a_name_alone_cannot_tell(
    prometheus: ThrowawayPrometheus, rules: Path
) -> None:
    # 1 for the metric names; rules[0]'s selector is a missing name (free); rules[1], [2] and [4] each
    # ask the labels of their bare selector (rules[2] and [4] share it: one request); rules[3] and
    # rules[5] each have a selector with matchers; rules[5]'s bare selector is rules[2]'s again.
    assert _check(prometheus.url, rules).requests == 1 + 2 + 2


def test_the_request_cap_leaves_rules_unchecked_and_says_so(
    prometheus: ThrowawayPrometheus, rules: Path
) -> None:
    report = _check(prometheus.url, rules, max_requests=2)
    assert report.requests == 2
    assert report.unchecked == 4  # the labels of rules[2] and [4], the matchers of rules[3] and [5]
    assert [f.path for f in report.findings] == ["groups[0].rules[0].expr", "groups[0].rules[1].expr"]


def test_cli_says_how_many_rules_the_cap_left_unchecked(
    prometheus: ThrowawayPrometheus, rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "check",
        "-q",
        str(rules),
        "--prometheus",
        prometheus.url,
        "--at",
        str(EPOCH),
        "--max-requests",
        "2",
    ]
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"{prometheus.url}: 2 warnings in 6 rules (series of the 1h before 2024-05-01T12:00:00Z; "
        "2 requests, 4 rules not checked within --max-requests 2)"
    )


def test_only_series_in_the_lookback_window_count(prometheus: ThrowawayPrometheus, rules: Path) -> None:
    report = _check(prometheus.url, rules, at=EPOCH + 30 * 86_400)
    assert len(report.findings) == 7  # every selector: the series ended a month before
    assert all("matches no series" in f.message for f in report.findings)


def test_absent_and_recorded_selectors_say_why_they_matter(
    prometheus: ThrowawayPrometheus, tmp_path: Path
) -> None:
    path = tmp_path / "more.rules.yaml"
    path.write_text(
        "groups:\n"
        "  - name: more\n"
        "    rules:\n"
        "      - record: model:vllm_waiting:max\n"
        "        expr: max by (model_name) (vllm:num_requests_waiting)\n"
        "      - alert: Waiting\n"
        "        expr: model:vllm_waiting:max > 10\n"
        "      - alert: NoExporter\n"
        '        expr: absent(vllm:gpu_cache_usage_perc{job="vllm"})\n'
        '        annotations: {summary: "{{ $labels.job }} exports nothing"}\n'
    )
    report = _check(prometheus.url, path)
    assert [str(f) for f in report.findings] == [
        f"{path}:7:15: groups[0].rules[1].expr: selector model:vllm_waiting:max matches no series on "
        f"{prometheus.url}; it is recorded by {path}: groups[0].rules[0]: is that rule loaded in Prometheus?",
        f'{path}:9:22: groups[0].rules[2].expr: selector vllm:gpu_cache_usage_perc{{job="vllm"}} matches no '
        f"series on {prometheus.url} inside absent(), so the alert is firing now",
    ]


def test_cli_prints_warnings_and_passes_unless_strict(
    prometheus: ThrowawayPrometheus, rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["check", "-q", str(rules), "--prometheus", prometheus.url, "--at", str(EPOCH)]
    assert cli.main(argv) == 0
    out, err = capsys.readouterr()
    expected = _expected(rules, prometheus.url)
    assert err.splitlines() == [line.replace(": groups", ": warning: groups", 1) for line in expected]
    assert out.splitlines()[-1] == (
        f"{prometheus.url}: 5 warnings in 6 rules (series of the 1h before 2024-05-01T12:00:00Z; 5 requests)"
    )
    assert cli.main([*argv, "--strict"]) == 1
    out, err = capsys.readouterr()
    assert err.splitlines()[0] == expected[0].replace(": groups", ": error: groups", 1)
    assert out.splitlines()[-1].startswith(f"{prometheus.url}: 5 errors in 6 rules")


def test_cli_correct_rules_pass_strict(
    prometheus: ThrowawayPrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ok.rules.yaml"
    header, _ = RULES.split("      - alert: SlowFirstToken\n")
    _, correct = RULES.split("      - alert: NoStops\n")
    path.write_text(header + "      - alert: NoStops\n" + correct)
    argv = ["check", "-q", str(path), "--prometheus", prometheus.url, "--at", str(EPOCH), "--strict"]
    assert cli.main(argv) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines()[-1].startswith(f"{prometheus.url}: 0 errors in 1 rule ")


def test_cli_unreachable_server_is_one_line(rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert cli.main(["check", "-q", str(rules), "--prometheus", url, "--at", str(EPOCH)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [f"alerter check: cannot reach {url}: Connection refused"]


def test_cli_refused_credentials_are_one_line(
    garbage_server: GarbageServer, rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    garbage_server.reply = Reply(401, b"Unauthorized", "text/plain")
    assert cli.main(["check", "-q", str(rules), "--prometheus", garbage_server.url]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [f"alerter check: {garbage_server.url} refused the credentials (HTTP 401)"]


def test_cli_takes_the_url_and_credentials_of_the_config(
    garbage_server: GarbageServer, tmp_path: Path, rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    garbage_server.reply = Reply(200, b'{"status":"success","data":[]}', "application/json")
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    config = tmp_path / "alerter.yaml"
    config.write_text(
        f"prometheus: {{url: {garbage_server.url}, bearer_token_file: {token}}}\nrule_files: [{rules.name}]\n"
    )
    assert cli.main(["check", "-q", "--config", str(config), "--prometheus", "--at", str(EPOCH)]) == 0
    sent = garbage_server.requests
    assert [r.path for r in sent] == ["/api/v1/label/__name__/values?start=1714561200.000&end=1714564800.000"]
    assert sent[0].headers["Authorization"] == "Bearer s3cret"
    assert capsys.readouterr().err.count(": warning: ") == 7  # nothing exists on an empty server


def test_cli_without_url_or_config_says_what_to_give(rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", "-q", str(rules), "--prometheus"]) == 2
    assert "--prometheus needs a URL, or --config with a prometheus: section" in capsys.readouterr().err


def test_victoriametrics_answers_the_same(
    tmp_path: Path, rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metricsql = tmp_path / "metricsql.rules.yaml"
    metricsql.write_text(
        "groups:\n  - name: mql\n    rules:\n"
        "      - alert: Waiting\n        expr: WITH (w = vllm:num_requests_waiting) w > 10\n"
    )
    config = tmp_path / "alerter.yaml"
    server = start_victoria(tmp_path / "vm")
    try:
        lines = [
            "{}{{{}}} {} {}".format(
                labels["__name__"],
                ",".join(f'{k}="{v}"' for k, v in labels.items() if k != "__name__"),
                float(i),
                (EPOCH - 600 + 60 * i) * 1000,
            )
            for labels in SERIES
            for i in range(11)
        ]
        response = requests.post(f"{server.url}/api/v1/import/prometheus", data="\n".join(lines), timeout=30)
        assert response.status_code in (200, 204)
        requests.get(f"{server.url}/internal/force_flush", timeout=30).raise_for_status()
        report = _check(server.url, rules)
        config.write_text(
            f"prometheus: {{url: {server.url}, flavor: victoriametrics}}\n"
            f"rule_files: [{rules.name}, {metricsql.name}]\n"
        )
        code = cli.main(["check", "-q", "--config", str(config), "--prometheus", "--at", str(EPOCH)])
    finally:
        server.stop()
    assert [str(f) for f in report.findings] == _expected(rules, server.url)
    assert code == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"{server.url}: 5 warnings in 7 rules (series of the 1h before 2024-05-01T12:00:00Z; "
        "6 requests, 1 rule not PromQL, not checked)"
    )
