"""Celery tasks for submissions: thin wrappers that pass ids to the scoring code."""

from __future__ import annotations

from functools import partial

from celery import shared_task
from django.conf import settings
from django.db import transaction

from touchstone.submissions.health import probe_and_record
from touchstone.submissions.models import Submission
from touchstone.submissions.scoring import requeue_stalled, score_submission


@shared_task(name="touchstone.submissions.tasks.evaluate_submission", acks_late=True)
def evaluate_submission(submission_id: int) -> str:
    status = score_submission(submission_id=submission_id)
    if Submission.objects.filter(pk=submission_id, error_code="sandbox_unavailable").exists():
        # The sandbox failed before the model was opened: check it with a known-good model,
        # so maintainers and every page learn whether the sandbox itself is broken.
        probe_and_record()
    return status


@shared_task(name="touchstone.submissions.tasks.requeue_stalled_submissions")
def requeue_stalled_submissions() -> list[int]:
    # A live run updates its row at every progress step; twice the deadline means its worker is
    # gone. A queued row only waits for the runs ahead of it, but its message can be lost with
    # a worker that died holding it; a second message is harmless, because only one claims.
    due = requeue_stalled(
        running_for_seconds=2 * settings.SANDBOX_WALL_SECONDS + 60,
        queued_for_seconds=settings.REQUEUE_QUEUED_SECONDS,
    )
    for pk in due:
        transaction.on_commit(partial(evaluate_submission.delay, pk))
    return due


@shared_task(name="touchstone.submissions.tasks.check_sandbox_health")
def check_sandbox_health() -> bool:
    return probe_and_record().ok
