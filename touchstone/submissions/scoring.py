"""The worker's side of a submission: run the evaluation and record the outcome.

This is the only bridge between the database and ``evaluation/``.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial
from pathlib import Path

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
from touchstone.storage import delete_file, fetch_file, fetch_folder
from touchstone.storage_cache import in_use
from touchstone.submissions.limits import sandbox_limits
from touchstone.submissions.models import EvaluationRun, MetricResult, Submission
from touchstone.submissions.outcomes import save_outcomes
from touchstone.submissions.provenance import predictions_key
from touchstone.submissions.runs import (
    FROZE_MESSAGE,
    Heartbeat,
    fenced,
    report_progress,
    requeue_stale_runs,
    start_run,
)

logger = logging.getLogger(__name__)


def score_submission(*, submission_id: int) -> str:
    """Take, evaluate and record one submission; returns the final status, or "skipped" when the
    row was not free to take, or "superseded" when this run lost it while it worked."""
    run = start_run(submission_id)
    if run is None:
        status = Submission.objects.filter(pk=submission_id).values_list("status", flat=True).first()
        logger.info("submission %s is %s; nothing to do", submission_id, status)
        return "skipped"
    submission = Submission.objects.select_related("version__benchmark").get(pk=submission_id)
    if not submission.version.is_open:
        # Queued before its version closed: a closed version takes no new scores.
        return _record_failure(
            submission, run, code=_closed_code(submission.version), message=_closed_message(submission.version)
        )
    try:
        with Heartbeat(run):
            report = run_evaluation(submission, progress=partial(report_progress, run))
    except EvaluationError as error:
        if error.private_detail:
            logger.warning("submission %s failed with %s: %s", submission_id, error.code, error.private_detail)
        # Neither the site's failures nor the model's on the public preflight items count
        # against the quota: the hidden split was not used.
        return _record_failure(
            submission, run, code=error.code, message=str(error), infrastructure=error.infrastructure or error.preflight
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


def _closed_code(version: BenchmarkVersion) -> str:
    return "version_deprecated" if version.is_deprecated else "version_frozen"


def _closed_message(version: BenchmarkVersion) -> str:
    if version.is_deprecated:
        return (
            f"{version} was deprecated before this submission was evaluated; submit it to "
            "the benchmark's latest version (this does not count against your quota)"
        )
    return FROZE_MESSAGE


def run_evaluation(submission: Submission, *, progress) -> EvaluationReport:
    """Evaluate the submission's model on its version's hidden split with the site's settings.

    Raises ``EvaluationError``; writes nothing (the caller records the report).
    """
    # The worker checks its copies against the hashes the database records before a model sees them:
    # with a bucket, a stale or damaged cached copy is fetched again. Both copies are held for the
    # whole run, so the cache never evicts them under it.
    version = submission.version
    folder = fetch_folder(version.storage_path, version.file_hashes, verify=True)
    model = fetch_file(submission.model_path, sha256=submission.sha256)
    with in_use(folder, model):
        return _evaluate(submission, load_benchmark(folder), model, progress=progress)


def _evaluate(submission: Submission, benchmark: BenchmarkFolder, model: Path, *, progress) -> EvaluationReport:
    dataset = EvaluationData.from_folder(benchmark, "test")
    preflight = preflight_slice(benchmark.load_split("dev").inputs, settings.EVALUATION_BATCH_SIZE)
    parts = hidden_parts(
        dataset.data.item_ids,
        content_hash=dataset.content_hash,
        fraction=dataset.spec.feedback_fraction,
        clusters=dataset.data.metadata.get("cluster"),
    )
    return evaluate_model(
        model,
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
        # An upload that returns probabilities is refused with the fix; entries carried over from
        # an earlier version and pinned baselines were accepted before and are scored as they are.
        refuse_probabilities=submission.origin == Submission.Origin.UPLOAD,
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
    """Record a report if ``run`` is still the submission's run; returns the status it left.

    The outcome file is the run's own (its path names the run), written before the fence is
    checked; a run that lost its row removes it and changes nothing else. The fence is checked
    with the submission's row locked, then the version's (the order a withdrawal takes them):
    a version that froze meanwhile cancels the run instead, and the version's generation,
    counted under its lock, gives the result its place in commit order (``scored_sequence``).
    """
    outcomes_path = save_outcomes(submission, report, run_id=run.pk)
    with transaction.atomic():
        current = Submission.objects.select_for_update().filter(pk=submission.pk, current_run_id=run.pk).first()
        version = BenchmarkVersion.objects.select_for_update().get(pk=submission.version_id)
        if current is not None and not version.is_open:
            # Only this row: the others of the version are cancelled by the freeze itself, and
            # touching them here, under the version's lock, could wait on their own recorders.
            _cancel(run, code=_closed_code(version), message=_closed_message(version))
            current = None
        if current is None:
            lost = True
        else:
            lost = False
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
            updated = 0
            if current.status == Submission.Status.RUNNING:
                BenchmarkVersion.objects.filter(pk=version.pk).mark_leaderboard_stale()
                sequence = BenchmarkVersion.objects.filter(pk=version.pk).values_list("generation", flat=True).get()
                updated = fenced(run).update(
                    status=Submission.Status.SCORED,
                    progress=1.0,
                    progress_message="scored",
                    scored_at=timezone.now(),
                    scored_sequence=sequence,
                    heartbeat_at=None,
                    updated_at=timezone.now(),
                )
    if lost:
        delete_file(outcomes_path)
        logger.warning(
            "submission %s: run %s finished after it lost the row; its result is discarded", submission.pk, run.pk
        )
        return "superseded"
    return Submission.Status.SCORED if updated else "withdrawn"


def _cancel(run: EvaluationRun, *, code: str, message: str) -> None:
    fenced(run).filter(status__in=[Submission.Status.QUEUED, Submission.Status.RUNNING]).update(
        status=Submission.Status.FAILED,
        current_run=None,
        error_code=code,
        error_message=message,
        progress_message="cancelled",
        counts_against_quota=False,
        heartbeat_at=None,
        updated_at=timezone.now(),
    )
    EvaluationRun.objects.filter(pk=run.pk, outcome="").update(
        outcome="cancelled", error_code=code, finished_at=timezone.now()
    )


def _record_failure(
    submission: Submission, run: EvaluationRun, *, code: str, message: str, infrastructure: bool = True
) -> str:
    """Record a failure if ``run`` is still the submission's run; one that lost it changes nothing."""
    with transaction.atomic():
        current = Submission.objects.select_for_update().filter(pk=submission.pk, current_run_id=run.pk).first()
        if current is None:
            logger.warning(
                "submission %s: run %s failed after it lost the row (%s); nothing recorded", submission.pk, run.pk, code
            )
            return "superseded"
        EvaluationRun.objects.filter(pk=run.pk).update(finished_at=timezone.now(), outcome="failed", error_code=code)
        fenced(run).filter(status=Submission.Status.RUNNING).update(
            status=Submission.Status.FAILED,
            error_code=code,
            error_message=message[:4000],
            progress_message="failed",
            counts_against_quota=not infrastructure,
            heartbeat_at=None,
            updated_at=timezone.now(),
        )
    return Submission.Status.FAILED


def requeue_stalled(*, running_for_seconds: float, queued_for_seconds: float) -> list[int]:
    """Find submissions whose evaluation message must be published again; returns their ids.

    A ``running`` row whose heartbeat is older than ``running_for_seconds`` by the database's
    clock lost its worker: it goes back to ``queued`` and its run is fenced out
    (``runs.requeue_stale_runs``). A ``queued`` row whose message was published
    ``queued_for_seconds`` ago may have lost it (a worker that died holding it, a file set aside
    as unreadable): it is marked as published now. For a queued row ``updated_at`` is the time
    its message was last published. Each row changes with a conditional UPDATE, so of two
    sweeps running at once only one returns it; the caller publishes one message per id, and a
    message for a row that is no longer queued finds nothing to take.
    """
    now = timezone.now()
    due = requeue_stale_runs(seconds=running_for_seconds)
    # Background rows still in the database queue have no message to lose: the dispatcher
    # hands them out (``queueing``).
    waiting = Submission.objects.filter(
        status=Submission.Status.QUEUED, updated_at__lt=now - timedelta(seconds=queued_for_seconds)
    ).exclude(dispatched_at__isnull=True, origin__in=[Submission.Origin.REEVALUATION, Submission.Origin.BASELINE])
    for pk in list(waiting.values_list("pk", flat=True)):
        if pk not in due and waiting.filter(pk=pk).update(updated_at=now):
            due.append(pk)
    return due
