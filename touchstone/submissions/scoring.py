"""The worker's side of a submission: run the evaluation and record the outcome.

This is the only bridge between the database and ``evaluation/``.
"""

from __future__ import annotations

import logging
import socket
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from evaluation.errors import EvaluationError
from evaluation.parts import hidden_parts
from evaluation.perturbed import PerturbedSuite, suite_root
from evaluation.public import EvaluationData
from evaluation.runner import EvaluationReport, evaluate_model, preflight_slice
from evaluation.spec import BenchmarkFolder, load_benchmark
from evaluation.suite import SuitePlan, plan_suite
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.storage import private_path
from touchstone.submissions.limits import sandbox_limits
from touchstone.submissions.models import EvaluationRun, MetricResult, Submission
from touchstone.submissions.outcomes import save_outcomes
from touchstone.submissions.provenance import predictions_key

logger = logging.getLogger(__name__)


def score_submission(*, submission_id: int) -> str:
    """Claim, evaluate and record one submission; returns the final status (or "skipped")."""
    submission = Submission.objects.select_related("version__benchmark").get(pk=submission_id)
    if not submission.claim():
        logger.info("submission %s is %s; nothing to do", submission_id, submission.status)
        return "skipped"
    run = EvaluationRun.objects.create(
        submission=submission, attempt=submission.runs.count() + 1, worker=socket.gethostname()
    )
    if submission.version.is_deprecated:
        # Queued before its version was deprecated: a deprecated version takes no new scores.
        return _record_failure(
            submission,
            run,
            code="version_deprecated",
            message=f"{submission.version} was deprecated before this submission was evaluated; submit it to "
            "the benchmark's latest version (this does not count against your quota)",
            infrastructure=True,
        )
    try:
        report = run_evaluation(submission, progress=submission.report_progress)
    except EvaluationError as error:
        if error.private_detail:
            logger.warning("submission %s failed with %s: %s", submission_id, error.code, error.private_detail)
        return _record_failure(
            submission, run, code=error.code, message=str(error), infrastructure=error.infrastructure
        )
    except Exception:
        logger.exception("evaluating submission %s failed unexpectedly", submission_id)
        return _record_failure(
            submission,
            run,
            code="internal_error",
            message="the evaluation failed because of an error on the site; it does not count against "
            "your quota, and the maintainers have the details",
            infrastructure=True,
        )
    try:
        return _record_success(submission, run, report)
    except Exception:
        # Whatever went wrong, the row must not stay "running" (the sweep would run the model
        # again and again). Every field kept from the model was checked in the sandbox layer,
        # so this is the site's failure.
        logger.exception("recording the result of submission %s failed", submission_id)
        return _record_failure(
            submission,
            run,
            code="internal_error",
            message="the result could not be recorded because of an error on the site; it does not count "
            "against your quota, and the maintainers have the details",
            infrastructure=True,
        )


def run_evaluation(submission: Submission, *, progress) -> EvaluationReport:
    """Evaluate the submission's model on its version's hidden split with the site's settings.

    Raises ``EvaluationError``; writes nothing (the caller records the report).
    """
    benchmark = load_benchmark(submission.version.folder)
    dataset = EvaluationData.from_folder(benchmark, "test")
    preflight = preflight_slice(benchmark.load_split("dev").inputs, settings.EVALUATION_BATCH_SIZE)
    parts = hidden_parts(
        dataset.data.item_ids,
        content_hash=dataset.content_hash,
        fraction=dataset.spec.feedback_fraction,
        clusters=dataset.data.metadata.get("cluster"),
    )
    return evaluate_model(
        private_path(submission.model_path),
        dataset,
        limits=sandbox_limits(),
        allow_unsandboxed=settings.ALLOW_UNSANDBOXED_MODELS,
        batch_size=settings.EVALUATION_BATCH_SIZE,
        n_resamples=settings.BOOTSTRAP_RESAMPLES,
        max_upload_bytes=settings.MAX_UPLOAD_BYTES,
        parts=parts,
        progress=progress,
        predictions_key=predictions_key(),
        preflight_inputs=preflight,
        secret_inputs=True,
        suite=stored_suite(benchmark, dataset),
    )


def stored_suite(benchmark: BenchmarkFolder, dataset: EvaluationData) -> SuitePlan | None:
    """The version's suite on its hidden split, from the stored corrupted copies (made once, at publish)."""
    if not settings.EVALUATION_SUITE:
        return None
    return version_suite(benchmark, dataset)


def version_suite(benchmark: BenchmarkFolder, dataset: EvaluationData) -> SuitePlan | None:
    """The suite the version's spec declares on ``dataset``'s split, whatever ``EVALUATION_SUITE`` says
    (a reproduction runs it exactly when the original run did); ``None`` when it declares none."""
    if not benchmark.spec.perturbations:
        return None
    stored = PerturbedSuite.ensure(suite_root(benchmark.path), benchmark, dataset.split)
    return plan_suite(
        benchmark.spec, stored.conditions, stored.load, content_hash=benchmark.content_hash, split=dataset.split
    )


def _record_success(submission: Submission, run: EvaluationRun, report: EvaluationReport) -> str:
    outcomes_path = save_outcomes(submission, report)
    with transaction.atomic():
        for part, metrics in report.metrics.items():
            for name, interval in metrics.items():
                MetricResult.objects.update_or_create(
                    submission=submission,
                    part=part,
                    condition="clean",
                    metric=name,
                    defaults=interval.to_dict(),
                )
        EvaluationRun.objects.filter(pk=run.pk).update(
            finished_at=timezone.now(),
            outcome="scored",
            provenance=report.provenance,
            private_record=report.private_record,
            outcomes_path=outcomes_path,
        )
        # Conditional: a submission withdrawn while it ran stays withdrawn.
        updated = Submission.objects.filter(pk=submission.pk, status=Submission.Status.RUNNING).update(
            status=Submission.Status.SCORED,
            progress=1.0,
            progress_message="scored",
            scored_at=timezone.now(),
            updated_at=timezone.now(),
        )
        if updated:
            BenchmarkVersion.objects.filter(pk=submission.version_id).mark_leaderboard_stale()
    return Submission.Status.SCORED if updated else "withdrawn"


def _record_failure(
    submission: Submission, run: EvaluationRun, *, code: str, message: str, infrastructure: bool
) -> str:
    with transaction.atomic():
        EvaluationRun.objects.filter(pk=run.pk).update(finished_at=timezone.now(), outcome="failed", error_code=code)
        Submission.objects.filter(pk=submission.pk, status=Submission.Status.RUNNING).update(
            status=Submission.Status.FAILED,
            error_code=code,
            error_message=message[:4000],
            progress_message="failed",
            counts_against_quota=not infrastructure,
            updated_at=timezone.now(),
        )
    return Submission.Status.FAILED


def requeue_stalled(*, running_for_seconds: float, queued_for_seconds: float) -> list[int]:
    """Find submissions whose evaluation message must be published again; returns their ids.

    A ``running`` row not updated for ``running_for_seconds`` lost its worker: it goes back to
    ``queued``. A ``queued`` row whose message was published ``queued_for_seconds`` ago may have
    lost it (a worker that died holding it, a file set aside as unreadable): it is marked as
    published now. For a queued row ``updated_at`` is the time its message was last published.
    Each row changes with a conditional UPDATE, so of two sweeps running at once only one
    returns it; the caller publishes one message per id, and a message for a row that is no
    longer queued finds nothing to claim.
    """
    now = timezone.now()
    due: list[int] = []
    stalled = Submission.objects.filter(
        status=Submission.Status.RUNNING, updated_at__lt=now - timedelta(seconds=running_for_seconds)
    )
    for pk in list(stalled.values_list("pk", flat=True)):
        if stalled.filter(pk=pk).update(
            status=Submission.Status.QUEUED, progress_message="requeued after a worker stopped", updated_at=now
        ):
            due.append(pk)
    # Background rows still in the database queue have no message to lose: the dispatcher
    # hands them out (``queueing``).
    waiting = Submission.objects.filter(
        status=Submission.Status.QUEUED, updated_at__lt=now - timedelta(seconds=queued_for_seconds)
    ).exclude(dispatched_at__isnull=True, origin__in=[Submission.Origin.REEVALUATION, Submission.Origin.BASELINE])
    for pk in list(waiting.values_list("pk", flat=True)):
        if waiting.filter(pk=pk).update(updated_at=now):
            due.append(pk)
    return due
