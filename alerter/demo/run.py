"""``make demo``: the whole loop on one machine, from simulated history to a resolved, remediated page.

``python -m alerter.demo`` (what the Makefile's ``demo`` target runs) starts, all on 127.0.0.1 and
under a throw-away ``.demo/`` directory: a Prometheus backfilled with two weeks of simulated fleet
history (``alerter.sim.history`` + ``promtool``) that goes on scraping the live simulator
(``SimServer``), the local Slack sink (or real Slack when ``SLACK_BOT_TOKEN`` and ``SLACK_CHANNEL``
are set), the demo cluster (``alerter.testing.kubernetes``) for the dry-run scale decision, and ``alerter
run`` with ``deploy/demo/rules.yaml``. It then injects a latency regression and narrates what the
engine does, polling its HTTP API: pending, firing, the Slack message, the remediation decision, the
resolution. It exits once the alert resolved (``--keep-running`` to stay), and on Ctrl-C or any
error stops everything it started. Whatever the outcome, it then writes a readable transcript of
every message the local Slack sink received (``alerter.demo.transcript``) to ``.demo/slack/transcript.txt``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from alerter.core.durations import format_duration, parse_duration
from alerter.demo import transcript
from alerter.demo.stack import Children, backfill, free_port, start_prometheus, wait_ready
from alerter.service.app import SLACK_API_ENV
from alerter.sim.fleet import DEFAULT_MODELS, TICK, Fleet
from alerter.sim.server import SimServer
from alerter.testing.kubernetes import KubeApiServer as DemoCluster
from alerter.testing.kubernetes import write_kubeconfig

__all__ = ["Options", "Stack", "Watcher", "main", "run", "summarize", "write_config"]

RULES = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "rules.yaml"
DEPLOYMENT = ("inference", "vllm-llama3")
SINK_TOKEN_ENV = "ALERTER_DEMO_SLACK_TOKEN"
SINK_TOKEN = "xoxb-demo-sink-token"
SINK_CHANNELS = {"#alerts": "C0001"}
RESOLVED_GRACE = 30.0

CONFIG = """# Written by `python -m alerter.demo`; every address is a local demo process.
prometheus: {{url: "{prometheus}"}}
rule_files: ["{rules}"]
storage: {{path: state/alerter.db}}
server: {{listen: "127.0.0.1:{port}"}}
logging: {{level: warning}}
receivers:
  - name: oncall
    slack: {{channel: "{channel}", token_env: {token_env}}}
route: {{receiver: oncall, group_by: [alertname, model_name], group_wait: 0s, group_interval: 15s, repeat_interval: 4h}}
policies:
  - name: scale-vllm
    mode: dry-run
    scale: {{deployment: {namespace}/{deployment}, step: 2, max_replicas: 8}}
    cooldown: 10m
    verify: {{within: 5m}}
    revert_on_resolve: true
remediation:
  allow_namespaces: [{namespace}]
  kubernetes: {{kubeconfig: "{kubeconfig}"}}
"""


SCENARIO_AT = 1795010400.0
"""2026-11-18T14:00Z, a Wednesday afternoon: the simulated fleet's own clock reads this when the
demo starts, whatever the real date and hour (``Fleet.phase``), so every run shows the same traffic."""


@dataclass(frozen=True)
class Options:
    """What the demo does and how long each part takes (every duration in seconds)."""

    workdir: Path = Path(".demo")
    days: float = 14.0
    step: float = 60.0
    scrape: float = 5.0
    inject_after: float = 30.0
    kind: str = "latency_regression"
    model: str = DEFAULT_MODELS[0].name
    magnitude: float = 4.0
    duration: float = 120.0
    timeout: float = 900.0
    keep_running: bool = False
    rules: Path = RULES


def write_config(
    directory: Path,
    *,
    prometheus: str,
    port: int,
    kubeconfig: Path,
    rules: Path = RULES,
    channel: str = "#alerts",
    token_env: str = SINK_TOKEN_ENV,
) -> Path:
    """The demo's ``alerter.yaml``: demo rules, one Slack receiver, the dry-run scale policy."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "alerter.yaml"
    namespace, deployment = DEPLOYMENT
    path.write_text(
        CONFIG.format(
            prometheus=prometheus,
            rules=rules.resolve(),
            port=port,
            channel=channel,
            token_env=token_env,
            namespace=namespace,
            deployment=deployment,
            kubeconfig=kubeconfig.resolve(),
        ),
        encoding="utf-8",
    )
    return path


@dataclass
class Watcher:
    """Turns polls of the engine's API into narration: alert transitions and remediation decisions."""

    say: Callable[[str], None]
    model: str = ""
    """The model the incident is injected into: only its alert firing and resolving ends the demo
    (another model's alert, on noise of the live simulator, is narrated but is not the incident)."""
    states: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    seen_events: set[int] = field(default_factory=set)
    fired: bool = False
    resolved: bool = False

    def alerts(self, payload: dict[str, Any]) -> None:
        listed = payload.get("alerts", [])
        present = {alert["fingerprint"] for alert in listed}
        for key in [k for k in self.states if k not in present]:
            self.say(f"alert {self.names.pop(key, key)}: {self.states.pop(key)} -> inactive")
        for alert in listed:
            key, state = alert["fingerprint"], alert["state"]
            if self.states.get(key) == state:
                continue
            before = self.states.get(key, "inactive")
            self.states[key] = state
            model = alert["labels"].get("model_name", "?")
            self.names[key] = f"{alert['rule']} {{model_name={model}}}"
            detail = {
                "resolved": "",
                "inactive": "",
                "nodata": f"({alert.get('reason') or 'no data yet'})",
            }.get(state, alert["annotations"].get("summary", ""))
            self.say(f"alert {alert['rule']} {{model_name={model}}}: {before} -> {state}  {detail}".rstrip())
            if not self.model or model == self.model:
                self.fired = self.fired or state == "firing"
                self.resolved = self.resolved or (self.fired and state == "resolved")

    def actions(self, payload: dict[str, Any]) -> None:
        if "disabled" in payload and -1 not in self.seen_events:
            self.seen_events.add(-1)
            self.say(f"remediation: {payload['disabled']}")
        for event in sorted(payload.get("events", []), key=lambda e: int(e["id"])):
            if event["id"] in self.seen_events:
                continue
            self.seen_events.add(event["id"])
            self.say(
                f"remediation [{event['policy']}] {event['decision']}: {event.get('reason') or event['target']}"
            )


@dataclass
class Stack:
    """Everything the demo started; ``close`` stops it all, whatever state it is in."""

    children: Children = field(default_factory=Children)
    sim: SimServer | None = None
    cluster: DemoCluster | None = None
    sink: Any = None
    slack: list[str] = field(default_factory=list)
    """What the local sink received, summarized (empty with real Slack)."""
    received: list[transcript.Event] = field(default_factory=list)
    """What the local sink received, whole and with arrival times, for the transcript."""
    transcript: Path | None = None
    """Where the transcript goes; None with real Slack (the channel is the transcript)."""
    config: Path | None = None

    def close(self) -> None:
        self.children.stop_all()
        for server in (self.sim, self.cluster, self.sink):
            if server is not None:
                server.stop()
        self.sim = self.cluster = self.sink = None


def _clock(start: float) -> Callable[[str], None]:
    def say(text: str) -> None:
        elapsed = int(time.monotonic() - start)
        print(f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {text}", flush=True)

    return say


def _texts(node: Any) -> list[str]:
    """Every Block Kit ``text`` string of a message, in reading order."""
    if isinstance(node, dict):
        text = node.get("text")
        found = [text] if isinstance(text, str) and node.get("type") != "button" else []
        return (
            found
            + [t for k, v in node.items() if k != "text" for t in _texts(v)]
            + (_texts(text) if isinstance(text, dict) else [])
        )
    if isinstance(node, list):
        return [t for item in node for t in _texts(item)]
    return []


def summarize(line: str) -> str:
    """One line of what the Slack sink received: the message's first texts, or the uploaded files."""
    channel, _, body = line.partition(" ")
    try:
        message = json.loads(body)
    except ValueError:
        return line
    where = "thread reply" if message.get("thread_ts") else "message"
    if message.get("files"):
        names = ", ".join(f"{f['id']}-{f['name']}" for f in message["files"])
        return f"{channel} {where}: chart uploaded ({names})"
    texts = _texts(message.get("attachments", [])) + _texts(message.get("blocks", []))
    lines = [" ".join(t.split()) for t in texts if t.strip()]
    return f"{channel} {where}: {' | '.join(dict.fromkeys(lines))[:240]}"


def _slack(stack: Stack, options: Options, say: Callable[[str], None]) -> tuple[str, str, dict[str, str]]:
    """(channel, token env var, extra env) for the receiver: real Slack when configured, else the sink."""
    channel = os.environ.get("SLACK_CHANNEL", "")
    if os.environ.get("SLACK_BOT_TOKEN") and channel:
        say(f"Slack: posting to the real workspace, channel {channel}")
        return channel, "SLACK_BOT_TOKEN", {}
    from alerter.testing.slack import SlackSink

    out = options.workdir / "slack"

    def echo(line: str) -> None:
        event = transcript.record(time.time(), line)
        if event is not None:
            stack.received.append(event)
        stack.slack.append(summarize(line))
        say(f"slack | {stack.slack[-1]}")

    stack.sink = SlackSink(token=SINK_TOKEN, channels=SINK_CHANNELS, out_dir=out, echo=echo).start()
    stack.transcript = out / "transcript.txt"
    say(
        f"Slack: local sink on {stack.sink.url} (charts saved under {out}/); set SLACK_BOT_TOKEN and "
        "SLACK_CHANNEL for real Slack"
    )
    return "#alerts", SINK_TOKEN_ENV, {SINK_TOKEN_ENV: SINK_TOKEN, SLACK_API_ENV: stack.sink.api_url}


def start(stack: Stack, options: Options, say: Callable[[str], None]) -> tuple[str, str]:
    """Start every component; returns (alerter URL, simulator URL)."""
    work = options.workdir.resolve()
    for name in ("prometheus", "state", "history"):
        shutil.rmtree(work / name, ignore_errors=True)
    end = math.floor(time.time() / options.step) * options.step
    say(f"writing {options.days:g} days of simulated history ({len(DEFAULT_MODELS)} models), backfilling it")
    data = work / "prometheus" / "data"
    fleet = Fleet(DEFAULT_MODELS, 0, (), phase=SCENARIO_AT - math.floor(end / TICK) * TICK)
    samples = backfill(
        data, work / "history", fleet, start=end - options.days * 86400, end=end, step=options.step
    )
    say(f"backfilled {samples:,} samples into Prometheus blocks")
    stack.sim = SimServer(fleet).start()
    prom_url = start_prometheus(stack.children, work / "prometheus", stack.sim.url, options.scrape)
    say(f"Prometheus on {prom_url}, scraping the live simulator {stack.sim.url} every {options.scrape:g}s")
    stack.cluster = DemoCluster().start()
    stack.cluster.add_deployment(*DEPLOYMENT, replicas=2)
    kubeconfig = write_kubeconfig(work / "kubeconfig.yaml", stack.cluster.url)
    say(
        f"demo cluster (not a real Kubernetes) on {stack.cluster.url}: deployment {'/'.join(DEPLOYMENT)}, "
        "2 replicas; remediation runs in dry-run"
    )
    channel, token_env, env = _slack(stack, options, say)
    api_port = free_port()
    config = write_config(
        work,
        prometheus=prom_url,
        port=api_port,
        kubeconfig=kubeconfig,
        rules=options.rules,
        channel=channel,
        token_env=token_env,
    )
    stack.config = config
    engine = stack.children.start(
        "alerter",
        [sys.executable, "-m", "alerter", "run", "--config", str(config)],
        work / "alerter.log",
        env={**os.environ, **env},
    )
    api = f"http://127.0.0.1:{api_port}"
    wait_ready(f"{api}/api/v1/status", timeout=60, what="alerter run", proc=engine)
    say(f"alerter run on {api} with {options.rules} (log: {work / 'alerter.log'})")
    return api, stack.sim.url


def _inject(sim: str, options: Options, say: Callable[[str], None]) -> None:
    query = {
        "kind": options.kind,
        "model": options.model,
        "duration": f"{options.duration:g}",
        "magnitude": f"{options.magnitude:g}",
    }
    answer = requests.post(f"{sim}/inject", params=query, timeout=5)
    answer.raise_for_status()
    fault = answer.json()
    affected = ", ".join(s["metric"] for s in fault.get("series", []))
    say(
        f"injected {options.kind} x{options.magnitude:g} into {options.model} for "
        f"{format_duration(options.duration)} (simulator answered {answer.status_code}; affects {affected})"
    )


def watch(api: str, sim: str, options: Options, stack: Stack, say: Callable[[str], None]) -> bool:
    """Inject the incident on its timer and narrate until resolution; False on timeout.

    After the resolution it waits (at most ``RESOLVED_GRACE``) for the resolved message to reach
    the sink, since notifications go out on the flush after the engine's tick.
    """
    watcher = Watcher(say, model=options.model)
    began = time.monotonic()
    injected = False
    resolved_at: float | None = None
    while options.keep_running or time.monotonic() - began < options.timeout:
        if not injected and time.monotonic() - began >= options.inject_after:
            _inject(sim, options, say)
            injected = True
        watcher.alerts(requests.get(f"{api}/api/v1/alerts", timeout=5).json())
        watcher.actions(requests.get(f"{api}/api/v1/actions", timeout=5).json())
        if watcher.resolved and resolved_at is None:
            resolved_at = time.monotonic()
        if resolved_at is not None and not options.keep_running:
            told = stack.sink is not None and any("[RESOLVED]" in m for m in stack.slack)
            if told or time.monotonic() - resolved_at > RESOLVED_GRACE:
                say("resolved: the whole loop ran; stopping (use --keep-running to stay)")
                return True
        time.sleep(1.0)
    say(
        f"gave up after {format_duration(options.timeout)} without a resolution; see {options.workdir}/alerter.log"
    )
    return False


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run(options: Options) -> int:
    """The demo from start to clean stop; the exit code."""
    say = _clock(time.monotonic())
    stack = Stack()
    # SIGTERM, and SIGINT even when the demo was started in the background (which ignores it).
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        options.workdir.mkdir(parents=True, exist_ok=True)
        api, sim = start(stack, options, say)
        say(f"injecting the incident in {format_duration(options.inject_after)}")
        return 0 if watch(api, sim, options, stack, say) else 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    except (RuntimeError, OSError, requests.RequestException) as exc:
        say(f"demo failed: {exc}")
        return 1
    finally:
        stack.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        say("stopped everything the demo started")
        _report(stack, say)


def _report(stack: Stack, say: Callable[[str], None]) -> None:
    """Where to read afterwards what was sent: the transcript file and the notification log."""
    if stack.transcript is not None:
        path = transcript.write(
            stack.transcript, stack.received, channels=SINK_CHANNELS, charts=stack.transcript.parent
        )
        say(f"Slack transcript ({len(stack.received)} messages and edits): {path}")
    if stack.config is not None:
        say(f"notification log: alerter notifications list --config {stack.config}")


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m alerter.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", type=Path, default=Path(".demo"), help="throw-away directory (default .demo)")
    p.add_argument("--days", type=float, default=14.0, help="days of backfilled history (default 14)")
    p.add_argument("--inject-after", type=_duration, default=30.0, help="when to inject (default 30s)")
    p.add_argument(
        "--duration", type=_duration, default=120.0, help="how long the incident lasts (default 2m)"
    )
    p.add_argument("--magnitude", type=float, default=4.0, help="latency multiplier (default 4)")
    p.add_argument("--timeout", type=_duration, default=900.0, help="give up after this long (default 15m)")
    p.add_argument("--keep-running", action="store_true", help="stay up after the resolution until Ctrl-C")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.days >= 4:
        print("error: --days must be at least 4 (the rule fits its baseline on 3 days)", file=sys.stderr)
        return 2
    options = Options(
        workdir=args.workdir,
        days=args.days,
        inject_after=args.inject_after,
        duration=args.duration,
        magnitude=args.magnitude,
        timeout=args.timeout,
        keep_running=args.keep_running,
    )
    return run(options)
