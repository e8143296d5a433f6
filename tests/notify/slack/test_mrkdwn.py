"""Escaping and limit-respecting cuts of mrkdwn: entities and <...> tokens are never split."""

from __future__ import annotations

import pytest

from alerter.notify.slack import mrkdwn


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("abcdef", 6, "abcdef"),
        ("abcdefg", 6, "abcde…"),
        ("abc&amp;def", 7, "abc…"),  # "abc&am…" would show a broken entity
        ("abc&lt;def", 8, "abc&lt;…"),
        ("see <https://runbooks.example/x|Runbook> now", 20, "see …"),
        ("<!date^1767225600^{time}|00:00> late", 33, "<!date^1767225600^{time}|00:00> …"),
    ],
)
def test_clip_cuts_between_tokens(text: str, limit: int, expected: str) -> None:
    assert mrkdwn.clip(text, limit) == expected
    assert len(mrkdwn.clip(text, limit)) <= limit


@pytest.mark.parametrize("offset", range(8))
def test_shorten_escapes_after_choosing_the_cut(offset: int) -> None:
    raw = "x" * offset + "&<>" * 50
    out = mrkdwn.shorten(raw, 40)
    assert len(out) <= 40 and out.endswith(mrkdwn.TRUNCATED)
    kept = out.removesuffix(mrkdwn.TRUNCATED)
    assert mrkdwn.escape(raw).startswith(kept) and kept.endswith(("x", ";"))


def test_shorten_keeps_text_that_fits_and_gives_nothing_without_room() -> None:
    assert mrkdwn.shorten("a & b", 9) == "a &amp; b"
    assert mrkdwn.shorten("a & b", 5) == ""


def test_join_within_counts_what_it_leaves_out() -> None:
    items = [f"k{i}=v" for i in range(10)]
    assert (
        mrkdwn.join_within(items, 40, noun="labels", wrap=("`", "`"))
        == "`k0=v, k1=v, k2=v` … (7 more labels)"
    )
    assert mrkdwn.join_within(items[:2], 30, noun="labels", wrap=("`", "`")) == "`k0=v, k1=v`"
    assert mrkdwn.join_within([], 30, noun="labels") == ""


def test_join_within_skips_an_item_too_long_but_keeps_later_ones() -> None:
    out = mrkdwn.join_within(["<a|A>", "<" + "b" * 50 + "|B>", "<c|C>"], 40, noun="links", separator=" · ")
    assert out == "<a|A> · <c|C> … (1 more links)"
    assert mrkdwn.join_within(["x" * 50], 20, noun="links") == "… (1 more links)"
