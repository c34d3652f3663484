"""The background queue: re-evaluations and pinned baselines run only when no upload waits.

A researcher's upload is handed to the workers at once (``touchstone.tasks.queue_evaluation``).
Background work is not: its rows wait in the database, queued and not yet dispatched, and the
dispatcher (``dispatch_background``, called by ``touchstone.tasks`` after a publication, after
every evaluation and by the periodic sweep) hands them out one at a time, and only while no
upload is queued. A worker that takes a background row's message while an upload is queued
puts it back (``defer_if_uploads_wait``) instead of starting it.

The guarantee, with one worker or several: **no background evaluation starts while an upload
is queued.** An upload that arrives while one runs waits at most for that one run, never for
the rest of the background queue. At most ``BACKGROUND_CONCURRENCY`` background rows are out
with the workers at once, so uploads always find most workers free.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from touchstone.submissions.models import Submission


def _uploads() -> Q:
    return Q(origin=Submission.Origin.UPLOAD)


def uploads_waiting() -> int:
    """Uploads queued (not yet claimed by a worker), on any version."""
    return Submission.objects.filter(_uploads(), status=Submission.Status.QUEUED).count()


def background_in_flight() -> int:
    """Background rows handed to the workers and not finished: dispatched and queued, or running."""
    dispatched = Q(status=Submission.Status.QUEUED, dispatched_at__isnull=False)
    return Submission.objects.exclude(_uploads()).filter(dispatched | Q(status=Submission.Status.RUNNING)).count()


def background_waiting() -> int:
    """Background rows still in the database queue."""
    return Submission.objects.exclude(_uploads()).filter(status=Submission.Status.QUEUED).count()


def next_background(*, limit: int | None = None) -> list[int]:
    """Mark the next background rows dispatched and return their ids; none while an upload waits.

    Oldest first. Each row moves with a conditional UPDATE, so two dispatchers at once never
    hand out the same row; the caller publishes one message per id once this commits.
    """
    allowed = settings.BACKGROUND_CONCURRENCY if limit is None else limit
    with transaction.atomic():
        if uploads_waiting():
            return []
        free = allowed - background_in_flight()
        if free <= 0:
            return []
        waiting = (
            Submission.objects.exclude(_uploads())
            .filter(status=Submission.Status.QUEUED, dispatched_at__isnull=True)
            .order_by("created_at", "pk")
        )
        handed: list[int] = []
        for pk in waiting.values_list("pk", flat=True)[: free * 2]:
            if len(handed) == free:
                break
            if waiting.filter(pk=pk).update(dispatched_at=timezone.now(), updated_at=timezone.now()):
                handed.append(pk)
        return handed


def release_background(submission_ids: list[int]) -> int:
    """Put handed-out background rows back in the database queue (their message was never sent).

    Only rows still queued move; the dispatcher hands them out again on its next pass.
    """
    background = Submission.objects.exclude(_uploads()).filter(pk__in=submission_ids, status=Submission.Status.QUEUED)
    return background.update(dispatched_at=None, updated_at=timezone.now())


def defer_if_uploads_wait(submission_id: int) -> bool:
    """Put a dispatched background row back in the database queue if an upload is queued.

    Called by the worker before it claims a row; True if the row went back (the dispatcher
    hands it out again once the uploads have run). Uploads are never deferred.
    """
    if not uploads_waiting():
        return False
    background = Submission.objects.exclude(_uploads()).filter(pk=submission_id, status=Submission.Status.QUEUED)
    return bool(background.update(dispatched_at=None, updated_at=timezone.now()))


def queue_note(submission: Submission) -> str | None:
    """What a queued background row is waiting for, in one sentence; None for anything else.

    For example "re-evaluation of #12 from digits 1.0.0, queued behind 2 uploads".
    """
    if not submission.is_background or submission.status != Submission.Status.QUEUED:
        return None
    if submission.origin == Submission.Origin.REEVALUATION and submission.reevaluation_of is not None:
        origin = submission.reevaluation_of
        what = f"re-evaluation of #{origin.pk} from {origin.version}"
    else:
        what = f"pinned baseline {submission.model_name}"
    ahead = uploads_waiting()
    if ahead:
        return f"{what}, queued behind {ahead} upload{'s' if ahead != 1 else ''}"
    if submission.dispatched_at is None:
        return f"{what}, queued behind earlier re-evaluations"
    return f"{what}, next to run"


# Uploads: accepted whatever the broker says ------------------------------------------------
#
# An upload's row is committed before its message is sent. ``dispatched_at`` on an upload is
# the time its message reached the broker; a queued upload without it was accepted while the
# broker was down (or its process stopped between the commit and the send), and the periodic
# pass (``touchstone.tasks.publish_unsent_evaluations``) sends it.

WAITING_FOR_QUEUE = "waiting for the queue: the upload is stored and will be evaluated once the workers can be reached"


def mark_published(submission_id: int) -> None:
    """Record that an upload's evaluation message reached the broker."""
    now = timezone.now()
    uploads = Submission.objects.filter(_uploads(), pk=submission_id)
    uploads.filter(progress_message=WAITING_FOR_QUEUE, status=Submission.Status.QUEUED).update(progress_message="")
    # For a queued row ``updated_at`` is when its message was last published (the sweep's
    # measure of a lost message); a row a worker already claimed keeps its own.
    uploads.filter(status=Submission.Status.QUEUED).update(dispatched_at=now, updated_at=now)
    uploads.exclude(status=Submission.Status.QUEUED).update(dispatched_at=now)


def mark_unpublished(submission_id: int) -> None:
    """Record that a queued upload's message could not be sent; it says so until it is."""
    Submission.objects.filter(_uploads(), pk=submission_id, status=Submission.Status.QUEUED).update(
        dispatched_at=None, progress_message=WAITING_FOR_QUEUE
    )


def unpublished_uploads(*, older_than_seconds: float) -> list[int]:
    """Queued uploads whose message was never sent, oldest first.

    Rows changed less than ``older_than_seconds`` ago are left to whoever queued them (the request
    that accepted the upload, or the watchdog that took over its lost run), which sends the message
    right after its commit; a second message would be harmless (only one claims the row) but is
    not needed.
    """
    before = timezone.now() - timedelta(seconds=older_than_seconds)
    rows = Submission.objects.filter(
        _uploads(), status=Submission.Status.QUEUED, dispatched_at__isnull=True, updated_at__lt=before
    )
    return list(rows.order_by("created_at", "pk").values_list("pk", flat=True))


def queue_place(submission: Submission) -> tuple[int, int] | None:
    """(position, submissions ahead) of a queued submission; None once it has left the queue.

    Uploads are taken oldest first, so an upload waits for the queued uploads created before it;
    a background row also waits for every queued upload and for the background rows before it.
    Rows already running are not counted: they hold a worker, not a place in the queue.
    """
    if submission.status != Submission.Status.QUEUED:
        return None
    queued = Submission.objects.filter(status=Submission.Status.QUEUED).exclude(pk=submission.pk)
    earlier = Q(created_at__lt=submission.created_at) | Q(created_at=submission.created_at, pk__lt=submission.pk)
    if submission.is_background:
        ahead = queued.filter(_uploads()).count() + queued.exclude(_uploads()).filter(earlier).count()
    else:
        ahead = queued.filter(_uploads()).filter(earlier).count()
    return ahead + 1, ahead
