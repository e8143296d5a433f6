"""``alerter sim serve`` and ``alerter sim history``: the simulator's command line.

``register(subparsers)`` adds the ``sim`` command to the ``alerter`` command's argparse
subparsers; every leaf parser sets ``func``, a callable taking the parsed namespace and
returning the exit code. ``main(argv)`` runs the same commands standalone
(``python -m alerter.sim serve``).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alerter.core.durations import parse_duration
from alerter.sim.faults import FAULT_KINDS, parse_fault
from alerter.sim.fleet import DEFAULT_MODELS, TICK, Fleet
from alerter.sim.history import random_faults, write_history
from alerter.sim.server import SimServer

__all__ = ["main", "register"]


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _phase(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"phase must be a number of seconds, got {text!r}") from None
    if not (math.isfinite(value) and value % TICK == 0):
        raise argparse.ArgumentTypeError(f"phase must be a whole number of minutes in seconds, got {text!r}")
    return value


def _label(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"label must look like name=value, got {text!r}")
    return name, value


def _fleet_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="noise seed; same seed, same metrics (default 0)")
    parser.add_argument(
        "--models",
        type=int,
        default=len(DEFAULT_MODELS),
        choices=range(1, len(DEFAULT_MODELS) + 1),
        help=f"number of models to simulate (default {len(DEFAULT_MODELS)})",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND:MODEL:START:DURATION[:MAGNITUDE]",
        help=f"inject a fault; START is an offset like 2h; MODEL may be *; kinds: {', '.join(FAULT_KINDS)}",
    )
    parser.add_argument(
        "--phase",
        type=_phase,
        default=0.0,
        metavar="SECONDS",
        help="run the fleet's traffic and noise this far ahead of the real clock (whole minutes, may be "
        "negative); the same phase gives a history and a live server the same scenario (default 0)",
    )


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``sim serve`` and ``sim history`` to an argparse subparsers object."""
    sim: argparse.ArgumentParser = subparsers.add_parser(
        "sim", help="LLM-fleet simulator (vLLM/LiteLLM metrics, history, faults)"
    )
    _add_commands(sim.add_subparsers(dest="sim_command", required=True, metavar="{serve,history}"))
    return sim


def _add_commands(commands: Any) -> None:
    serve = commands.add_parser("serve", help="serve /metrics of a live simulated fleet")
    serve.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    serve.add_argument(
        "--port", type=int, default=9400, help="listen port, 0 picks a free one (default 9400)"
    )
    _fleet_options(serve)
    serve.set_defaults(func=run_serve)

    history = commands.add_parser("history", help="write N days of OpenMetrics history and its ground truth")
    history.add_argument("--out", type=Path, required=True, help="output file (a directory with --split)")
    history.add_argument("--truth", type=Path, help="where to write the ground-truth JSON of the incidents")
    history.add_argument("--days", type=float, default=14.0, help="length of the history (default 14)")
    history.add_argument("--step", type=_duration, default=60.0, help="scrape interval (default 1m)")
    history.add_argument(
        "--end", type=float, help="unix time of the last sample (default: now, to the minute)"
    )
    history.add_argument(
        "--format",
        choices=("openmetrics", "prometheus"),
        default="openmetrics",
        help="openmetrics for promtool (default), prometheus for VictoriaMetrics import",
    )
    history.add_argument("--split", type=_duration, help="one file per window of this length, e.g. 18h")
    history.add_argument("--random-faults", type=int, default=0, metavar="N", help="add N seeded faults")
    history.add_argument(
        "--label",
        type=_label,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="label added to every series, e.g. job=sim (repeatable)",
    )
    _fleet_options(history)
    history.set_defaults(func=run_history)


def _fleet(args: argparse.Namespace, origin: float) -> Fleet:
    models = DEFAULT_MODELS[: args.models]
    names = tuple(m.name for m in models)
    faults = tuple(parse_fault(spec, origin=origin, models=names) for spec in args.fault)
    return Fleet(models, args.seed, faults, args.phase)


def run_serve(args: argparse.Namespace) -> int:
    fleet = _fleet(args, time.time())
    server = SimServer(fleet, args.host, args.port)
    print(f"serving {len(fleet.models)} models on {server.url}/metrics", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def run_history(args: argparse.Namespace) -> int:
    if not (args.days > 0 and math.isfinite(args.days)):
        raise ValueError(f"--days must be positive, got {args.days}")
    end = args.end if args.end is not None else math.floor(time.time() / 60) * 60
    start = end - args.days * 86400
    fleet = _fleet(args, start)
    if args.random_faults:
        fleet = Fleet(
            fleet.models,
            fleet.seed,
            fleet.faults + random_faults(fleet, start, end, args.random_faults),
            fleet.phase,
        )
    written = write_history(
        fleet,
        start,
        end,
        args.step,
        args.out,
        truth_path=args.truth,
        fmt=args.format,
        extra_labels=dict(args.label),
        split=args.split,
    )
    print(
        f"wrote {written.samples} samples in {len(written.paths)} file(s) from {written.start:.0f} to "
        f"{written.end:.0f} every {written.step:g}s; {len(fleet.faults)} incident(s)",
        flush=True,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sim serve`` / ``sim history`` standalone; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m alerter.sim", description="LLM-fleet simulator")
    _add_commands(parser.add_subparsers(dest="sim_command", required=True, metavar="{serve,history}"))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
