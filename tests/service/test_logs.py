"""JSON log lines carry extra fields and never a secret."""

from __future__ import annotations

import json
import logging

from alerter.service.logs import REDACTED, JsonFormatter, redact


def _line(message: str, **extra: object) -> dict[str, object]:
    record = logging.LogRecord("alerter.test", logging.WARNING, __file__, 1, message, None, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return dict(json.loads(JsonFormatter().format(record)))


def test_extra_fields_are_kept() -> None:
    line = _line("tick done", group="latency", seconds=0.25)
    assert line["message"] == "tick done" and line["group"] == "latency" and line["seconds"] == 0.25
    assert line["level"] == "warning"


def test_tokens_are_redacted_in_messages_and_fields() -> None:
    line = _line(
        "posting with xoxb-1234-5678-abcdef failed; Authorization: Bearer abc.def.ghi",
        token="xoxb-secret",
        headers={"Authorization": "Basic dXNlcjpwYXNz"},
        url="https://hooks.slack.com/services/T0/B0/XYZ",
    )
    text = json.dumps(line)
    for secret in ("xoxb-1234", "abc.def.ghi", "xoxb-secret", "dXNlcjpwYXNz", "T0/B0/XYZ"):
        assert secret not in text
    assert line["token"] == REDACTED


def test_redact_leaves_ordinary_values() -> None:
    assert redact({"rule": "TTFT", "value": 0.5, "labels": ["a"]}) == {
        "rule": "TTFT",
        "value": 0.5,
        "labels": ["a"],
    }
