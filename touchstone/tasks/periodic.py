"""The periodic tasks: passes that catch up with lost workers and messages, and upkeep.

Celery beat runs them on the schedule in ``CELERY_BEAT_SCHEDULE``. Every worker's watchdog
(``touchstone.tasks.watchdog``) also runs ``requeue_stalled_submissions``,
``publish_unsent_evaluations`` and ``refresh_stale_leaderboards`` itself, beat or no beat.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from touchstone.rankings.reevaluation import create_reevaluations, versions_missing_reevaluations
from touchstone.rankings.services import stale_version_ids
from touchstone.submissions.baseline_checks import baselines_due, check_baseline
from touchstone.submissions.health import probe_and_record
from touchstone.submissions.janitor import clean_orphan_uploads
from touchstone.submissions.queueing import unpublished_uploads, uploads_waiting
from touchstone.submissions.runs import requeue_lost_runs, requeue_stale_runs
from touchstone.submissions.scoring import requeue_stalled
from touchstone.tasks.evaluations import (
    dispatch_background,
    publish_evaluation,
    queue_evaluation,
    queue_recompute,
    queue_recovered_evaluation,
)


@shared_task(name="touchstone.tasks.requeue_stalled_submissions")
def requeue_stalled_submissions() -> list[int]:
    """Publish again the evaluation of every submission whose worker or message was lost."""
    # A live run writes a heartbeat every few seconds; one silent past the threshold (by the
    # database's clock) lost its worker and is fenced out. A queued row only waits for the runs
    # ahead of it, but its message can be lost with a worker that died holding it; a second
    # message is harmless, because only one run takes the row.
    # A run whose process is gone from this machine is known lost at once; others wait for
    # their heartbeat to go stale.
    recovered = requeue_lost_runs() + requeue_stale_runs(seconds=settings.HEARTBEAT_STALE_SECONDS)
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
