"""benchmarks/ownership_split.py: what it measures must follow from ``cluster.ownership``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import ownership_split
from ownership_split import Layout, layouts, measure, schemes


def test_rendezvous_never_moves_a_group_between_two_members_that_stay() -> None:
    plan = next(p for p in layouts() if p.name == "uneven-40")
    result = measure(schemes()["rendezvous"], plan, 3, 20)
    assert result.leave_between == 0 and result.join_between == 0
    assert result.leave > 0 and result.join > 0
    assert 1.0 <= result.median <= result.p90 <= result.worst


def test_the_balanced_split_of_equal_groups_is_within_its_slack() -> None:
    plan = Layout(
        "equal",
        dict.fromkeys((f"g{i}" for i in range(40)), 5),
        dict.fromkeys((f"g{i}" for i in range(40)), 750),
    )
    result = measure(schemes()["balance slack 0.05"], plan, 3, 20)
    assert result.worst <= 14 * 750 / 10_000  # 14 of 40 groups at most: ceil(1.05 x 40 / 3)


def test_the_table_has_a_row_per_layout_count_and_scheme(capsys: pytest.CaptureFixture[str]) -> None:
    assert ownership_split.main(["--samples", "2", "--counts", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["layout", "N", "scheme"]
    assert len(lines) == 1 + len(list(layouts())) * len(schemes())


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(SystemExit):
        ownership_split.main(["--samples", "0"])
