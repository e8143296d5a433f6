"""``alerter backtest``: replay rules over past data through the engine's own code path.

``replay`` drives the engine, pipeline and runner over a time range at a fixed clock step against
a source that serves prefetched ranges (``source``); ``record`` collects alert episodes,
deliveries and remediation events; ``report`` and ``html`` write the JSON and the HTML report.
``series`` replays rules over series held in memory (``replay_series`` for one rule and one
series; ``alerter backtest --csv`` for exported files read by ``csvfile``).
"""

from alerter.backtest.record import Episode
from alerter.backtest.replay import Result, command, main, parse_time, register, replay, seed_actuator
from alerter.backtest.series import replay_series

__all__ = [
    "Episode",
    "Result",
    "command",
    "main",
    "parse_time",
    "register",
    "replay",
    "replay_series",
    "seed_actuator",
]
