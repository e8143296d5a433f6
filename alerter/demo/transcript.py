"""A readable transcript of what the demo's Slack stand-in received: threads, replies, edits, times.

Slack's messages are Block Kit JSON; after ``make demo`` a person wants to read the conversation
as it would have appeared in the channel. ``record`` turns each line the sink reports (its
``echo``: ``[C0001] {message JSON}``, one per ``chat.postMessage``, ``chat.update`` and file
share, in the order the sink answered them) into an ``Event`` stamped with the time it arrived;
``render`` lays the events out as threads: each top-level message with the replies and edits
that followed it, in order. The text of a message is what Slack would show: header, section
and context texts, buttons as ``[Label]``, and mrkdwn's control sequences (``<url|label>``,
``<!date^...|fallback>``, ``<@U1>``, ``&amp;``) resolved as Slack documents them
(https://docs.slack.dev/messaging/formatting-message-text: "Linking to URLs", "Formatting dates",
"Escaping text"); long link targets become numbered notes under the message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["Event", "message_lines", "record", "render", "write"]


@dataclass(frozen=True)
class Event:
    """One message as the sink took it: a post, an edit (``chat.update``) or a file share."""

    at: float
    """Unix time it arrived."""
    channel: str
    message: Mapping[str, Any]

    @property
    def ts(self) -> str:
        return str(self.message.get("ts", ""))

    @property
    def thread(self) -> str | None:
        """The parent's ``ts`` for a thread reply, None for a top-level message."""
        parent = self.message.get("thread_ts")
        return str(parent) if parent and parent != self.ts else None

    @property
    def edited(self) -> bool:
        return bool(self.message.get("edited"))


def record(at: float, line: str) -> Event | None:
    """The event of one sink line (``[C0001] {...}``), or None for a line that is not one."""
    match = re.fullmatch(r"\[([^\]]+)\] (\{.*\})", line.strip(), flags=re.DOTALL)
    if match is None:
        return None
    try:
        message = json.loads(match.group(2))
    except ValueError:
        return None
    return Event(at, match.group(1), message) if isinstance(message, dict) else None


_SPECIAL = re.compile(r"<([^<>]*)>")


@dataclass
class _Notes:
    """Link targets of one message, numbered in reading order and shown under it."""

    urls: list[str] = field(default_factory=list)

    def cite(self, url: str) -> int:
        if url not in self.urls:
            self.urls.append(url)
        return self.urls.index(url) + 1


def _plain(text: str, notes: _Notes) -> str:
    """mrkdwn as a reader sees it: links as ``label [n]``, dates as their fallback, mentions as ``@``."""

    def resolve(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("!date^"):
            return label or target
        if target.startswith("!"):
            return "@" + (label or target[1:].split("^")[0])
        if target.startswith("@"):
            return "@" + (label or target[1:])
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if not label:
            return target
        return f"{label} [{notes.cite(target)}]"

    resolved = _SPECIAL.sub(resolve, text)
    return resolved.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _decoded(value: Any) -> Any:
    """``blocks`` and ``attachments`` arrive as JSON values, or as JSON text in a form-encoded call."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _text_of(obj: Any, notes: _Notes) -> str:
    """A text object (``{"type": "mrkdwn" | "plain_text", "text": ...}``) or a bare string."""
    if isinstance(obj, str):
        return _plain(obj, notes)
    if isinstance(obj, Mapping):
        text = str(obj.get("text", ""))
        return _plain(text, notes) if obj.get("type") != "plain_text" else text
    return ""


def _button(element: Mapping[str, Any], notes: _Notes) -> str:
    label = _text_of(element.get("text"), notes)
    return f"[{label}]" + (f" ({element['style']})" if element.get("style") else "")


def _block(block: Mapping[str, Any], notes: _Notes) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        return [_text_of(block.get("text"), notes)]
    if kind == "section":
        lines = _text_of(block.get("text"), notes).splitlines() if block.get("text") else []
        lines += [_text_of(f, notes) for f in block.get("fields") or []]
        accessory = block.get("accessory")
        if isinstance(accessory, Mapping) and accessory.get("type") == "button":
            lines.append(_button(accessory, notes))
        return lines
    if kind == "context":
        parts = [_text_of(e, notes) for e in block.get("elements") or [] if e.get("type") != "image"]
        return [" ".join(parts)] if parts else []
    if kind == "actions":
        buttons = [_button(e, notes) for e in block.get("elements") or [] if e.get("type") == "button"]
        return [" ".join(buttons)] if buttons else []
    if kind == "divider":
        return ["---"]
    if kind == "image":
        return [f"[image: {block.get('alt_text') or block.get('image_url', '')}]"]
    return []


def message_lines(message: Mapping[str, Any], *, charts: Path | None = None) -> list[str]:
    """The message as a reader sees it, one string per line.

    Blocks are shown when there are any (Slack then shows ``text`` only in notifications),
    attachments' blocks with a ``| `` bar as Slack draws their colour, files by name (and where
    the sink saved them, under ``charts``), then the numbered link targets.
    """
    notes = _Notes()
    lines: list[str] = []
    for block in _decoded(message.get("blocks")) or []:
        lines += _block(block, notes)
    for attachment in _decoded(message.get("attachments")) or []:
        inner = [line for block in (attachment or {}).get("blocks") or [] for line in _block(block, notes)]
        if not inner and (attachment or {}).get("text"):
            inner = _plain(str(attachment["text"]), notes).splitlines()
        lines += [f"| {line}".rstrip() for line in inner]
    for shared in message.get("files") or []:
        name = f"{shared.get('id', '')}-{Path(str(shared.get('name', ''))).name}"
        where = f" (saved as {charts / name})" if charts is not None else ""
        lines.append(f"[file: {shared.get('title') or shared.get('name', '')}]{where}")
    if not lines and message.get("text"):
        lines = _plain(str(message["text"]), notes).splitlines()
    lines += [f"[{n}] {url}" for n, url in enumerate(notes.urls, start=1)]
    return lines


def _clock(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S")


def _count(n: int, one: str) -> str:
    return f"{n} {one}{'' if n == 1 else 's'}"


def render(
    events: Sequence[Event], *, channels: Mapping[str, str] | None = None, charts: Path | None = None
) -> str:
    """The transcript: each thread in the order it started, its replies and edits in arrival order.

    An edit (``chat.update``) of the top message is shown where it happened, as Slack shows
    "(edited)": the thread's first lines are the message as it was first posted. ``channels``
    maps ids to names for the headings.
    """
    names = {cid: name for name, cid in (channels or {}).items()}
    threads: dict[tuple[str, str], list[Event]] = {}
    for event in sorted(events, key=lambda e: e.at):
        parent = event.thread or event.ts
        threads.setdefault((event.channel, parent), []).append(event)
    posts = sum(1 for e in events if not e.edited)
    if not events:
        return "No Slack messages were received.\n"
    first = min(e.at for e in events)
    out = [
        f"Slack transcript: {_count(posts, 'message')} and {_count(len(events) - posts, 'edit')} "
        f"in {_count(len(threads), 'thread')}; the first arrived "
        f"{datetime.fromtimestamp(first, UTC).strftime('%Y-%m-%d %H:%M:%S')} UTC (every time below is UTC)",
        "",
    ]
    for (channel, parent), thread in sorted(threads.items(), key=lambda item: item[1][0].at):
        where = f"{names[channel]} ({channel})" if channel in names else channel
        for number, event in enumerate(thread):
            body = message_lines(event.message, charts=charts)
            if number == 0 and event.thread is None and not event.edited:
                out.append(f"== {_clock(event.at)}  {where}  message {parent}")
                out += [f"   {line}".rstrip() for line in body]
                continue
            if number == 0:
                out.append(f"== {where}  thread {parent} (its first message was not received)")
            what = "edited the message" if event.edited and event.thread is None else "reply"
            if event.edited and event.thread is not None:
                what = f"edited reply {event.ts}"
            out.append(f"   -> {_clock(event.at)}  {what}")
            out += [f"        {line}".rstrip() for line in body]
        out.append("")
    return "\n".join(out)


def write(
    path: Path,
    events: Iterable[Event],
    *,
    channels: Mapping[str, str] | None = None,
    charts: Path | None = None,
) -> Path:
    """Write ``render``'s transcript to ``path`` (parents created); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(list(events), channels=channels, charts=charts), encoding="utf-8")
    return path
