"""``alerter test`` against ``promtool test rules`` on the same mixin-sized test file.

Writes a rule file and a test file shaped like a monitoring mixin's (``--rules`` threshold
alerting rules with ``for:``, half on the raw gauge and half on ``avg_over_time(...[5m])``, over
``--series`` input series at 1m, ``--evals`` evaluation times spread over ``--span``, repeated in
``--groups`` test groups), with every expected alert computed here with Prometheus' semantics
(an instant vector reads the last sample within 5m, a range ``[5m]`` holds the samples of the
closed interval, an alert fires once active for ``for``). Then runs both tools on it and prints
one table: wall seconds of each, and whether each passed. Both must pass: a failing run is
reported, since its time would not be comparable.

Run: ``.venv/bin/python benchmarks/ruletest.py [--rules 30 --series 50 --evals 40 --span 2h]``;
``--profile`` also prints the 25 costliest functions of the ``alerter test`` run (in process);
``--baseline DIR`` (repeatable) also times ``alerter test`` from another source tree, e.g. an
earlier commit unpacked with ``git archive REV | tar -x -C DIR``, for a before/after table.

Measured on the 2-core development machine under heavy load from other work (median seconds
of 3 runs each; before is commit d36e835, after is the same tree with the fast YAML reader of
7e02ce1 and the walk's changes of the commit after it; promtool 2.42 in the same runs):

==============================  ========  ======  =====  ===================
                                promtool  before  after  after / promtool
==============================  ========  ======  =====  ===================
1 test group (1200 cases)       1.0       5.9     4.1    4x (fixed costs)
5 test groups (6000 cases)      4.4       25.4    9.5    2.2x
==============================  ========  ======  =====  ===================

What is left of a small run is fixed: importing alerter (pydantic models, Jinja2, pandas through
prometheus-api-client: about 1 s unloaded), starting Prometheus, and the engine's own tick.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from alerter.ruletest import run_file
from alerter.ruletest.prometheus import find_binary

THRESHOLD = 5.0
HIGH = 10.0
LOOKBACK = 5


@dataclass(frozen=True)
class BenchRule:
    index: int
    smoothed: bool
    for_minutes: int

    @property
    def name(self) -> str:
        return f"BenchAlert{self.index:02d}"

    @property
    def expr(self) -> str:
        selector = f'bench_gauge{{rule="r{self.index}"}}'
        body = f"avg_over_time({selector}[5m])" if self.smoothed else selector
        return f"{body} > {THRESHOLD:g}"


def _series_values(i: int, minutes: int) -> list[float]:
    """A gauge at 0 that steps to HIGH for a while, at a different time for each series."""
    up = 5 + (i * 7) % max(minutes - 30, 1)
    length = 10 + (i * 11) % 25
    return [HIGH if up <= m < up + length else 0.0 for m in range(minutes + 1)]


def _notation(values: list[float]) -> str:
    """Run-length encode in promtool's notation: ``axn`` is n+1 copies of a."""
    words, i = [], 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        words.append(f"{values[i]:g}x{j - i}" if j > i else f"{values[i]:g}")
        i = j + 1
    return " ".join(words)


def _active(rule: BenchRule, values: list[float], minute: int) -> bool:
    if minute >= len(values):
        return False
    if not rule.smoothed:
        return values[minute] > THRESHOLD
    window = values[max(0, minute - LOOKBACK) : minute + 1]
    return sum(window) / len(window) > THRESHOLD


def _firing(rule: BenchRule, values: list[float], minute: int) -> bool:
    """Firing at ``minute``: active at every evaluation of the last ``for`` minutes."""
    return all(_active(rule, values, m) for m in range(minute - rule.for_minutes, minute + 1)) and (
        minute - rule.for_minutes >= 0
    )


def build(directory: Path, rules: int, series: int, evals: int, span_minutes: int, groups: int) -> Path:
    """Write ``rules.yaml`` and ``test.yaml`` into ``directory``; returns the test file."""
    bench = [BenchRule(k, smoothed=k % 2 == 1, for_minutes=(k % 4) * 2) for k in range(rules)]
    rule_file = {
        "groups": [
            {
                "name": "bench",
                "rules": [
                    {
                        "alert": r.name,
                        "expr": r.expr,
                        "for": f"{r.for_minutes}m",
                        "labels": {"severity": "warning"},
                        "annotations": {"summary": f"bench rule {r.index}"},
                    }
                    for r in bench
                ],
            }
        ]
    }
    # JSON is YAML too: both readers take these files as the YAML a user would write.
    (directory / "rules.yaml").write_text(json.dumps(rule_file, indent=2))
    values = {i: _series_values(i, span_minutes) for i in range(series)}
    times = sorted({round(span_minutes * (j + 1) / evals) for j in range(evals)})
    test_groups = []
    for g in range(groups):
        cases = []
        for minute in times:
            for r in bench:
                expected = [
                    {
                        "exp_labels": {"severity": "warning", "rule": f"r{r.index}", "instance": f"i{i}"},
                        "exp_annotations": {"summary": f"bench rule {r.index}"},
                    }
                    for i in range(series)
                    if i % rules == r.index and _firing(r, values[i], minute)
                ]
                cases.append({"eval_time": f"{minute}m", "alertname": r.name, "exp_alerts": expected})
        test_groups.append(
            {
                "name": f"bench {g}",
                "interval": "1m",
                "input_series": [
                    {
                        "series": f'bench_gauge{{rule="r{i % rules}", instance="i{i}"}}',
                        "values": _notation(values[i]),
                    }
                    for i in range(series)
                ],
                "alert_rule_test": cases,
            }
        )
    test = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": test_groups}
    path = directory / "test.yaml"
    path.write_text(json.dumps(test, indent=2))
    return path


def _timed(argv: list[str], cwd: Path | None = None) -> tuple[float, int, str]:
    """Wall seconds, exit code and stderr of ``argv`` (run in ``cwd``: ``python -m`` imports
    the ``alerter`` package found there first)."""
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=cwd)
    return time.perf_counter() - started, done.returncode, done.stderr.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=30)
    parser.add_argument("--series", type=int, default=50)
    parser.add_argument("--evals", type=int, default=40)
    parser.add_argument("--span", type=int, default=120, help="minutes of input data (default 120)")
    parser.add_argument("--groups", type=int, default=1, help="test groups in the file")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="DIR",
        help="also time alerter test from the source tree in DIR (repeatable)",
    )
    args = parser.parse_args(argv)
    promtool = shutil.which("promtool")
    with tempfile.TemporaryDirectory(prefix="bench-ruletest-") as tmp:
        test = build(Path(tmp), args.rules, args.series, args.evals, args.span, args.groups)
        cases = (
            args.groups
            * args.rules
            * len({round(args.span * (j + 1) / args.evals) for j in range(args.evals)})
        )
        rows = []
        if promtool:
            seconds, code, err = _timed([promtool, "test", "rules", str(test)])
            rows.append(("promtool test rules", seconds, code, err))
        for tree in args.baseline:
            seconds, code, err = _timed(
                [sys.executable, "-m", "alerter.ruletest", str(test)], cwd=Path(tree).resolve()
            )
            rows.append((f"alerter test @ {Path(tree).name}", seconds, code, err))
        seconds, code, err = _timed([sys.executable, "-m", "alerter.ruletest", str(test)])
        rows.append(("alerter test", seconds, code, err))
        print(
            f"{args.rules} rules, {args.series} series, {cases} alert cases over {args.span} min at 1m, "
            f"{args.groups} test group(s)"
        )
        width = max(24, *(len(name) + 2 for name, *_ in rows))
        print(f"{'tool':<{width}}{'seconds':>10}  result")
        for name, seconds, code, _ in rows:
            print(f"{name:<{width}}{seconds:>10.2f}  {'pass' if code == 0 else f'FAIL (exit {code})'}")
        if promtool and rows[0][1] > 0:
            for name, seconds, *_ in rows[1:]:
                print(f"{'ratio to promtool':<{width}}{seconds / rows[0][1]:>10.1f}  {name}")
        for name, _, code, err in rows:
            if code != 0:
                print(f"\n{name} output:\n{err[:3000]}", file=sys.stderr)
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            run_file(str(test), binary=find_binary(None))
            profile.disable()
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(25)
            print(out.getvalue())
        return 0 if all(code == 0 for _, _, code, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
