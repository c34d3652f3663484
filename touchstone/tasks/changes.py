"""Changes made by people and by the domain apps' signals whose follow-up work is queued here."""

from __future__ import annotations

from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.benchmarks.signals import version_published
from touchstone.rankings.reevaluation import create_reevaluations
from touchstone.submissions.models import Submission
from touchstone.submissions.services import restore_submission, withdraw_submission
from touchstone.tasks.evaluations import queue_background, queue_recompute


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
