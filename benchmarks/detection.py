"""Detection quality as a pager feels it: the pages a rule would have sent, on labelled data.

Every detector row is one rule replayed over one series at a time with
:func:`alerter.backtest.replay_series`, i.e. through the engine's own code path (baseline
cache, refit cadence, cold-start ladder, trigger window, ``for``, alert state machine),
starting from no history and evaluating at the series' sample spacing. A *page* is an episode
that fired; its time is ``fired_at``. Rows:

- ``default (auto)``: ``{"baseline": {}}``, the rule-file defaults (cold-start ladder);
- ``stl``, ``mstl`` (``history: 28d``), ``ewma``: ``{"baseline": {"detector": X}}``;
- two references measured in the same run, plain numpy pagers with the default rule's trigger,
  ``for`` and resolution semantics (``benchmarks/_pagers.py``): ``ref: rolling z`` (``|z| > 4``
  against the previous day's mean and std) and ``ref: seasonal naive`` (deviation from the
  value a day earlier, robust-z-scored against the previous day's deviations, ``> 4``).

Run::

    python benchmarks/detection.py                 # default run; the default row alone ~10 min on 2 cores
    python benchmarks/detection.py --quick         # smaller versions of every set, ~4-5 min
    python benchmarks/detection.py --sets ms,sim   # some of the sets (ms, synthetic, sim)
    python benchmarks/detection.py --jobs 2        # worker processes (default 2)
    python benchmarks/detection.py --full          # every ms series, every sim quantity x seed
    python benchmarks/detection.py --speed         # only score_stream speed over 100k points
    python benchmarks/detection.py --json out.json # also write every number

Data sets:

- ``ms``: Microsoft's Cloud Monitoring data set (labelled series, ``TimeStamp,Value,Label``),
  read from ``$ALERTER_MS_DATASET`` or ``../shared/datasets/ms-cloud-monitoring``. Labelled
  points less than 3 sample spacings apart form one event. Replaying an hourly series costs
  ~40-80 ms per tick (every tick refits: ``refit`` is 1h), so the default run replays every
  1-minute series and every 12th hourly one (sorted by file name); ``--full`` replays them all
  (about two hours on 2 cores); ``--quick`` the first 7 days of every 5th series.
- ``synthetic``: regular series that must never page after their first day
  (``benchmarks/_synthetic.py``); its own table gives the pages after day one per case.
- ``sim``: the LLM-fleet simulator (``alerter.sim``), values computed in numpy from its pure
  model (``model_state``) at a 1-minute step: per seed one model
  (seed 1: llama-3.1-8b, 2: llama-3.1-70b, 3: mistral-7b) over 4 weeks (``--quick``: 8 days),
  two incidents a day after a quiet first day (``random_faults``), cycling through every fault
  kind. An incident is an event of a series when the simulator's ground truth
  (``affected_series``) lists that series' metric; pages during the model's other incidents are
  left out (the series does move then); ``silent`` incidents leave gaps in the vLLM series and
  are never events (absence has its own rules). Quantities: TTFT, inter-token latency, queue
  time, 5xx error ratio, 4xx bad-input ratio, generation and prompt token throughput; the
  default run judges TTFT on every seed and rotates two more per seed (all seven are covered
  by seeds 1-3; ``--quick``, one seed, judges TTFT, inter-token latency and the error ratio),
  ``--full`` judges all seven on every seed.

Columns (pages judged as in ``benchmarks/_detection_metrics.py``):

- ``false/wk``: pages per series-week on normal data (fired outside every event's catch window,
  [start, end + max(15 min, 3 evaluations)]);
- ``caught``: events with a page inside their catch window / events;
- ``delay``: median of first page - event start over the caught events;
- ``score``: the NAB event-window score of the pages (``benchmarks/_event_score.py``): 100 =
  every event paged at the start of its window, 0 = as good as never paging;
- ``prec``/``recall``/``F1``: true pages / judged pages, caught / events, harmonic mean;
- ``pages``: pages kept for judging; ``cpu s``: CPU seconds of the replays (sum over workers).

Targets: ``ms``: event-window score >= 2x the rolling z-score reference and event F1 >= 0.65;
``synthetic``: 0 pages after the first day in every case; ``sim``: <= 0.1 false pages per
series-week, >= 90% of the incidents paged, median delay <= 5 min; ``--speed``: score_stream of
every detector over 100k points <= 10 s.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import logging
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _pagers
import _synthetic
from _detection_metrics import FloatArray, Outcome, Span, Tally, judge, label_events, tolerance

from alerter import detect
from alerter.backtest import replay_series
from alerter.backtest.series import clean_series, default_interval

DAY = 86400.0
WEEK = 7 * DAY

RULES: dict[str, dict[str, Any]] = {
    "default (auto)": {"baseline": {}},
    "stl": {"baseline": {"detector": "stl"}},
    "mstl": {"baseline": {"detector": "mstl", "history": "28d"}},
    "ewma": {"baseline": {"detector": "ewma"}},
}
REFERENCES: dict[str, Callable[[FloatArray, FloatArray], np.ndarray]] = {
    "ref: rolling z": _pagers.rolling_zscore_flags,
    "ref: seasonal naive": _pagers.seasonal_naive_flags,
}
ROWS = [*RULES, *REFERENCES]
Z_REF = "ref: rolling z"
SETS = ("ms", "synthetic", "sim")


@dataclass(frozen=True)
class Labelled:
    """One series to replay: cleaned samples, its events and the spans whose pages are dropped."""

    name: str
    ts: FloatArray
    vs: FloatArray
    events: tuple[Span, ...] = ()
    ignore: tuple[Span, ...] = ()
    interval: float = 60.0

    @property
    def start(self) -> float:
        return float(self.ts[0])

    @property
    def end(self) -> float:
        return float(self.ts[-1])

    @property
    def ticks(self) -> int:
        return int((self.end - self.start) // self.interval) + 1


def labelled(name: str, ts: FloatArray, vs: FloatArray, events: Sequence[Span] = (), **kw: Any) -> Labelled:
    cts, cvs = clean_series(ts, vs)
    return Labelled(name, cts, cvs, tuple(events), interval=default_interval(cts), **kw)


@dataclass(frozen=True)
class Plan:
    """How much of each data set a run replays."""

    ms_every: int = 1
    """Every n-th series of the MS data set..."""
    ms_hourly_every: int = 12
    """...and of those, every n-th series sampled hourly or coarser."""
    ms_days: float | None = None
    """Replay only the first days of each MS series."""
    synthetic_days: float = 14.0
    synthetic_weekly_days: float = 28.0
    sim_seeds: tuple[int, ...] = (1, 2, 3)
    sim_days: float = 28.0
    sim_step: float = 60.0
    sim_rotate: bool = True

    @classmethod
    def named(cls, quick: bool, full: bool) -> Plan:
        if quick:
            return cls(
                ms_every=5,
                ms_hourly_every=1,
                ms_days=7.0,
                synthetic_days=3.0,
                synthetic_weekly_days=14.0,
                sim_seeds=(1,),
                sim_days=8.0,
            )
        if full:
            return cls(ms_hourly_every=1, sim_rotate=False)
        return cls()


# -- data sets ------------------------------------------------------------------------------


def ms_dir() -> Path:
    env = os.environ.get("ALERTER_MS_DATASET")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent.parent
    return here.parent / "shared" / "datasets" / "ms-cloud-monitoring"


def ms_series(root: Path) -> Iterator[tuple[str, FloatArray, FloatArray, np.ndarray]]:
    """Every CSV of the MS data set, sorted by file name: name, times (s), values, labels."""
    for path in sorted(root.glob("data/**/*.csv")):
        stamps, values, labels = [], [], []
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                stamp = dt.datetime.fromisoformat(row["TimeStamp"].strip().replace("Z", "+00:00"))
                stamps.append((stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)).timestamp())
                values.append(float(row["Value"]) if row["Value"] not in ("", "NaN") else np.nan)
                labels.append(row["Label"].strip() == "1")
        ts = np.array(stamps, dtype=np.float64)
        yield f"{path.parent.name}/{path.stem}", ts, np.array(values), np.array(labels, dtype=bool)


def ms_set(root: Path, plan: Plan) -> list[Labelled]:
    """The MS series the plan replays, with labelled points turned into events."""
    out: list[Labelled] = []
    hourly = 0
    for index, (name, ts, vs, labels) in enumerate(ms_series(root)):
        if index % plan.ms_every:
            continue
        order = np.argsort(ts, kind="stable")
        ts, vs, labels = ts[order], vs[order], labels[order]
        spacing = float(np.median(np.diff(ts)))
        if spacing >= 1800.0:
            hourly += 1
            if (hourly - 1) % plan.ms_hourly_every:
                continue
        if plan.ms_days is not None:
            keep = ts < ts[0] + plan.ms_days * DAY
            ts, vs, labels = ts[keep], vs[keep], labels[keep]
        events = label_events(ts, labels, gap=3 * spacing)
        out.append(labelled(name, ts, vs, events))
    return out


def synthetic_set(plan: Plan) -> list[Labelled]:
    return [
        labelled(c.name, c.timestamps, c.values)
        for c in _synthetic.cases(plan.synthetic_days, plan.synthetic_weekly_days)
    ]


@dataclass(frozen=True)
class Quantity:
    """A fleet quantity a shipped rule judges, the metric the ground truth names for it."""

    value: Callable[[Any], np.ndarray]
    metric: str
    labels: Mapping[str, str] = field(default_factory=dict)
    vllm: bool = True
    """Reported by vLLM (absent while the model is silent); else by the gateway."""


SIM_QUANTITIES: dict[str, Quantity] = {
    "ttft": Quantity(lambda s: s.ttft, "vllm:time_to_first_token_seconds"),
    "itl": Quantity(lambda s: s.itl, "vllm:inter_token_latency_seconds"),
    "queue_time": Quantity(lambda s: s.queue, "vllm:request_queue_time_seconds"),
    "error_ratio": Quantity(
        lambda s: s.share_5xx,
        "litellm_proxy_failed_requests_metric_total",
        {"exception_status": "500"},
        vllm=False,
    ),
    "bad_input_ratio": Quantity(
        lambda s: s.share_4xx,
        "litellm_proxy_failed_requests_metric_total",
        {"exception_status": "400"},
        vllm=False,
    ),
    "gen_tokens": Quantity(lambda s: s.success_rps * s.output_tokens, "vllm:generation_tokens_total"),
    "prompt_tokens": Quantity(lambda s: s.forwarded_rps * s.prompt_tokens, "vllm:prompt_tokens_total"),
}
SIM_ROTATION: dict[int, tuple[str, ...]] = {
    1: ("ttft", "itl", "error_ratio"),
    2: ("ttft", "queue_time", "bad_input_ratio"),
    0: ("ttft", "gen_tokens", "prompt_tokens"),
}
"""Quantities of the default run by seed modulo 3: TTFT always, every other one on one seed."""
SIM_START = 1_767_571_200.0
"""2026-01-05T00:00Z, a Monday."""


def sim_set(plan: Plan) -> list[Labelled]:
    """The simulator's series of each seed, with the incidents of its ground truth as events."""
    from alerter.sim.faults import affected_series
    from alerter.sim.fleet import DEFAULT_MODELS, TICK, Fleet, model_state
    from alerter.sim.history import random_faults

    start, end = SIM_START, SIM_START + plan.sim_days * DAY
    times = np.arange(start, end, plan.sim_step)
    out: list[Labelled] = []
    for seed in plan.sim_seeds:
        model = DEFAULT_MODELS[(seed - 1) % len(DEFAULT_MODELS)]
        base = Fleet((model,), seed)
        faults = random_faults(base, start + DAY, end, int(2 * (plan.sim_days - 1)))
        fleet = Fleet(base.models, seed, faults)
        state = model_state(fleet, 0, np.round(times / TICK).astype(np.int64))
        silent = fleet.silent_mask(model.name, times)
        names = SIM_ROTATION[seed % 3] if plan.sim_rotate else tuple(SIM_QUANTITIES)
        for qname in names:
            q = SIM_QUANTITIES[qname]
            values = np.asarray(q.value(state), dtype=np.float64)
            keep = ~silent if q.vllm else np.ones(times.size, dtype=bool)
            events: list[Span] = []
            ignore: list[Span] = []
            for f in faults:
                listed = f.kind != "silent" and any(
                    a["metric"] == q.metric and all(a["labels"].get(k) == v for k, v in q.labels.items())
                    for a in affected_series(f)
                )
                if listed:
                    events.append((f.start, f.end))
                else:
                    ignore.append((f.start, f.end + tolerance(plan.sim_step)))
            out.append(
                labelled(f"seed{seed}/{model.name}/{qname}", times[keep], values[keep], events, ignore=ignore)
            )
    return out


# -- replays --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    dataset: str
    index: int
    row: str
    series: Labelled

    @property
    def cost(self) -> float:
        """A rough relative cost, to start the longest replays first."""
        if self.row in REFERENCES:
            return 0.01 * self.series.ticks
        per_tick = 40.0 if self.series.interval >= 1800.0 else 1.0
        return per_tick * self.series.ticks * (1.5 if self.row == "mstl" else 1.0)


def _warm() -> None:
    """Worker start: quiet logging, and pay the imports before any replay is timed."""
    logging.getLogger("alerter").setLevel(logging.ERROR)
    ts = np.arange(0.0, 3 * DAY, 3600.0)
    replay_series({"baseline": {"detector": "stl"}}, ts, np.sin(ts / DAY * 2 * np.pi))


def run_task(task: Task) -> tuple[str, int, str, list[float], float]:
    """Replay one row over one series: its page times and the CPU seconds it took."""
    s = task.series
    began = time.process_time()
    if task.row in RULES:
        episodes = replay_series(RULES[task.row], s.ts, s.vs, interval=s.interval)
        fired = [e.fired_at for e in episodes if e.fired_at is not None]
    else:
        flags = REFERENCES[task.row](s.ts, s.vs)
        fired = [p.fired_at for p in _pagers.pages(s.ts, flags, s.interval, _pagers.Semantics.defaults())]
    return task.dataset, task.index, task.row, fired, time.process_time() - began


def replay_all(
    data: dict[str, list[Labelled]], jobs: int
) -> dict[tuple[str, int, str], tuple[list[float], float]]:
    tasks = [
        Task(name, i, row, s) for name, series in data.items() for i, s in enumerate(series) for row in ROWS
    ]
    tasks.sort(key=lambda t: -t.cost)
    out: dict[tuple[str, int, str], tuple[list[float], float]] = {}
    began = time.monotonic()
    with multiprocessing.Pool(jobs, initializer=_warm) as pool:
        for done, (name, index, row, fired, cpu) in enumerate(pool.imap_unordered(run_task, tasks), 1):
            out[(name, index, row)] = (fired, cpu)
            series = data[name][index]
            print(
                f"[{time.monotonic() - began:6.0f}s {done}/{len(tasks)}] {name} {series.name} "
                f"{row}: {len(fired)} pages, {cpu:.1f}s",
                file=sys.stderr,
                flush=True,
            )
    return out


# -- tables ---------------------------------------------------------------------------------


def _fmt(value: float, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _delay(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds / 60:.1f}m"


HEAD = (
    f"{'row':22s} {'false/wk':>8s} {'caught':>13s} {'delay':>7s} {'score':>6s} "
    f"{'prec':>5s} {'recall':>6s} {'F1':>5s} {'pages':>6s} {'cpu s':>7s}"
)


def row_line(name: str, t: Tally) -> str:
    share = f"({100 * t.recall:.0f}%)" if t.events else ""
    caught = f"{t.caught}/{t.events} {share}"
    return (
        f"{name:22s} {_fmt(t.false_per_week, '8.2f')} {caught:>13s} {_delay(t.median_delay):>7s} "
        f"{_fmt(t.event_score, '6.1f')} {_fmt(t.precision, '5.2f')} {_fmt(t.recall, '6.2f')} "
        f"{_fmt(t.f1, '5.2f')} {t.pages:6d} {t.cpu:7.1f}"
    )


def event_table(title: str, tallies: dict[str, Tally], target: str) -> str:
    first = next(iter(tallies.values()))
    head = (
        f"== {title}: {len(first.outcomes)} series, {first.weeks:.1f} series-weeks, {first.events} events =="
    )
    lines = [head, HEAD, "-" * len(HEAD)]
    lines += [row_line(name, t) for name, t in tallies.items()]
    lines.append(target)
    return "\n".join(lines)


def ms_target(tallies: dict[str, Tally]) -> str:
    z = tallies[Z_REF].event_score
    score = f">={2 * z:.1f}" if not math.isnan(z) else ">=2x z"
    return f"{'target':22s} {'':>8s} {'':>13s} {'':>7s} {score:>6s} {'':>5s} {'':>6s} {'>=.65':>5s}"


def sim_target() -> str:
    return f"{'target':22s} {'<=0.10':>8s} {'>=90%':>13s} {'<=5m':>7s}"


def synthetic_table(
    data: list[Labelled], results: dict[tuple[str, int, str], tuple[list[float], float]]
) -> tuple[str, dict[str, dict[str, int]]]:
    """Pages after the first day, per row and case (target: 0 everywhere)."""
    names = [s.name for s in data]
    width = max(9, *(len(n) + 1 for n in names))
    head = f"{'row':22s}" + "".join(f"{n:>{width}s}" for n in names) + f"{'total':>7s}{'cpu s':>8s}"
    spans = "; ".join(
        sorted({f"{(s.end - s.start) / DAY:.0f} days at {s.interval / 60:.0f}m" for s in data}, reverse=True)
    )
    lines = [f"== synthetic: pages after the first day ({spans}) ==", head]
    lines.append("-" * len(head))
    numbers: dict[str, dict[str, int]] = {}
    for row in ROWS:
        counts = {}
        cpu = 0.0
        for i, s in enumerate(data):
            fired, seconds = results[("synthetic", i, row)]
            counts[s.name] = sum(1 for t in fired if t >= s.start + _synthetic.LEARNING)
            cpu += seconds
        numbers[row] = counts
        lines.append(
            f"{row:22s}"
            + "".join(f"{counts[n]:>{width}d}" for n in names)
            + f"{sum(counts.values()):>7d}{cpu:>8.1f}"
        )
    lines.append(f"{'target':22s}" + "".join(f"{0:>{width}d}" for _ in names) + f"{0:>7d}")
    return "\n".join(lines), numbers


def tallies_of(
    name: str, data: list[Labelled], results: dict[tuple[str, int, str], tuple[list[float], float]]
) -> dict[str, Tally]:
    out: dict[str, Tally] = {}
    for row in ROWS:
        tally = Tally()
        for i, s in enumerate(data):
            fired, cpu = results[(name, i, row)]
            tally.add(judge(s.name, s.start, s.end, s.events, fired, s.interval, cpu, s.ignore))
        out[row] = tally
    return out


def outcome_json(o: Outcome) -> dict[str, Any]:
    return {
        "series": o.name,
        "events": len(o.events),
        "caught": o.caught,
        "pages": o.pages,
        "false_pages": o.false_pages,
        "delays_s": o.delays,
        "cpu_s": o.cpu,
    }


# -- score_stream speed -----------------------------------------------------------------------


def speed_table(points: int = 100_000) -> tuple[str, dict[str, float]]:
    """Seconds of ``score_stream`` of every detector over ``points`` 1-minute points (target <= 10 s)."""
    rng = np.random.default_rng(7)
    ts = np.arange(0.0, points * 60.0, 60.0)
    daily = 100 + 30 * np.sin(2 * np.pi * ts / DAY) + rng.normal(0, 3, points)
    ratio = np.clip(rng.normal(0.0005, 0.0003, points), 0, 1)
    spend = np.cumsum(rng.uniform(0, 0.01, points))
    specs: list[tuple[str, dict[str, object], FloatArray]] = [
        ("auto", {}, daily),
        ("stl", {"detector": "stl"}, daily),
        ("mstl", {"detector": "mstl", "history": "28d"}, daily),
        ("ewma", {"detector": "ewma"}, daily),
        ("static", {"detector": "static", "above": 130}, daily),
        ("burn_rate", {"detector": "burn_rate", "objective": 0.999}, ratio),
        ("forecast", {"detector": "forecast", "budget": 500, "period": "week"}, spend),
    ]
    lines = [
        f"== score_stream speed, {points // 1000}k points, one core ==",
        f"{'detector':22s} {'seconds':>8s}",
    ]
    numbers: dict[str, float] = {}
    for name, spec, values in specs:
        began = time.perf_counter()
        detect.build(spec).score_stream(ts, values)
        numbers[name] = time.perf_counter() - began
        lines.append(f"{name:22s} {numbers[name]:8.2f}")
    lines.append(f"{'target':22s} {'<=10':>8s}")
    return "\n".join(lines), numbers


# -- main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small versions of every set (~4-5 min)")
    parser.add_argument(
        "--full", action="store_true", help="every ms series, every sim quantity on every seed"
    )
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated: ms, synthetic, sim")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--json", metavar="FILE", help="write every number here")
    parser.add_argument("--speed", action="store_true", help="only measure score_stream speed")
    args = parser.parse_args(argv)
    began = time.monotonic()
    report: dict[str, Any] = {}
    if args.speed:
        text, numbers = speed_table()
        print(text)
        report["speed_s"] = numbers
        _write(args.json, report)
        return 0
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = sorted(set(sets) - set(SETS))
    if unknown:
        parser.error(f"unknown set(s) {', '.join(unknown)}; choose from {', '.join(SETS)}")
    plan = Plan.named(args.quick, args.full)
    report["plan"] = {k: v for k, v in plan.__dict__.items()}
    data: dict[str, list[Labelled]] = {}
    if "ms" in sets:
        root = ms_dir()
        if (root / "data").is_dir():
            data["ms"] = ms_set(root, plan)
        else:
            print(f"== ms == skipped: data set not found at {root} (set ALERTER_MS_DATASET)\n")
    if "synthetic" in sets:
        data["synthetic"] = synthetic_set(plan)
    if "sim" in sets:
        data["sim"] = sim_set(plan)
    results = replay_all(data, max(1, args.jobs))
    report["sets"] = {}
    for name, series in data.items():
        if name == "synthetic":
            text, counts = synthetic_table(series, results)
            report["sets"][name] = {"pages_after_first_day": counts, "cpu_s": _cpu(name, series, results)}
            print(text + "\n")
            continue
        tallies = tallies_of(name, series, results)
        target = ms_target(tallies) if name == "ms" else sim_target()
        title = "ms-cloud-monitoring" if name == "ms" else "simulator incidents"
        print(event_table(title, tallies, target) + "\n")
        report["sets"][name] = {
            "rows": {row: t.summary() for row, t in tallies.items()},
            "series": {row: [outcome_json(o) for o in t.outcomes] for row, t in tallies.items()},
        }
    wall = time.monotonic() - began
    report["wall_s"] = wall
    print(f"wall time {wall / 60:.1f} min with {args.jobs} worker(s)")
    _write(args.json, report)
    return 0


def _cpu(
    name: str, series: list[Labelled], results: dict[tuple[str, int, str], tuple[list[float], float]]
) -> dict[str, float]:
    return {row: sum(results[(name, i, row)][1] for i in range(len(series))) for row in ROWS}


def _write(path: str | None, report: dict[str, Any]) -> None:
    if path:
        text = json.dumps(_plain(report), indent=2, allow_nan=False)
        Path(path).write_text(text + "\n", encoding="utf-8")


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars as numbers, tuples as lists and NaN as null."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


if __name__ == "__main__":
    raise SystemExit(main())
