"""What the site runs in the background, and the only code that queues it.

Views, admin actions and management commands call the functions here when what they do has
follow-up work (an upload to evaluate, a board to recompute); domain code (``services``,
``scoring``, ``boards``) only changes rows and reports what it did, and never queues anything.
Every message is published once its transaction commits, so a worker never looks for a row
that is not there yet.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from functools import partial

from celery import shared_task
from celery.signals import worker_ready
from celery.worker import state as worker_state
from django import db
from django.conf import settings
from django.db import transaction
from kombu.exceptions import KombuError

from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.benchmarks.signals import version_published
from touchstone.rankings.reevaluation import create_reevaluations, versions_missing_reevaluations
from touchstone.rankings.services import leaderboard_is_stale, refresh_leaderboard, stale_version_ids
from touchstone.submissions.baseline_checks import baselines_due, check_baseline
from touchstone.submissions.health import latest_health, probe_and_record
from touchstone.submissions.janitor import clean_orphan_uploads
from touchstone.submissions.models import Submission
from touchstone.submissions.notifications import notify_finished
from touchstone.submissions.queueing import (
    defer_if_uploads_wait,
    mark_published,
    mark_unpublished,
    next_background,
    release_background,
    unpublished_uploads,
    uploads_waiting,
)
from touchstone.submissions.runs import requeue_stale_runs
from touchstone.submissions.scoring import requeue_stalled, score_submission
from touchstone.submissions.services import restore_submission, withdraw_submission
from touchstone.submissions.workers import forget_workers, record_worker

logger = logging.getLogger(__name__)


def queue_evaluation(submission_id: int) -> None:
    """Queue the evaluation of a submission once the current transaction commits.

    Whoever accepted the upload (``submit_model``) calls it next: the API, the upload page and
    ``setup_site``. The upload is accepted whether or not the broker answers: a message that
    could not be sent is sent later by ``publish_unsent_evaluations``.
    """
    transaction.on_commit(partial(publish_evaluation, submission_id))


def publish_evaluation(submission_id: int, *, priority: int | None = None) -> bool:
    """Send the evaluation message of a queued submission now; False if the broker refused it.

    The row is committed before this runs, so a broker that is down costs the researcher
    nothing but time: the row stays queued, says it is waiting for the queue, and the periodic
    pass sends its message once the broker is back. Nothing is deleted here. ``priority``
    overrides ``CELERY_TASK_DEFAULT_PRIORITY`` (``RECOVERY_PRIORITY`` for a recovered run).
    """
    try:
        if priority is None:
            evaluate_submission.delay(submission_id)
        else:
            evaluate_submission.apply_async((submission_id,), priority=priority)
    except (KombuError, OSError) as error:
        logger.warning(
            "the broker did not take the evaluation of submission %s (%s: %s); it stays queued and is "
            "sent again by the next publish_unsent_evaluations pass",
            submission_id,
            type(error).__name__,
            error,
        )
        mark_unpublished(submission_id)
        return False
    mark_published(submission_id)
    return True


RECOVERY_PRIORITY = 0
"""The priority of a run taken over from a lost worker; every other message has
``CELERY_TASK_DEFAULT_PRIORITY``. Redis serves 0 first, so the submission goes ahead of the
uploads queued behind it while its worker was dying; the filesystem broker ignores priorities."""


def queue_recovered_evaluation(submission_id: int) -> None:
    """Queue again, ahead of the queue, a submission whose run was lost with its worker."""
    transaction.on_commit(partial(publish_evaluation, submission_id, priority=RECOVERY_PRIORITY))


def queue_background() -> None:
    """Hand the next background rows to the workers once the current transaction commits.

    Re-evaluations and pinned baselines wait in the database and go out only while no upload
    is queued (``touchstone.submissions.queueing``); calling this when nothing may go out costs
    two reads.
    """
    transaction.on_commit(dispatch_background)


def dispatch_background() -> list[int]:
    """Publish the evaluation of the background rows that may run now; returns their ids."""
    handed = next_background()
    for index, pk in enumerate(handed):
        try:
            evaluate_submission.delay(pk)
        except (KombuError, OSError) as error:
            # The rows not sent go back to the database queue, so the next pass (the watchdog's,
            # the sweep's, the next upload's) hands them out again once the broker answers.
            release_background(handed[index:])
            logger.warning(
                "the broker did not take background evaluations %s (%s); they wait in the database queue",
                handed[index:],
                type(error).__name__,
            )
            return handed[:index]
    return handed


def reevaluate_on_publish(sender, *, version: BenchmarkVersion, previous: BenchmarkVersion | None, **kwargs) -> None:
    """Re-evaluate the superseded version's entries and pinned baselines on the new version.

    Connected to ``version_published`` by the front app's ``ready``. The rows are created
    idempotently, so a signal sent twice adds nothing; they are then dispatched behind uploads.
    """
    created = create_reevaluations(version=version, previous=previous)
    if created:
        queue_background()


def connect_signals() -> None:
    """Connect the receivers of the domain apps' signals (once, whatever calls it twice)."""
    version_published.connect(reevaluate_on_publish, dispatch_uid="touchstone.tasks.reevaluate_on_publish")


def queue_recompute(version_id: int) -> None:
    """Queue a recompute of a version's leaderboard once the current transaction commits.

    The change that calls for it is committed first, so a broker that is down loses nothing: the
    version's board is then older than its generation, and the watchdog's and the periodic pass's
    stale-board check recompute it once the broker answers.
    """
    transaction.on_commit(partial(_send_recompute, version_id))


def _send_recompute(version_id: int) -> None:
    try:
        recompute_leaderboard.delay(version_id)
    except (KombuError, OSError) as error:
        logger.warning(
            "the broker did not take the recompute of version %s (%s); the stale-board pass recomputes it later",
            version_id,
            type(error).__name__,
        )


def withdraw(submission: Submission) -> Submission:
    """Withdraw a submission and queue its version's recompute.

    A recompute that finds nothing changed (the submission was not on the board) costs one read.
    """
    withdrawn = withdraw_submission(submission=submission)
    queue_recompute(withdrawn.version_id)
    return withdrawn


def restore(submission: Submission) -> Submission:
    """Undo a submission's withdrawal and queue its version's recompute."""
    restored = restore_submission(submission=submission)
    queue_recompute(restored.version_id)
    return restored


@shared_task(name="touchstone.tasks.evaluate_submission", acks_late=True)
def evaluate_submission(submission_id: int) -> str:
    """Score one submission, then queue what its outcome calls for; returns the outcome.

    A background row (a re-evaluation, a pinned baseline) met while an upload is queued goes
    back to the database queue ("deferred") and is handed out again once the uploads have run.
    """
    if defer_if_uploads_wait(submission_id):
        return "deferred"
    status = score_submission(submission_id=submission_id)
    # Whatever the outcome, a worker is free: the background queue may go on.
    dispatch_background()
    submission = Submission.objects.only("version_id", "error_code").get(pk=submission_id)
    if status in {Submission.Status.SCORED, Submission.Status.FAILED}:
        # Only to researchers who asked for it; a failed mail never fails the run.
        notify_finished(submission_id)
    if status == Submission.Status.SCORED:
        queue_recompute(submission.version_id)
    elif status == Submission.Status.FAILED and submission.error_code == "sandbox_unavailable":
        # The sandbox failed before the model was opened: check it with a known-good model,
        # so maintainers and every page learn whether the sandbox itself is broken.
        probe_and_record()
    return status


@shared_task(name="touchstone.tasks.recompute_leaderboard", acks_late=True)
def recompute_leaderboard(version_id: int) -> bool:
    """Recompute unless the stored board is current; True if a board was computed.

    Every change queues one of these, so a burst of results queues many: the first computes
    from everything recorded so far and the rest find the board current and return at once.
    """
    computed = refresh_leaderboard(version_id=version_id)
    if leaderboard_is_stale(version_id=version_id):
        # Results arrived while this one computed. Their own recomputes were queued with them;
        # one more costs a single read if those have caught up already, and keeps the stored
        # board from staying behind if one of their messages was lost.
        _send_recompute(version_id)
    return computed


@shared_task(name="touchstone.tasks.requeue_stalled_submissions")
def requeue_stalled_submissions() -> list[int]:
    """Publish again the evaluation of every submission whose worker or message was lost."""
    # A live run writes a heartbeat every few seconds; one silent past the threshold (by the
    # database's clock) lost its worker and is fenced out. A queued row only waits for the runs
    # ahead of it, but its message can be lost with a worker that died holding it; a second
    # message is harmless, because only one run takes the row.
    recovered = requeue_stale_runs(seconds=settings.HEARTBEAT_STALE_SECONDS)
    for pk in recovered:
        queue_recovered_evaluation(pk)
    due = requeue_stalled(
        running_for_seconds=settings.HEARTBEAT_STALE_SECONDS,
        queued_for_seconds=settings.REQUEUE_QUEUED_SECONDS,
    )
    for pk in due:
        queue_evaluation(pk)
    # A publication whose re-evaluations were never created (the process stopped right after
    # the commit) gets them here, and a dispatch lost with a worker is made again.
    for version, previous in versions_missing_reevaluations():
        create_reevaluations(version=version, previous=previous)
    dispatch_background()
    return recovered + due


@shared_task(name="touchstone.tasks.refresh_stale_leaderboards")
def refresh_stale_leaderboards() -> list[int]:
    """Queue a recompute for every version whose stored board is behind; returns their ids.

    Each change queues its own recompute, so this finds work only when a message was lost with
    a worker, or when an upgrade of the site marked boards stale (its migration bumps the
    versions' generation); either way the board catches up within one sweep.
    """
    stale = stale_version_ids()
    for pk in stale:
        queue_recompute(pk)
    return stale


def watchdog_pass() -> None:
    """What every worker checks on its own, beat or no beat: runs whose worker stopped answering
    (and messages lost with it), uploads accepted while the broker was down, and boards left
    behind by a lost recompute message."""
    requeue_stalled_submissions()
    publish_unsent_evaluations()
    refresh_stale_leaderboards()


def running_submission_ids() -> list[int]:
    """The submissions whose evaluation this worker process is executing now (Celery's own count)."""
    ids = []
    for request in list(worker_state.active_requests):
        if request.task_name == evaluate_submission.name and request.args:
            ids.append(int(request.args[0]))
    return ids


def record_this_worker(*, name: str, concurrency: int) -> None:
    """Write this worker's record for the status page, and forget workers silent for long."""
    record_worker(
        name=name,
        hostname=socket.gethostname(),
        pid=os.getpid(),
        concurrency=concurrency,
        submission_ids=running_submission_ids(),
    )
    forget_workers()


def first_sandbox_probe() -> None:
    """Probe the sandbox once when no probe is recorded yet, so ``/healthz`` need not wait for beat."""
    try:
        if latest_health() is None:
            probe_and_record()
    except Exception:
        logger.exception("the first sandbox probe could not run")


def _watchdog_loop(every: float, identity: dict | None = None) -> None:
    first_sandbox_probe()
    while True:
        if identity is not None:
            try:
                record_this_worker(**identity)
            except Exception:
                logger.exception("the worker's record could not be written")
        time.sleep(every)
        try:
            watchdog_pass()
        except Exception:
            # The database or the broker may be restarting; the next pass tries again.
            logger.exception("the watchdog's pass failed")
        finally:
            db.connection.close()


@worker_ready.connect(dispatch_uid="touchstone.tasks.start_watchdog")
def start_watchdog(sender=None, **kwargs) -> None:
    """Start the worker's watchdog thread (in the worker's main process, so a pool child that
    dies does not take it along); ``WATCHDOG_SECONDS`` = 0 leaves it off."""
    every = settings.WATCHDOG_SECONDS
    if every > 0:
        # Several workers may share a host and a node name: the process id tells them apart.
        node = getattr(sender, "hostname", None) or f"celery@{socket.gethostname()}"
        controller = getattr(sender, "controller", None)
        identity = {
            "name": f"{node} (pid {os.getpid()})",
            "concurrency": int(getattr(controller, "concurrency", None) or 1),
        }
        threading.Thread(target=_watchdog_loop, args=(every, identity), name="touchstone-watchdog", daemon=True).start()
        logger.info(
            "watchdog started: every %.0f s, runs silent for %.0f s are taken over",
            every,
            settings.HEARTBEAT_STALE_SECONDS,
        )


@shared_task(name="touchstone.tasks.check_sandbox_health")
def check_sandbox_health() -> bool:
    """Probe the sandbox with a known-good model and record the outcome for every page."""
    return probe_and_record().ok


@shared_task(name="touchstone.tasks.check_baselines")
def check_baselines() -> list[int]:
    """Queue a check of every pinned baseline last scored by another evaluator version.

    Run by the periodic sweep, so an upgrade of the evaluator re-runs the baselines within one
    sweep with no manual step; ``manage.py check_baselines`` does the same at once.
    """
    due = baselines_due()
    for pk in due:
        check_pinned_baseline.delay(pk)
    return due


@shared_task(name="touchstone.tasks.check_pinned_baseline", acks_late=True)
def check_pinned_baseline(submission_id: int) -> str:
    """Score one baseline again under this evaluator and record whether it moved; uploads first."""
    if uploads_waiting():
        # The next sweep asks again: a check never keeps a researcher's upload waiting.
        return "deferred"
    check = check_baseline(submission_id)
    if check is None:
        return "not due"
    return "flagged" if check.flagged else "unchanged"


@shared_task(name="touchstone.tasks.publish_unsent_evaluations")
def publish_unsent_evaluations() -> list[int]:
    """Send the message of every queued upload whose message never reached the broker; their ids.

    An upload accepted while the broker was down is committed with no message sent. This pass
    (a periodic task, every ``TOUCHSTONE_PUBLISH_SECONDS``) sends them oldest first, and stops at
    the first refusal: the broker is still down and the next pass tries again.
    """
    sent: list[int] = []
    for pk in unpublished_uploads(older_than_seconds=settings.UNSENT_GRACE_SECONDS):
        if not publish_evaluation(pk):
            break
        sent.append(pk)
    return sent


@shared_task(name="touchstone.tasks.clean_uploads")
def clean_uploads() -> list[str]:
    """Remove orphan upload folders and stale temporary upload files; their paths."""
    return [str(path) for path in clean_orphan_uploads()]


def broker_problem(*, timeout: float = 2.0) -> str | None:
    """Why the broker cannot take a message now, in one sentence; None if it can.

    For ``/healthz``: one connection attempt, no retries, so that a broker that is down costs the
    check ``timeout`` seconds at most.
    """
    app = evaluate_submission.app
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
    except (KombuError, OSError) as error:
        # The reason stays in the workers' and web server's logs: this answer is public.
        return f"the broker does not answer ({type(error).__name__})"
    if app.conf.broker_url.startswith("filesystem"):
        # The embedded broker "connects" to anything: what matters is its folder.
        folder = settings.BROKER_DIR / "queue"
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            return "the embedded broker's queue folder is missing or not writable"
    return None
