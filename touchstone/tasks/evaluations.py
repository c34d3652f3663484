"""Evaluations and leaderboard recomputes: sending their messages, and the tasks that run them.

Every message is published once its transaction commits, so a worker never looks for a row
that is not there yet, and a broker that is down loses nothing: the rows wait in the database
and the periodic passes (``touchstone.tasks.periodic``) send what was not sent.
"""

from __future__ import annotations

import logging
from functools import partial

from celery import shared_task
from django.conf import settings
from django.db import OperationalError, transaction
from kombu.exceptions import KombuError

from touchstone.rankings.services import leaderboard_is_stale, refresh_leaderboard
from touchstone.submissions.health import probe_and_record
from touchstone.submissions.models import Submission
from touchstone.submissions.notifications import notify_finished
from touchstone.submissions.queueing import (
    defer_if_uploads_wait,
    mark_published,
    mark_unpublished,
    next_background,
    release_background,
)
from touchstone.submissions.scoring import score_submission

# Every module of the package logs under one name, the one operators already filter on.
logger = logging.getLogger("touchstone.tasks")


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


# A database error before the row is taken (a deadlock, a restarting server) would otherwise
# leave a queued row without a message until the lost-message check; the task is sent again,
# a few seconds later, up to five times (a row taken meanwhile makes the new message a no-op).
@shared_task(
    name="touchstone.tasks.evaluate_submission",
    acks_late=True,
    time_limit=settings.EVALUATION_TIME_LIMIT_SECONDS,
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=5,
)
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
