"""Slack's mrkdwn text: escaping user-supplied strings, and cutting text to Slack's limits safely.

Used by ``blocks`` (the alert messages) for every string that goes into a section, a context
block or a message's ``text``. Slack reads ``&amp;`` / ``&lt;`` / ``&gt;`` as entities and
``<...>`` as a link, mention or date, so a cut that lands inside one shows the reader a broken
``&am`` or a dangling ``<https://run`` instead of text: every cut here ends between such tokens.
A cut says so: ``… (truncated)`` after a shortened text, ``… (N more labels)`` after a list.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

ELLIPSIS = "…"
TRUNCATED = "… (truncated)"

# Entities and <...> (links, mentions, dates) are indivisible; anything else is one character.
_TOKEN = re.compile(r"&(?:amp|lt|gt);|<[^<>]*>|[\s\S]")


def escape(text: str) -> str:
    """``text`` safe inside mrkdwn: Slack reads ``<...>`` as a link or a mention (``<!channel>``)
    and ``&`` as an entity, so user-supplied strings (labels, annotations, names) must escape
    those three characters, and only those ("Escaping text",
    https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link_target(url: str) -> str:
    """A URL safe inside ``<url|label>``: a ``|``, ``<`` or ``>`` in it would end the link early
    or open another, so they are percent-encoded as any URL may encode them."""
    return url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E").replace(" ", "%20")


def clip(text: str, limit: int, marker: str = ELLIPSIS) -> str:
    """Mrkdwn ``text`` in at most ``limit`` characters, ``marker`` ending it when cut.

    The last resort for whole blocks: the cut falls between tokens, so an entity or a
    ``<url|text>`` is kept whole or dropped whole, never halved.
    """
    if len(text) <= limit:
        return text
    room = limit - len(marker)
    if room < 0:
        return marker[:limit]
    used = 0
    for token in _TOKEN.finditer(text):
        if used + len(token.group()) > room:
            return text[:used] + marker
        used += len(token.group())
    return text  # unreachable: the text was longer than the limit


def shorten(raw: str, limit: int, marker: str = TRUNCATED) -> str:
    """``escape(raw)`` in at most ``limit`` characters: cut on the raw text, so escaping can
    never be split, and ending in ``marker`` when anything was left out ("" if nothing fits)."""
    escaped = escape(raw)
    if len(escaped) <= limit:
        return escaped
    room = limit - len(marker)
    if room <= 0:
        return ""
    end, used = 0, 0
    while used + len(escape(raw[end])) <= room:
        used += len(escape(raw[end]))
        end += 1
    return escape(raw[:end]).rstrip() + marker


def join_within(
    items: Sequence[str], limit: int, *, noun: str, separator: str = ", ", wrap: tuple[str, str] = ("", "")
) -> str:
    """The ``items`` (already mrkdwn) that fit in ``limit``, in order, then ``… (N more <noun>)``.

    Whole items only: a list cut mid-item (a label, a link) reads as a different item. An item
    too long for the room left is skipped and counted, so one huge label or URL does not hide
    the short ones after it. ``wrap`` goes around the items shown (a code span), so the marker
    stays outside it. Room for the marker is kept: the result fits whenever the marker alone does.
    """
    opening, closing = wrap
    whole = opening + separator.join(items) + closing
    if len(whole) <= limit or not items:
        return whole if items else ""
    room = limit - len(_more(len(items), noun))
    shown: list[str] = []
    for item in items:
        if len(opening + separator.join([*shown, item]) + closing) <= room:
            shown.append(item)
    more = _more(len(items) - len(shown), noun)
    return opening + separator.join(shown) + closing + more if shown else more.lstrip()


def _more(hidden: int, noun: str) -> str:
    return f" … ({hidden} more {noun})"
