"""How evenly rule groups split over replicas, and how many move when one joins or leaves.

For ``cluster.ownership``'s two assignments, ``assign`` (rendezvous) and ``balance`` (bounded
loads by each group's rule count, at a few ``slack`` values), over random sets of pod names of
2, 3 and 5 replicas (``replicas.replica_names``), and four layouts of 30,000 series:

- ``uneven-40``: the replicas benchmark's 40 groups (``replicas.layout``: 150 rules, 2-15 a
  group, 200 series a rule, so 400-3,200 series a group);
- ``equal-40`` and ``equal-10``: groups of 5 rules and equal series;
- ``lognormal-40``: the uneven groups, with each rule's series drawn log-normal (median 200,
  sigma 0.8), where a group's rule count says less of its series.

It prints the series of the largest replica over the mean (median, 90th percentile, worst) and
the mean number of groups that change owner when one random member leaves and when one new
name joins, with, in brackets, those that move between two members both present before and after
(rendezvous never moves one so; the sharding needs those handed over with a wait).

Run: ``.venv/bin/python benchmarks/ownership_split.py`` (about a minute; ``--samples`` sets
the name sets per count, 1,000 by default).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replicas import layout, replica_names

from alerter.cluster import ownership

Scheme = Callable[[Mapping[str, int], Sequence[str]], Mapping[str, str]]
SERIES_PER_RULE = 200


def bounded(slack: Fraction) -> Scheme:
    """``balance`` at ``slack``."""

    def scheme(loads: Mapping[str, int], members: Sequence[str]) -> Mapping[str, str]:
        return ownership.balance(loads, members, slack=slack)

    return scheme


def schemes() -> dict[str, Scheme]:
    """The assignments compared: rendezvous, and bounded loads by rule count at four slacks."""
    out: dict[str, Scheme] = {"rendezvous": lambda loads, members: ownership.assign(loads, members)}
    for slack in (Fraction(0), Fraction(1, 20), Fraction(1, 10), Fraction(1, 4)):
        out[f"balance slack {float(slack):g}"] = bounded(slack)
    return out


@dataclass(frozen=True)
class Layout:
    name: str
    rules: dict[str, int]
    """Rules a group: the load ``balance`` is given."""
    series: dict[str, int]
    """Series a group: what a replica's cost follows."""


def layouts() -> Iterator[Layout]:
    uneven = {f"team-{k:02d}": len(g) for k, g in enumerate(layout(150, 40))}
    yield Layout("uneven-40", uneven, {g: SERIES_PER_RULE * r for g, r in uneven.items()})
    for count in (40, 10):
        equal = {f"group-{k:02d}": 5 for k in range(count)}
        yield Layout(f"equal-{count}", equal, {g: 30_000 // count for g in equal})
    rng = random.Random(5)
    drawn = {
        g: sum(round(SERIES_PER_RULE * rng.lognormvariate(0, 0.8)) for _ in range(r))
        for g, r in uneven.items()
    }
    yield Layout("lognormal-40", uneven, drawn)


@dataclass(frozen=True)
class Result:
    median: float
    p90: float
    worst: float
    leave: float
    leave_between: float
    join: float
    join_between: float


def imbalance(owners: Mapping[str, str], series: Mapping[str, int], members: Sequence[str]) -> float:
    carried = dict.fromkeys(members, 0)
    for group, member in owners.items():
        carried[member] += series[group]
    return max(carried.values()) / statistics.fmean(carried.values())


def measure(scheme: Scheme, plan: Layout, count: int, samples: int) -> Result:
    """Over ``samples`` seeded name sets: the spread of imbalance, and the mean groups moved."""
    rng = random.Random(11)
    spread: list[float] = []
    leave: list[int] = []
    leave_between: list[int] = []
    join: list[int] = []
    join_between: list[int] = []
    for _ in range(samples):
        names = replica_names(count + 1, rng)
        members, newcomer = names[:count], names[count]
        before = scheme(plan.rules, members)
        spread.append(imbalance(before, plan.series, members))
        gone = members[rng.randrange(count)]
        survivors = [m for m in members if m != gone]
        if survivors:
            after = scheme(plan.rules, survivors)
            leave.append(sum(before[g] != after[g] for g in before))
            leave_between.append(len(ownership.handovers(before, after, survivors)))
        grown = scheme(plan.rules, [*members, newcomer])
        join.append(sum(before[g] != grown[g] for g in before))
        join_between.append(len(ownership.handovers(before, grown, members)))
    spread.sort()
    return Result(
        statistics.median(spread),
        spread[min(len(spread) - 1, int(0.9 * len(spread)))],
        spread[-1],
        statistics.fmean(leave) if leave else 0.0,
        statistics.fmean(leave_between) if leave_between else 0.0,
        statistics.fmean(join),
        statistics.fmean(join_between),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000, help="random pod-name sets per replica count")
    parser.add_argument("--counts", type=int, nargs="+", default=[2, 3, 5], help="replica counts")
    args = parser.parse_args(argv)
    if args.samples < 1 or min(args.counts) < 1:
        parser.error("--samples and --counts must be >= 1")
    print(
        f"{'layout':<13} {'N':>2} {'scheme':<19} {'median':>6} {'p90':>5} {'worst':>5}  "
        f"{'leave (between)':>15}  {'join (between)':>14}"
    )
    for plan in layouts():
        for count in args.counts:
            for name, scheme in schemes().items():
                r = measure(scheme, plan, count, args.samples)
                print(
                    f"{plan.name:<13} {count:>2} {name:<19} {r.median:>6.2f} {r.p90:>5.2f} {r.worst:>5.2f}  "
                    f"{r.leave:>6.1f} ({r.leave_between:>4.1f})   {r.join:>6.1f} ({r.join_between:>4.1f})",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
