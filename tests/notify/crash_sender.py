"""A process that runs the notification pipeline once; test_crash.py kills it with SIGKILL mid-send.

Usage: crash_sender.py DB_PATH SLACK_API_URL NOW [--ingest]
"""

from __future__ import annotations

import json
import sys

from alerter.config.engine import Route as RouteConfig
from alerter.core.model import Alert, AlertState, Labels
from alerter.notify import route as routing
from alerter.notify.pipeline import Pipeline
from alerter.notify.secret import Secret
from alerter.notify.slack.blocks import RenderContext
from alerter.notify.slack.client import SlackNotifier
from alerter.store.sqlite import Store

TOKEN = "xoxb-test-0123456789-secret"
T0 = 1_767_225_600.0
MODELS = ("llama3-70b", "mistral-7b", "qwen2-7b")


def alerts() -> list[Alert]:
    return [
        Alert(
            rule="TTFTAnomaly",
            group="llm",
            labels=Labels(alertname="TTFTAnomaly", model_name=model, severity="page"),
            state=AlertState.FIRING,
            active_at=T0 - 300,
            fired_at=T0,
            value=0.8,
            expected=0.3,
            lower=0.2,
            upper=0.4,
        )
        for model in MODELS
    ]


def main(argv: list[str]) -> int:
    db, api_url, now = argv[0], argv[1], float(argv[2])
    context = RenderContext(chart=lambda n: b"\x89PNG-" + n.group_key.encode())
    notifier = SlackNotifier("oncall", "#alerts", token=Secret(TOKEN), base_url=api_url, context=context)
    config = {"receiver": "oncall", "group_by": ["alertname", "model_name"], "group_wait": "30s"}
    with Store(db) as store:
        pipeline = Pipeline(store, routing.build(RouteConfig.model_validate(config)), {"oncall": notifier})
        if "--ingest" in argv:
            pipeline.ingest(alerts(), T0)
        report = pipeline.flush(now)
    print(json.dumps({k: v for k, v in report.__dict__.items() if k != "reasons"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
