"""kill -9 in the middle of sending: after a restart every notification exists once, none is lost."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alerter.testing.slack import SlackSink

SENDER = Path(__file__).with_name("crash_sender.py")
T0 = 1_767_225_600.0


def run(db: Path, sink: SlackSink, now: float, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(SENDER), str(db), sink.api_url, str(now), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(sink: SlackSink, method: str, process: subprocess.Popen[str]) -> None:
    """Poll for a real subprocess to reach the sink: the only way to know where it is."""
    deadline = time.monotonic() + 60
    while not sink.requests(method):
        if process.poll() is not None:
            raise AssertionError(f"sender exited early: {process.stderr.read() if process.stderr else ''}")
        if time.monotonic() > deadline:
            raise AssertionError(f"sender never called {method}")
        time.sleep(0.02)


def states(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT state FROM notify_outbox ORDER BY id")]


@pytest.mark.parametrize("held", ["chat.postMessage", "files.completeUploadExternal"])
def test_kill_during_send_then_restart_delivers_each_notification_once(tmp_path: Path, held: str) -> None:
    db = tmp_path / "state.db"
    with SlackSink(token="xoxb-test-0123456789-secret") as sink:
        release = sink.hold(held)
        victim = run(db, sink, T0 + 30, "--ingest")
        wait_for(sink, held, victim)
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(timeout=30) == -signal.SIGKILL
        release.set()
        assert states(db) == ["inflight", "pending", "pending"], "killed with the first entry in flight"

        survivor = run(db, sink, T0 + 31)
        out, err = survivor.communicate(timeout=60)
        assert survivor.returncode == 0, err
        report = json.loads(out)
        assert (report["recovered"], report["sent"]) == (1, 2)

        messages = sink.messages("C0001")
        tops = [m for m in messages if not m.get("thread_ts")]
        titles = sorted(m["text"] for m in tops)
        assert titles == [
            f"[FIRING:1] TTFTAnomaly · model_name={m}" for m in ("llama3-70b", "mistral-7b", "qwen2-7b")
        ]
        keys = [m["metadata"]["event_payload"]["key"] for m in tops]
        assert len(set(keys)) == 3, "no notification posted twice"
        for top in tops:
            charts = [
                f["name"] for m in messages if m.get("thread_ts") == top["ts"] for f in m.get("files") or []
            ]
            assert charts == [f"{top['metadata']['event_payload']['key']}.png"], "one chart per message"
    assert states(db) == ["sent", "sent", "sent"]
