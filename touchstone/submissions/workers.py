"""The workers as they describe themselves, for the maintainers' status page.

Each worker's watchdog thread (``touchstone.tasks``) calls ``record_worker`` on every pass with
what it is running, and ``forget_workers`` to drop the records of workers silent for long. Ages
are measured with the database's clock on both sides (``database_now``), as run heartbeats are.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models.functions import Now
from django.db.models.sql import Query

from touchstone.submissions.models import Submission, WorkerRecord

#: A worker record this long silent is deleted: the worker is gone (stopped, or its host replaced).
FORGET_AFTER_SECONDS = 3600.0


def database_now() -> datetime:
    """The database's current time (aware, UTC), read exactly as ``Now()`` writes heartbeats.

    Django's ``Now()`` is compiled for the database in use (on PostgreSQL the statement's time,
    not the transaction's, which a long transaction would leave behind).
    """
    sql, params = Query(WorkerRecord).get_compiler(connection=connection).compile(Now())
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {sql}", list(params))
        value = cursor.fetchone()[0]
    if isinstance(value, str):
        # SQLite answers with text: UTC with milliseconds.
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def stale_after_seconds() -> float:
    """How long a worker may stay silent before the status page calls it stale.

    Its watchdog writes every ``WATCHDOG_SECONDS``; three missed passes, and never less than a
    run's own heartbeat threshold, leave room for a pass slowed by a busy database.
    """
    return max(3 * settings.WATCHDOG_SECONDS, settings.HEARTBEAT_STALE_SECONDS)


def record_worker(*, name: str, hostname: str, pid: int, concurrency: int, submission_ids: list[int]) -> WorkerRecord:
    """Write the worker's record: seen now (database clock), running the current runs of ``submission_ids``.

    ``submission_ids`` are the submissions whose evaluation the worker is executing; a row it
    lost (taken over, cancelled) no longer names one of its runs and is left out.
    """
    runs = list(
        Submission.objects.filter(
            pk__in=submission_ids, status=Submission.Status.RUNNING, current_run__isnull=False
        ).values_list("current_run_id", flat=True)
    )
    fields = {"hostname": hostname, "pid": pid, "concurrency": concurrency, "current_runs": sorted(runs)}
    record, _ = WorkerRecord.objects.update_or_create(
        name=name,
        defaults={**fields, "last_seen_at": Now()},
        create_defaults={**fields, "last_seen_at": Now(), "started_at": Now()},
    )
    record.refresh_from_db()
    return record


def forget_workers(*, older_than_seconds: float = FORGET_AFTER_SECONDS) -> int:
    """Delete the records of workers silent for ``older_than_seconds``; returns how many."""
    cutoff = Now() - timedelta(seconds=older_than_seconds)
    deleted, _ = WorkerRecord.objects.filter(last_seen_at__lt=cutoff).delete()
    return deleted
