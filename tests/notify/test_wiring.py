"""Building receivers and the pipeline from alerter.yaml models."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alerter.config.engine import AppConfig
from alerter.core.errors import ConfigError
from alerter.core.model import Alert
from alerter.notify.alertmanager import AlertmanagerNotifier
from alerter.notify.slack.client import SlackNotifier
from alerter.notify.webhook import WebhookNotifier
from alerter.notify.wiring import notifiers_from_config, pipeline_from_config, signing_secrets
from alerter.store.sqlite import Store
from alerter.testing.slack import SlackSink

AlertFactory = Callable[..., Alert]
T0 = 1_767_225_600.0
TOKEN = "xoxb-test-0123456789-secret"


def config(**extra: Any) -> AppConfig:
    data: dict[str, Any] = {
        "prometheus": {"url": "http://127.0.0.1:9090"},
        "receivers": [
            {
                "name": "oncall",
                "slack": {"channel": "#alerts", "token_env": "BOT", "signing_secret_env": "SIGN"},
            },
            {"name": "hook", "slack": {"webhook_url_env": "HOOK", "digest_threshold": 3}},
            {"name": "am", "alertmanager": {"url": "http://127.0.0.1:9093", "timeout": "5s"}},
            {"name": "web", "webhook": {"url": "http://127.0.0.1:8080/x", "hmac_secret_env": "HMAC"}},
        ],
        "route": {"receiver": "oncall", "group_by": ["alertname"], "group_wait": "0s"},
        "maintenance": [{"name": "weekly", "cron": "0 2 * * SUN", "duration": "2h", "matchers": ['x="y"']}],
    }
    return AppConfig.model_validate({**data, **extra})


ENV = {"BOT": TOKEN, "SIGN": "signing", "HOOK": "http://127.0.0.1:1/hooks/x", "HMAC": "k"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "state.db") as opened:
        yield opened


def test_every_receiver_kind_is_built_with_its_secrets() -> None:
    notifiers = notifiers_from_config(config().receivers, environ=ENV)
    assert isinstance(notifiers["oncall"], SlackNotifier) and isinstance(notifiers["hook"], SlackNotifier)
    assert notifiers["hook"].context.digest_threshold == 3
    assert isinstance(notifiers["am"], AlertmanagerNotifier) and notifiers["am"].timeout == 5.0
    assert isinstance(notifiers["web"], WebhookNotifier) and notifiers["web"].hmac_secret is not None
    assert TOKEN not in repr(notifiers)
    assert signing_secrets(config().receivers, environ=ENV)["oncall"].reveal() == "signing"


def test_missing_secret_names_the_receiver() -> None:
    with pytest.raises(ConfigError, match=r"receivers\.oncall\.slack\.token.*BOT"):
        notifiers_from_config(config().receivers, environ={})


def test_secret_from_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    receivers = [{"name": "s", "slack": {"channel": "#a", "token_file": str(tmp_path / "token")}}]
    built = notifiers_from_config(config(receivers=receivers).receivers)
    assert isinstance(built["s"], SlackNotifier)
    with pytest.raises(ConfigError, match="cannot read secret file"):
        missing = [{"name": "s", "slack": {"channel": "#a", "token_file": str(tmp_path / "nope")}}]
        notifiers_from_config(config(receivers=missing).receivers)


def test_pipeline_from_config_delivers_to_the_sink(store: Store, make_alert: AlertFactory) -> None:
    with SlackSink(token=TOKEN) as sink:
        cfg = config()
        notifiers = notifiers_from_config(cfg.receivers, environ=ENV, slack_api_url=sink.api_url)
        pipeline = pipeline_from_config(cfg, store, notifiers)
        assert [w.name for w in pipeline.windows] == ["weekly"]
        pipeline.ingest([make_alert()], T0)
        assert pipeline.flush(T0).sent == 1
        [message] = sink.messages("C0001")
        assert message["text"].startswith("[FIRING:1] TTFTAnomaly"), "no chart provider: the message alone"


def test_route_to_undefined_receiver_fails_the_start(store: Store) -> None:
    cfg = config(route={"receiver": "nobody"})
    with pytest.raises(ValueError, match="nobody"):
        pipeline_from_config(cfg, store, notifiers_from_config(cfg.receivers, environ=ENV))


def test_without_route_the_first_receiver_gets_everything(store: Store) -> None:
    cfg = config(route=None)
    pipeline = pipeline_from_config(cfg, store, notifiers_from_config(cfg.receivers, environ=ENV))
    assert pipeline.root.receiver == "oncall" and pipeline.root.group_by == ("alertname",)
