"""Slack callbacks: v0 signature verification (with replay window) and button-press parsing."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import urlencode

import pytest

from alerter.notify.secret import Secret
from alerter.notify.slack.interactivity import SignatureError, parse_interaction, verify_signature

SECRET = Secret("8f742231b10e8888abcd99yyyzzz85a5")


def sign(timestamp: str, payload: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + payload
    return "v0=" + hmac.new(SECRET.reveal().encode(), base, hashlib.sha256).hexdigest()


def test_signature_accepts_a_fresh_correct_request() -> None:
    verify_signature(
        SECRET, "1700000000", b"payload=%7B%7D", sign("1700000000", b"payload=%7B%7D"), 1700000100
    )


@pytest.mark.parametrize(
    ("timestamp", "signature", "now", "message"),
    [
        ("1700000000", "v0=" + "0" * 64, 1700000000, "does not match"),
        ("1700000000", None, 1700000301, "replay"),
        ("1700000000", None, 1699999699, "replay"),
        ("yesterday", "v0=00", 1700000000, "not a unix time"),
        ("1700000000", "sha256=00", 1700000000, "must start with 'v0='"),
    ],
)
def test_signature_rejections_say_why(
    timestamp: str, signature: str | None, now: float, message: str
) -> None:
    with pytest.raises(SignatureError, match=message):
        verify_signature(SECRET, timestamp, b"body", signature or sign(timestamp, b"body"), now)


def test_signature_covers_the_body() -> None:
    with pytest.raises(SignatureError):
        verify_signature(SECRET, "1700000000", b"tampered", sign("1700000000", b"body"), 1700000000)


def interaction_body(payload: object) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_parse_interaction_reads_a_button_press() -> None:
    body = interaction_body(
        {
            "type": "block_actions",
            "user": {"id": "U1", "username": "ann"},
            "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0001"},
            "response_url": "https://hooks.slack.com/actions/T/1/x",
            "actions": [{"action_id": "approve", "value": "action-42", "type": "button"}],
        }
    )
    got = parse_interaction(body)
    assert (got.action_id, got.value, got.user_id, got.user_name) == ("approve", "action-42", "U1", "ann")
    assert (got.channel, got.message_ts) == ("C0001", "1700000000.000100")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"nothing=1", "no 'payload'"),
        (b"payload=%7Bnot-json", "not JSON"),
        (interaction_body({"type": "view_submission"}), "only block_actions"),
        (interaction_body({"type": "block_actions", "actions": []}), "no action"),
    ],
)
def test_parse_interaction_refuses_malformed_bodies(body: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_interaction(body)
