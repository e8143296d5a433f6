"""APScheduler wiring: one job per rule group, the only place that reads the clock.

Each group runs at its ``interval`` with a stable offset derived from its name, so groups with
the same interval do not all query Prometheus in the same second and a restart keeps the same
phase. A group never overlaps itself (``max_instances=1``); a tick that could not start because
the previous one still ran is counted as missed rather than queued, so a slow source does not
pile up work. Housekeeping jobs (reload checks, notification flushes) are added by the app.

With several replicas sharing the groups, the app passes ``owns(group, now)``: ``sync`` schedules
only the groups it answers yes for, and every tick asks again before it starts, so a group this
replica has just lost (or every group, once its membership lapsed) stops at once, without
waiting for the job to be removed. A tick that started as the owner asks a third time, on the
clock, once its results are ready and before they are written (``Engine.tick(owned=...)``): an
evaluation slower than the rest of the Lease drops its results instead of writing over the new
owner's.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from alerter.engine.engine import Engine, GroupPlan

log = logging.getLogger(__name__)

GROUP_JOB_PREFIX = "group:"

Owns = Callable[[str, float], bool]
"""Whether this replica owns a rule group at a time (``cluster.sharding.Sharding.owns``)."""


@dataclass(frozen=True)
class StillOwned:
    """``engine.Owned`` for one tick: whether this replica owns ``group`` at the clock's time
    when asked (not the tick's ``now``, which is when its evaluation began)."""

    group: str
    owns: Owns
    clock: Callable[[], float]
    replica: str

    def __call__(self) -> bool:
        return self.owns(self.group, self.clock())


def offset(name: str, interval: float) -> float:
    """Stable phase of a group within its interval, in seconds (same across restarts)."""
    digest = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big")
    return (digest % 1_000_000) / 1_000_000 * interval


def first_run(name: str, interval: float, now: float) -> float:
    """The next time at or after ``now`` whose phase matches the group's offset."""
    phase = offset(name, interval)
    base = (now // interval) * interval + phase
    return base if base >= now else base + interval


class Scheduler:
    """Runs the engine's groups on their intervals on a small thread pool."""

    def __init__(self, engine: Engine, *, workers: int = 4, owns: Owns | None = None, replica: str = "",
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        """``owns`` None: this replica owns every group. ``replica`` names this replica in the log
        of a dropped tick; ``clock`` is what a tick's results are judged by when they are ready."""
        self.engine = engine
        self._owns = owns
        self._replica = replica
        self._clock = clock
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        self._scheduler.add_listener(
            self._on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR
        )

    def _on_event(self, event: JobExecutionEvent) -> None:
        job_id = str(event.job_id)
        if not job_id.startswith(GROUP_JOB_PREFIX):
            if event.code == EVENT_JOB_ERROR:
                log.error("housekeeping job failed", extra={"job": job_id, "error": repr(event.exception)})
            return
        group = job_id[len(GROUP_JOB_PREFIX) :]
        if event.code == EVENT_JOB_ERROR:
            log.error("group tick failed", extra={"group": group, "error": repr(event.exception)})
        else:
            self.engine.metrics.missed.labels(group).inc()
            log.warning("group tick missed: the previous one is still running", extra={"group": group})

    def _run_group(self, name: str) -> None:
        self.tick(name, self._clock())

    def tick(self, name: str, now: float) -> bool:
        """Tick ``name`` at ``now`` if this replica owns it then; False when it does not."""
        if self._owns is None:
            self.engine.tick(name, now)
            return True
        if not self._owns(name, now):
            return False
        self.engine.tick(name, now, owned=StillOwned(name, self._owns, self._clock, self._replica))
        return True

    def sync(self) -> None:
        """Make the jobs match the engine's groups this replica owns (after start-up, every
        reload and every change of ownership)."""
        now = self._clock()
        wanted = {
            GROUP_JOB_PREFIX + name: plan
            for name, plan in self.engine.groups.items()
            if self._owns is None or self._owns(name, now)
        }
        for job in self._scheduler.get_jobs():
            if job.id.startswith(GROUP_JOB_PREFIX) and job.id not in wanted:
                job.remove()
        for job_id, plan in wanted.items():
            self._add_group(job_id, plan, now)

    def _add_group(self, job_id: str, plan: GroupPlan, now: float) -> None:
        existing = self._scheduler.get_job(job_id)
        interval = getattr(existing.trigger, "interval", None) if existing is not None else None
        if interval is not None and interval.total_seconds() == plan.interval:
            return  # unchanged: keep its phase
        start = datetime.fromtimestamp(first_run(plan.name, plan.interval, now), UTC)
        self._scheduler.add_job(
            self._run_group,
            IntervalTrigger(seconds=plan.interval, start_date=start, timezone=UTC),
            args=[plan.name],
            id=job_id,
            name=f"rule group {plan.name}",
            replace_existing=True,
        )

    def every(self, seconds: float, job_id: str, func: Callable[[float], None]) -> None:
        """A housekeeping job called with the current time every ``seconds``."""
        self._scheduler.add_job(
            lambda: func(self._clock()),
            IntervalTrigger(seconds=seconds, timezone=UTC),
            id=job_id,
            replace_existing=True,
        )

    def start(self) -> None:
        self.sync()
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
