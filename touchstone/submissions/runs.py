"""Fenced evaluation runs: who may write a submission's results, and how a lost worker is noticed.

Each attempt to score a submission is an ``EvaluationRun``, and the submission's row names the
one it currently belongs to (``Submission.current_run``). Every write a run makes (progress,
heartbeat, metrics, outcomes, status) is conditional on still being that run, so a run that
lost the row changes nothing and learns that it lost. A row is lost in two ways:

- **takeover**: a running row whose heartbeat is older than ``HEARTBEAT_STALE_SECONDS`` by the
  database's clock has lost its worker (killed, or paused by SIGSTOP, a VM pause, a swap
  storm); a redelivered message or the watchdog (``requeue_stale_runs``) gives it to a new run.
  A run whose process is gone from the watchdog's own machine (``processes``) is taken over at
  the watchdog's next pass, without waiting for its heartbeat to go stale (``requeue_lost_runs``);
- **cancellation**: a freeze cancels the runs of the version still in flight (``cancel_runs``).

Heartbeats and staleness are compared with the database's clock (``Now()``) alone, so workers
whose clocks disagree never decide for one another.
"""

from __future__ import annotations

import logging
import socket
import threading
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.db.models.functions import Now
from django.utils import timezone

from touchstone.submissions.models import EvaluationRun, Submission
from touchstone.submissions.notifications import notify_finished
from touchstone.submissions.processes import machine_key, process_is_gone, process_key

logger = logging.getLogger(__name__)

LOST_MESSAGE = (
    "the evaluation was started {count} times and each time its worker stopped before it finished "
    "(killed, out of memory or restarted), so it is not started again; this counts against your quota, "
    "because a model that makes its worker fail would otherwise keep the workers busy forever. If you "
    "think the site was at fault, write to the benchmark's maintainers"
)

FROZE_MESSAGE = (
    "the version froze before this evaluation finished, so it is not on the final board; it does not count "
    "against your quota, and you can submit the model to the benchmark's next version"
)


def stale(seconds: float | None = None) -> Q:
    """Running rows whose last heartbeat is older than ``seconds`` by the database's clock.

    A row written before heartbeats existed has none; its last update stands in for it.
    """
    limit = settings.HEARTBEAT_STALE_SECONDS if seconds is None else seconds
    cutoff = Now() - timedelta(seconds=limit)
    silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, updated_at__lt=cutoff)
    return Q(status=Submission.Status.RUNNING) & silent


def start_run(submission_id: int, *, worker: str | None = None) -> EvaluationRun | None:
    """Take a queued row, or a running one whose run is lost, for a new run; None if neither
    (or if the row's runs were lost ``MAX_LOST_RUNS`` times: it then ends failed).

    A running row's run is lost when its heartbeat is stale, or when its process is gone from
    this machine (``processes``): a pool process killed mid-run, whose message Celery hands out
    again at once, is taken over by that message. One transaction: the row is locked only if it
    is free to take (of two workers, only one gets it; on PostgreSQL the second waits for the
    first and then finds the heartbeat fresh), the new run is created, and one UPDATE makes the
    row name it, which fences out the run it replaces.

    The row is written once per transaction: PostgreSQL checks every foreign key of a row that
    the same transaction already changed, and those checks' locks on the owner's and the
    version's rows met the locks an upload takes on them, a deadlock between a worker and the
    web server.
    """
    with transaction.atomic():
        free = Submission.objects.select_for_update().filter(
            Q(status=Submission.Status.QUEUED) | stale(), pk=submission_id
        )
        previous_runs = list(free.values_list("current_run_id", flat=True))
        if not previous_runs:
            lost = _lost_here(Submission.objects.filter(pk=submission_id))
            if lost:
                previous_runs = list(
                    _still_running(*lost[0]).select_for_update().values_list("current_run_id", flat=True)
                )
        if not previous_runs:
            return None
        (previous,) = previous_runs
        attempts = EvaluationRun.objects.filter(submission_id=submission_id).count()
        if previous is not None:
            EvaluationRun.objects.filter(pk=previous, outcome="").update(outcome="superseded", finished_at=Now())
            logger.warning("submission %s: run %s stopped answering; a new run takes over", submission_id, previous)
            lost = EvaluationRun.objects.filter(submission_id=submission_id, outcome="superseded").count()
            if lost >= settings.MAX_LOST_RUNS:
                Submission.objects.filter(pk=submission_id).update(**_given_up(lost), updated_at=timezone.now())
                _report_given_up(submission_id, lost)
                return None
        run = EvaluationRun.objects.create(
            submission_id=submission_id,
            attempt=attempts + 1,
            worker=worker or socket.gethostname(),
            process=process_key(),
        )
        Submission.objects.filter(pk=submission_id).update(
            status=Submission.Status.RUNNING,
            current_run=run,
            progress=0.0,
            progress_message="starting",
            heartbeat_at=Now(),
            updated_at=timezone.now(),
        )
    return run


def _lost_here(rows: QuerySet[Submission]) -> list[tuple[int, int]]:
    """(submission, run) of the running ``rows`` whose run's process is gone from this machine."""
    here = machine_key()
    if not here:
        return []
    running = rows.filter(status=Submission.Status.RUNNING, current_run__process__startswith=f"{here}/")
    return [
        (pk, run_id)
        for pk, run_id, process in list(running.values_list("pk", "current_run_id", "current_run__process"))
        if process_is_gone(process)
    ]


def _still_running(pk: int, run_id: int) -> QuerySet[Submission]:
    """The row, as long as it is still running ``run_id`` (a conditional UPDATE's filter)."""
    return Submission.objects.filter(pk=pk, status=Submission.Status.RUNNING, current_run_id=run_id)


def fenced(run: EvaluationRun) -> QuerySet[Submission]:
    """The run's submission, as long as the run is still its current run (else nothing)."""
    return Submission.objects.filter(pk=run.submission_id, current_run_id=run.pk)


def beat(run: EvaluationRun) -> bool:
    """Write the run's heartbeat with the database's clock; False once the run has lost its row."""
    return bool(fenced(run).filter(status=Submission.Status.RUNNING).update(heartbeat_at=Now()))


def report_progress(run: EvaluationRun, fraction: float, message: str) -> bool:
    """Record the run's progress (a heartbeat too); False, changing nothing, once it lost its row."""
    return bool(
        fenced(run)
        .filter(status=Submission.Status.RUNNING)
        .update(
            progress=max(0.0, min(1.0, fraction)),
            progress_message=message[:200],
            heartbeat_at=Now(),
            updated_at=timezone.now(),
        )
    )


class Heartbeat:
    """A thread that beats for a run every ``HEARTBEAT_SECONDS`` while the sandbox works.

    Used as a context manager around the evaluation. Progress callbacks beat too, but a long
    batch or a slow bootstrap can keep them quiet for longer than the staleness threshold.
    ``lost`` is set once a beat finds the run fenced out.
    """

    def __init__(self, run: EvaluationRun, *, every: float | None = None) -> None:
        self.run = run
        self.every = settings.HEARTBEAT_SECONDS if every is None else every
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-run-{run.pk}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=self.every + 30)

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self.every):
                try:
                    if not beat(self.run):
                        self.lost.set()
                        return
                except Exception:
                    # A database that restarts must not end the heartbeats of a healthy run.
                    logger.exception("the heartbeat of run %s could not be written", self.run.pk)
                    close_old_connections()
        finally:
            # The thread has its own connection; it ends with the thread.
            connection.close()


def requeue_stale_runs(*, seconds: float | None = None) -> list[int]:
    """Put every running row whose heartbeat is stale back in the queue; returns their ids.

    Each row moves with a conditional UPDATE that also clears its run, so of two watchdogs
    only one returns it, and the old run, should it wake up, is fenced out. The caller
    publishes one message per id.
    """
    due: list[int] = []
    for pk, run_id in list(Submission.objects.filter(stale(seconds)).values_list("pk", "current_run_id")):
        if _requeue(pk, run_id, stale(seconds), "its worker stopped answering"):
            due.append(pk)
    return due


def requeue_lost_runs() -> list[int]:
    """Put back in the queue every running row whose run's process is gone from this machine; their ids.

    The watchdog calls it on every pass: a worker (or a pool process) that was killed, ran out of
    memory or crashed is known to be gone at once on its own machine, so its submission need not
    wait for ``HEARTBEAT_STALE_SECONDS`` of silence. Runs of other machines are left to their
    heartbeats. As in ``requeue_stale_runs``, each row moves with a conditional UPDATE.
    """
    return [
        pk
        for pk, run_id in _lost_here(Submission.objects.all())
        if _requeue(pk, run_id, Q(status=Submission.Status.RUNNING), "its worker's process ended")
    ]


def _requeue(pk: int, run_id: int | None, condition: Q, reason: str) -> bool:
    """Move a running row back to the queue if it still matches ``condition`` and still names
    ``run_id``; the run is marked superseded. True if this call moved it.

    One conditional UPDATE, the row's only write in the transaction (see ``start_run``). An
    upload's row moves as not yet sent (``dispatched_at`` cleared) and is marked sent once its
    message is: should this process stop between the two, the unsent-upload pass sends it
    (``publish_unsent_evaluations``) rather than the lost-message check, much later. A row whose
    runs were lost ``MAX_LOST_RUNS`` times ends failed instead (``evaluation_lost``).
    """
    with transaction.atomic():
        lost = EvaluationRun.objects.filter(submission_id=pk, outcome="superseded").count() + 1
        give_up = lost >= settings.MAX_LOST_RUNS
        fields = (
            _given_up(lost)
            if give_up
            else {
                "status": Submission.Status.QUEUED,
                "current_run": None,
                "dispatched_at": Case(
                    When(origin=Submission.Origin.UPLOAD, then=Value(None)), default=F("dispatched_at")
                ),
                "progress_message": f"requeued after {reason}",
            }
        )
        moved = Submission.objects.filter(condition, pk=pk, current_run_id=run_id).update(
            **fields, updated_at=timezone.now()
        )
        if not moved:
            return False
        if run_id is not None:
            EvaluationRun.objects.filter(pk=run_id, outcome="").update(outcome="superseded", finished_at=Now())
        logger.warning(
            "submission %s: run %s lost (%s); %s", pk, run_id, reason, "given up" if give_up else "queued again"
        )
        if give_up:
            _report_given_up(pk, lost)
            return False
    return True


def _given_up(lost: int) -> dict:
    """The fields of a row not started again after ``lost`` lost runs."""
    return {
        "status": Submission.Status.FAILED,
        "current_run": None,
        "error_code": "evaluation_lost",
        "error_message": LOST_MESSAGE.format(count=lost),
        "progress_message": "",
        "counts_against_quota": True,
    }


def _report_given_up(pk: int, lost: int) -> None:
    logger.error("submission %s: %s runs lost; not started again", pk, lost)
    # The researcher hears of it as of any other failure, if they asked to.
    transaction.on_commit(partial(notify_finished, pk))


def cancel_runs(*, version_id: int, message: str = FROZE_MESSAGE) -> list[int]:
    """Cancel every queued or running evaluation of a version; returns the submissions' ids.

    Called once the version froze: the runs lose their rows (so nothing they write later
    counts), the rows end ``failed`` with ``error_code`` ``version_frozen`` and do not count
    against the quota.
    """
    in_flight = Submission.objects.filter(
        version_id=version_id, status__in=[Submission.Status.QUEUED, Submission.Status.RUNNING]
    )
    cancelled: list[int] = []
    for pk, run_id in list(in_flight.values_list("pk", "current_run_id")):
        with transaction.atomic():
            moved = in_flight.filter(pk=pk).update(
                status=Submission.Status.FAILED,
                current_run=None,
                error_code="version_frozen",
                error_message=message,
                progress_message="cancelled",
                counts_against_quota=False,
                updated_at=timezone.now(),
            )
            if moved and run_id is not None:
                EvaluationRun.objects.filter(pk=run_id, outcome="").update(
                    outcome="cancelled", error_code="version_frozen", finished_at=Now()
                )
        if moved:
            cancelled.append(pk)
    return cancelled
