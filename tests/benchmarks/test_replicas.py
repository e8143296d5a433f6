"""benchmarks/replicas.py: the rule layout, the split it reports, its table, and a quick run whose
numbers must add up (never how fast: timing targets are the benchmark's to print, not a test's)."""

from __future__ import annotations

import re
import statistics
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import replicas
from replicas import Cost, Row, check, group_loads, group_series, layout, replica_names, split, table

from alerter.cluster import ownership
from alerter.config import load
from alerter.engine.engine import plan


def test_the_layout_puts_every_rule_in_one_group_of_uneven_size() -> None:
    groups = layout(150, 40)
    assert len(groups) == 40
    assert sorted(r for g in groups for r in g) == list(range(150))
    sizes = sorted(len(g) for g in groups)
    assert sizes[0] >= 1
    assert sizes[-1] >= 5 * sizes[0], sizes  # a few large groups, a long tail of small ones
    assert layout(150, 40) == groups  # fixed, so every run splits the same rules


def test_the_layout_refuses_more_groups_than_rules() -> None:
    with pytest.raises(ValueError, match="groups <= rules"):
        layout(3, 4)


def test_series_per_group_add_up_to_the_series_even_when_rules_do_not_divide_them() -> None:
    groups = layout(7, 3)
    sizes = group_series(groups, 100, 7)  # 100 = 7 x 14 + 2: rules r0 and r1 carry 15
    assert sum(sizes.values()) == 100
    first = groups[0]
    assert sizes["team-00"] == sum(15 if r < 2 else 14 for r in first)


def test_replica_names_are_pod_names_and_a_larger_count_keeps_the_smaller_ones() -> None:
    three = replica_names(3)
    assert replica_names(2) == three[:2] and len(set(three)) == 3
    for name in three:
        assert re.fullmatch(r"alerter-[a-z0-9]+-[bcdfghjklmnpqrstvwxz2456789]{5}", name), name


@pytest.mark.parametrize("balanced", [True, False])
def test_the_split_is_the_ownership_function_over_the_members(balanced: bool) -> None:
    groups = layout(24, 8)
    sizes = group_series(groups, 480, 24)
    loads = group_loads(groups) if balanced else None
    names = replica_names(3)
    got = split(sizes, names, loads)
    owners = ownership.balance(group_loads(groups), names) if balanced else ownership.assign(sizes, names)
    assert sum(got.groups.values()) == 8 and sum(got.series.values()) == 480
    for name in names:
        assert got.series[name] == sum(n for g, n in sizes.items() if owners[g] == name)
    assert got.imbalance == max(got.series.values()) / statistics.fmean(got.series.values())
    assert split(sizes, names[:1], loads).imbalance == 1.0


def test_the_loads_are_rules_times_ticks_an_hour_as_the_app_computes_them(tmp_path: Path) -> None:
    groups = layout(24, 8)
    (tmp_path / "rules.yaml").write_text(replicas.rules_file(groups, 7))
    bundle = load(None, [tmp_path / "rules.yaml"])
    assert {name: g.load for name, g in plan(bundle).items()} == group_loads(groups)


def _cost(name: str, groups: int, series: float, cpu: float, owned: list[str]) -> Cost:
    return Cost(name, groups=groups, series_per_minute=series, cpu_per_minute=cpu, owned=owned)


def test_the_table_reads_efficiency_against_the_one_replica_cost_of_the_same_run() -> None:
    sizes = {"a": 100, "b": 200, "c": 300}
    one = Row(1, [_cost("x", 3, 600, 3.0, ["a", "b", "c"])], split(sizes, ["x"]))
    three = Row(
        3,
        [_cost("x", 1, 100, 0.8, ["a"]), _cost("y", 1, 200, 1.2, ["b"]), _cost("z", 1, 300, 1.0, ["c"])],
        split(sizes, ["x", "y", "z"]),
    )
    lines = table([one, three]).splitlines()
    assert lines[2].split() == ["1", "3-3", "600-600", "1.00", "3.000", "600", "1.00"]
    # imbalance 300 / 200; efficiency 3.0 / (3 x 1.2)
    assert lines[3].split() == ["3", "1-1", "100-300", "1.50", "1.200", "600", "0.83"]


def test_check_names_a_replica_that_owns_other_groups_than_rendezvous_gives_it() -> None:
    sizes = {"a": 10, "b": 20}
    owners = ownership.assign(sizes, ["x", "y"])
    mine = sorted(g for g, m in owners.items() if m == "x")
    theirs = sorted(g for g, m in owners.items() if m == "y")
    right = Row(
        2,
        [
            _cost("x", len(mine), sum(sizes[g] for g in mine), 1, mine),
            _cost("y", len(theirs), sum(sizes[g] for g in theirs), 1, theirs),
        ],
        split(sizes, ["x", "y"]),
    )
    assert check(right, sizes) == []
    wrong = Row(2, [Cost("x", groups=0, owned=[]), right.costs[1]], right.expected)
    problems = check(wrong, sizes)
    assert any("x owns []" in p for p in problems), problems
    assert any("series a minute" in p for p in problems), problems


ROW = re.compile(
    r"^\s+(\d)\s+(\d+)-(\d+)\s+(\d+)-(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d,]+)\s+([\d.]+)$", re.MULTILINE
)


@pytest.mark.slow
def test_a_quick_run_prints_a_table_whose_numbers_add_up(capsys: pytest.CaptureFixture[str]) -> None:
    """Three replica processes on a real Prometheus, PostgreSQL and the Kubernetes API stand-in:
    every count evaluates every series once a minute, splits them as the ownership function does,
    and the efficiency column is the 1-replica cost over N times the largest."""
    assert replicas.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "INCOHERENT" not in out
    rows = {int(m[0]): m for m in ROW.findall(out)}
    assert sorted(rows) == [1, 2, 3], out
    sizes = group_series(layout(24, 8), 480, 24)
    reference = float(rows[1][6])
    for n, (_, gmin, gmax, smin, smax, imbalance, cpu, total, efficiency) in rows.items():
        expected = split(sizes, replica_names(n), group_loads(layout(24, 8)))
        assert (int(gmin), int(gmax)) == (min(expected.groups.values()), max(expected.groups.values()))
        assert (int(smin), int(smax)) == (min(expected.series.values()), max(expected.series.values()))
        assert float(imbalance) == pytest.approx(expected.imbalance, abs=0.005)
        assert int(total.replace(",", "")) == 480
        assert float(cpu) > 0
        assert float(efficiency) == pytest.approx(reference / (n * float(cpu)), abs=0.01)
    assert rows[1][1:5] == ("8", "8", "480", "480") and rows[1][8] == "1.00"
    assert "stepped in turn" in out  # says how the replicas were run


def test_the_losses_split_efficiency_into_the_split_and_the_per_series_cost() -> None:
    sizes = {"a": 100, "b": 200, "c": 300}
    one = Row(1, [_cost("x", 3, 600, 3.0, ["a", "b", "c"])], split(sizes, ["x"]))
    three = Row(
        3,
        [_cost("x", 1, 100, 0.8, ["a"]), _cost("y", 1, 200, 1.2, ["b"]), _cost("z", 1, 300, 1.0, ["c"])],
        split(sizes, ["x", "y", "z"]),
    )
    (line,) = replicas.losses([one, three])
    # the costliest replica y: 200 of a mean 200 series, 6 ms a series against 5 ms for one replica
    assert line.startswith(
        "3 replicas: efficiency 0.83 = split 1.00 (the costliest replica evaluates 200 of 600"
    )
    assert "per-series cost 0.83" in line
