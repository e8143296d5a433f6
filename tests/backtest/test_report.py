"""Comparing two rule sets' alerts and the text summary, as tables of small cases."""

from __future__ import annotations

from typing import Any

import pytest

from alerter.backtest.report import compare

END = 10_000.0


def _a(rule: str, model: str, active: float, resolved: float | None) -> dict[str, Any]:
    return {
        "rule": rule,
        "labels": {"model_name": model},
        "active_at": active,
        "fired_at": active,
        "resolved_at": resolved,
    }


@pytest.mark.parametrize(
    ("a", "b", "counts"),
    [
        ([_a("R", "m", 0, 100)], [_a("R", "m", 50, 200)], (0, 0, 1)),  # overlapping: the same alert
        ([_a("R", "m", 0, 100)], [_a("R", "m", 200, 300)], (1, 1, 0)),  # same series, other time
        ([_a("R", "m", 0, 100)], [_a("R", "n", 0, 100)], (1, 1, 0)),  # other series
        ([_a("R", "m", 0, 100)], [_a("S", "m", 0, 100)], (1, 1, 0)),  # other rule
        ([_a("R", "m", 0, None)], [_a("R", "m", 9_000, 9_500)], (0, 0, 1)),  # still firing at the end
        ([_a("R", "m", 0, 100)], [_a("R", "m", 0, 40), _a("R", "m", 60, 100)], (0, 1, 1)),  # one match each
        ([], [_a("R", "m", 0, 100)], (0, 1, 0)),
    ],
)
def test_compare(a: list[dict[str, Any]], b: list[dict[str, Any]], counts: tuple[int, int, int]) -> None:
    diff = compare(a, b, END)
    assert (len(diff["only_a"]), len(diff["only_b"]), len(diff["both"])) == counts
    assert len(diff["only_a"]) + len(diff["both"]) == len(a)
    assert len(diff["only_b"]) + len(diff["both"]) == len(b)
