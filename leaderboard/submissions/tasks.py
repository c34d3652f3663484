"""Celery tasks for submissions: thin wrappers that pass ids to the scoring code."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from leaderboard.submissions.scoring import requeue_stalled, score_submission


@shared_task(name="leaderboard.submissions.tasks.evaluate_submission", acks_late=True)
def evaluate_submission(submission_id: int) -> str:
    return score_submission(submission_id=submission_id)


@shared_task(name="leaderboard.submissions.tasks.requeue_stalled_submissions")
def requeue_stalled_submissions() -> list[int]:
    # A live run updates its row at every progress step; twice the deadline means its worker is gone.
    return requeue_stalled(older_than_seconds=2 * settings.SANDBOX_WALL_SECONDS + 60)
