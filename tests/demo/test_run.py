"""The demo orchestrator: the config it writes, its narration, and one whole run on a short timeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alerter.config import load
from alerter.demo.run import RULES, Options, Watcher, run, summarize, write_config

FAST_RULES = """
groups:
  - name: demo-latency
    interval: 5s
    rules:
      - alert: TTFTAnomaly
        expr: histogram_quantile(0.99, sum by (le, model_name) (rate(vllm:time_to_first_token_seconds_bucket[1m])))
        baseline: {detector: auto, history: 1d, resolution: 5m, sensitivity: 4, direction: up}
        trigger: {window: 30s, fraction: 0.5}
        for: 15s
        keep_firing_for: 15s
        labels: {severity: page}
        annotations:
          summary: "p99 TTFT of {{ labels.model_name }} is {{ value | duration }}"
        remediate: [scale-vllm]
"""


def test_written_config_loads_with_the_demo_rules(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig.yaml"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    path = write_config(tmp_path, prometheus="http://127.0.0.1:9090", port=9464, kubeconfig=kubeconfig)
    bundle = load(path)
    assert bundle.config is not None
    assert [p.mode for p in bundle.config.policies] == ["dry-run"]
    assert bundle.config.receivers[0].slack is not None
    rules = [rule for f in bundle.rule_files for g in f.rules.groups for rule in g.rules]
    assert [r.alert for r in rules] == ["TTFTAnomaly"]
    assert rules[0].remediate == ["scale-vllm"]
    assert Path(bundle.rule_files[0].path) == RULES.resolve()


def test_watcher_narrates_transitions_once_and_notices_resolution() -> None:
    said: list[str] = []
    watcher = Watcher(said.append)

    def alerts(state: str) -> dict[str, object]:
        alert = {
            "fingerprint": "f1",
            "rule": "TTFTAnomaly",
            "state": state,
            "labels": {"model_name": "m"},
            "annotations": {"summary": "slow"},
        }
        return {"alerts": [alert]}

    watcher.alerts(alerts("pending"))
    watcher.alerts(alerts("pending"))
    watcher.alerts({"alerts": []})
    assert said == [
        "alert TTFTAnomaly {model_name=m}: inactive -> pending  slow",
        "alert TTFTAnomaly {model_name=m}: pending -> inactive",
    ]
    watcher.alerts(alerts("resolved"))
    assert not watcher.resolved, "resolved counts only after the alert fired"
    watcher.alerts(alerts("firing"))
    watcher.alerts(alerts("resolved"))
    assert watcher.fired and watcher.resolved
    event = {"id": 7, "policy": "scale-vllm", "decision": "dry-run", "target": "deployment/a/b", "reason": ""}
    watcher.actions({"events": [event]})
    watcher.actions({"events": [event]})
    assert said[-1] == "remediation [scale-vllm] dry-run: deployment/a/b"
    assert sum("remediation" in line for line in said) == 1


def test_only_the_incident_models_alert_ends_the_demo() -> None:
    watcher = Watcher(lambda _: None, model="llama-3.1-8b")

    def alert(model: str, state: str) -> dict[str, object]:
        labels = {"model_name": model}
        return {
            "fingerprint": model,
            "rule": "TTFTAnomaly",
            "state": state,
            "labels": labels,
            "annotations": {},
        }

    watcher.alerts({"alerts": [alert("llama-3.1-70b", "firing")]})
    watcher.alerts({"alerts": [alert("llama-3.1-70b", "resolved")]})
    assert not watcher.fired and not watcher.resolved, "another model's page is not the incident"
    watcher.alerts({"alerts": [alert("llama-3.1-8b", "firing")]})
    watcher.alerts({"alerts": [alert("llama-3.1-8b", "resolved")]})
    assert watcher.fired and watcher.resolved


def test_summarize_shows_the_texts_of_a_slack_message() -> None:
    message = {
        "attachments": [
            {
                "blocks": [
                    {"type": "header", "text": {"type": "plain_text", "text": "[FIRING:1] TTFTAnomaly"}},
                    {"type": "section", "text": {"type": "mrkdwn", "text": "p99 TTFT\nis 2.2s"}},
                ]
            }
        ]
    }
    assert (
        summarize("[C0001] " + json.dumps(message))
        == "[C0001] message: [FIRING:1] TTFTAnomaly | p99 TTFT is 2.2s"
    )
    upload = {"files": [{"id": "F1", "name": "chart.png"}], "thread_ts": "1.2"}
    assert summarize("[C0001] " + json.dumps(upload)) == "[C0001] thread reply: chart uploaded (F1-chart.png)"
    assert summarize("[C0001] not json") == "[C0001] not json"


@pytest.mark.slow
def test_the_whole_demo_runs_to_resolution_and_stops_everything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A compressed timeline: 1.5 days of 15s history, a 1m incident, 15s for/keep_firing_for."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(FAST_RULES)
    options = Options(
        workdir=tmp_path / "demo",
        days=1.5,
        step=15.0,
        inject_after=15.0,
        duration=60.0,
        magnitude=8.0,
        timeout=300.0,
        rules=rules,
    )
    code = run(options)
    out = capsys.readouterr().out
    assert code == 0, f"the demo failed:\n{out}"
    for expected in (
        "-> pending",
        "-> firing",
        "firing -> resolved",
        "slack | [C0001] message: ",
        "remediation [scale-vllm] would-act: would scale deployment inference/vllm-llama3 2 -> 4",
        "slack | [C0001] thread reply: ",
        "[RESOLVED] TTFTAnomaly",
        "resolved: the whole loop ran",
        "stopped everything the demo started",
    ):
        assert expected in out, f"{expected!r} missing from the demo's output:\n{out}"
    assert list((tmp_path / "demo" / "slack").glob("*.png")), "the chart was saved by the sink"
    written = (tmp_path / "demo" / "slack" / "transcript.txt").read_text()
    assert "Slack transcript (" in out and "notification log: alerter notifications list --config" in out
    assert "TTFTAnomaly" in written and "-> " in written and "edited the message" in written, written
