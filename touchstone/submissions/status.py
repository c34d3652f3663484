"""What the maintainers' status page shows: the queue, the workers and recent failures.

Staff see every benchmark; a benchmark's maintainers see the rows of the benchmarks they
maintain and nothing of the others. Nobody sees a model's name, description or owner here (a
maintainer may also be a competitor), nor, unless staff, a worker's host name or process id.
Every age is measured with the database's clock, against timestamps written with it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q

from touchstone.benchmarks.models import Benchmark
from touchstone.submissions.models import EvaluationRun, Submission, WorkerRecord
from touchstone.submissions.queueing import queue_place
from touchstone.submissions.workers import database_now, stale_after_seconds

#: Failures counted by reason over this many hours.
FAILURE_WINDOW_HOURS = 24


def may_see_status(user) -> bool:
    """Staff and anyone who maintains at least one benchmark."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return bool(user.is_staff) or Benchmark.objects.filter(maintainers=user).exists()


def _seconds(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else round(max(0.0, (now - then).total_seconds()), 1)


def _state(submission: Submission, stale_heartbeat: float, now: datetime) -> str:
    if submission.status == Submission.Status.RUNNING:
        age = _seconds(now, submission.heartbeat_at or submission.updated_at)
        return "running, heartbeat stale" if age is not None and age > stale_heartbeat else "running"
    if submission.dispatched_at is None:
        # An upload without it was accepted while the broker was down; a re-evaluation or a
        # pinned baseline waits in the database until no upload is queued.
        return "waiting for the broker" if not submission.is_background else "held until no upload is queued"
    return "queued"


def queue_status(user) -> dict:
    """The status page's content as ``user`` may see it (check ``may_see_status`` first)."""
    now = database_now()
    staff = bool(user.is_staff)
    benchmarks = Benchmark.objects.all() if staff else Benchmark.objects.filter(maintainers=user)
    slugs = sorted(benchmarks.values_list("slug", flat=True))
    scope = Q() if staff else Q(version__benchmark__slug__in=slugs)
    in_flight = (
        Submission.objects.filter(scope, status__in=[Submission.Status.QUEUED, Submission.Status.RUNNING])
        .select_related("version__benchmark", "current_run")
        .order_by("created_at", "pk")
    )
    rows = []
    for submission in in_flight:
        place = queue_place(submission)
        row = {
            "submission": submission.pk,
            "run": submission.current_run_id,
            "benchmark": submission.version.benchmark.slug,
            "version": submission.version.version,
            "origin": submission.origin,
            "state": _state(submission, settings.HEARTBEAT_STALE_SECONDS, now),
            "age_seconds": _seconds(now, submission.created_at),
            "heartbeat_age_seconds": _seconds(now, submission.heartbeat_at)
            if submission.status == Submission.Status.RUNNING
            else None,
            "queue_position": None if place is None else place[0],
        }
        if staff:
            run = submission.current_run
            row["worker"] = run.worker if run is not None else None
        rows.append(row)
    queued = [row for row in rows if not row["state"].startswith("running")]
    return {
        "database_time": now.isoformat(),
        "benchmarks": slugs,
        "queue": {
            "queued": sum(1 for row in rows if row["state"] == "queued"),
            "waiting_for_broker": sum(1 for row in rows if row["state"] == "waiting for the broker"),
            "running": sum(1 for row in rows if row["state"].startswith("running")),
            "oldest_queued_seconds": max((row["age_seconds"] for row in queued), default=None),
            "rows": rows,
        },
        "workers": _workers(now, staff=staff, slugs=slugs),
        "failures": _failures(now, scope),
    }


def _workers(now: datetime, *, staff: bool, slugs: list[str]) -> list[dict]:
    stale_after = stale_after_seconds()
    records = list(WorkerRecord.objects.order_by("started_at", "name"))
    run_ids = {run for record in records for run in record.current_runs}
    # A maintainer sees which of a worker's runs are on their benchmarks, never the others.
    visible = set(
        EvaluationRun.objects.filter(pk__in=run_ids)
        .filter(Q() if staff else Q(submission__version__benchmark__slug__in=slugs))
        .values_list("pk", flat=True)
    )
    shown = []
    for number, record in enumerate(records, start=1):
        silent = _seconds(now, record.last_seen_at)
        entry = {
            "name": record.name if staff else f"worker {number}",
            "started_at": record.started_at.isoformat(),
            "last_seen_seconds": silent,
            "stale": silent is not None and silent > stale_after,
            "concurrency": record.concurrency,
            "busy": len(record.current_runs),
            "current_runs": [run for run in record.current_runs if run in visible],
        }
        if staff:
            entry |= {"hostname": record.hostname, "pid": record.pid}
        shown.append(entry)
    return shown


def _failures(now: datetime, scope: Q) -> dict:
    since = now - timedelta(hours=FAILURE_WINDOW_HOURS)
    counts = (
        Submission.objects.filter(scope, status=Submission.Status.FAILED, updated_at__gte=since)
        .values("error_code")
        .annotate(count=Count("pk"))
        .order_by("-count", "error_code")
    )
    return {
        "hours": FAILURE_WINDOW_HOURS,
        "by_reason": [{"reason": row["error_code"] or "unknown", "count": row["count"]} for row in counts],
    }
