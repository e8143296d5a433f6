"""Real-backend test harness: Prometheus, VictoriaMetrics and the simulator, started for tests.

Engine tests use the fixtures (registered for all of ``tests/`` by ``tests/conftest.py``)::

    def test_ttft_rule(prometheus_source, sim_history):
        series = prometheus_source.query_range(
            'vllm:kv_cache_usage_perc', sim_history.start, sim_history.end, 300)
        truth = json.loads(sim_history.truth_path.read_text())["incidents"]

- ``sim_history``: 14 days, 1-minute grid, 2 models, one incident of every fault kind, ending
  at the fixed ``HISTORY_END`` (or ``pytest --history-end=TIME``); all series carry
  ``job="sim", instance="sim:8000"``; ``sim_history.expected(name, labels)`` recomputes any
  series from the model. Tests using it are marked ``history``; ``make test-sweep`` runs
  them at many ends across a week.
- ``prometheus`` / ``victoria`` (session): real servers loaded with that history; ``.url``.
- ``prometheus_source`` / ``victoria_source`` (session): ``PrometheusSource`` clients.
- ``prometheus_factory(history=..., scrape_targets=[...], extra_args=[...])``: more Prometheus
  servers, optionally backfilled and scraping a live simulator (its series are relabelled to
  ``job="sim", instance="sim:8000"`` so they continue the history's series).
- ``sim_process``: ``python -m alerter.sim serve --models 2 --seed 7`` (the history's fleet,
  without its incidents) on a free port; ``.url``; ``POST {url}/inject?kind=...`` adds faults.
  ``sim_process_factory(*args)`` starts one with more arguments, e.g. ``--phase``: a live
  scrape continues a history that ends now with the scenario of a fixed end.
- ``garbage_server``: canned HTTP replies (``GarbageServer.reply = Reply(...)``).

Outside pytest, the same pieces are plain functions: ``build_history``, ``backfill_prometheus``,
``start_prometheus``, ``start_victoria``, ``import_victoria`` (see ``backends`` and ``history``).
Session fixtures are shared: tests must not write into those servers.
"""

from .backends import backfill_prometheus, import_victoria, loaded_victoria, start_prometheus, start_victoria
from .garbage import GarbageServer, Reply, self_signed_certificate
from .history import DEFAULT_LABELS, HISTORY_END, SimHistory, build_history
from .processes import ManagedProcess, free_port, wait_until

__all__ = [
    "DEFAULT_LABELS",
    "HISTORY_END",
    "GarbageServer",
    "ManagedProcess",
    "Reply",
    "SimHistory",
    "backfill_prometheus",
    "build_history",
    "free_port",
    "import_victoria",
    "loaded_victoria",
    "self_signed_certificate",
    "start_prometheus",
    "start_victoria",
    "wait_until",
]
