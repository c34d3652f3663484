"""Pinned baselines scored again when the evaluator changes, and flagged if their score moved.

A baseline's file never changes, so its per-item outcomes can only change with the evaluator
(``evaluation.EVALUATOR_VERSION``) or the site's settings. When a baseline's recorded run was
computed by another evaluator version, ``check_baseline`` runs it again on the same items and
compares per-item correctness with ``paired_change``: the mean change with a paired bootstrap
interval. A change whose interval excludes zero is flagged to the benchmark's maintainers
(the version page and the admin). The paired interval is used rather than asking whether the
two scores' own intervals overlap: both runs score the same items, so everything they share
cancels, and only the items whose outcome changed count; non-overlapping intervals would need
a change about as wide as a whole interval before anyone heard of it.

The recorded scores are not replaced: the ledger is append-only and each score reproduces
under the evaluator that computed it (``reproduce``). A check is recorded once per baseline and
evaluator version.
"""

from __future__ import annotations

import logging

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction

from evaluation import EVALUATOR_VERSION
from evaluation.errors import EvaluationError
from evaluation.metrics import per_item_outcomes
from evaluation.seeds import derive_seed
from evaluation.spec import load_benchmark
from evaluation.statistics.versions import paired_change
from touchstone.submissions.models import BaselineCheck, Submission
from touchstone.submissions.outcomes import submission_outcomes
from touchstone.submissions.scoring import run_evaluation

logger = logging.getLogger(__name__)


def recorded_evaluator(submission: Submission) -> str:
    """The evaluator version of the submission's scored run ("unknown" if it did not record one)."""
    run = submission.scored_run()
    evaluator = (run.provenance.get("evaluator") or {}) if run is not None else {}
    return str(evaluator.get("version") or "unknown")


def baselines_due() -> list[int]:
    """Scored baselines whose run came from another evaluator version and that are not checked yet."""
    candidates = (
        Submission.objects.filter(is_baseline=True)
        .public()
        .exclude(baseline_checks__evaluator_version=EVALUATOR_VERSION)
        .order_by("pk")
    )
    return [submission.pk for submission in candidates if recorded_evaluator(submission) != EVALUATOR_VERSION]


def _quiet(fraction: float, message: str) -> None:
    """Progress of a check is not shown anywhere."""


def check_baseline(submission_id: int) -> BaselineCheck | None:
    """Score the baseline again under this evaluator and record the comparison; None if not due."""
    submission = Submission.objects.select_related("version__benchmark").get(pk=submission_id)
    recorded = recorded_evaluator(submission)
    if recorded == EVALUATOR_VERSION or submission.status != Submission.Status.SCORED:
        return None
    existing = BaselineCheck.objects.filter(submission=submission, evaluator_version=EVALUATOR_VERSION).first()
    if existing is not None:
        return existing
    fields: dict[str, object] = {"recorded_evaluator_version": recorded, "metric": "accuracy"}
    try:
        report = run_evaluation(submission, progress=_quiet)
        stored = submission_outcomes(submission)
        labels = load_benchmark(submission.version.folder).load_split("test").labels
        if not np.array_equal(stored["item_ids"], report.item_ids):
            raise ValueError("the new run's items are not the recorded run's")
        before = per_item_outcomes(stored["probabilities"], labels)["correct"].astype(np.float64)
        after = per_item_outcomes(report.probabilities, labels)["correct"].astype(np.float64)
        change = paired_change(
            before,
            after,
            seed=derive_seed(submission.version.content_hash, f"baseline-check:{submission.pk}:{EVALUATOR_VERSION}"),
            n_resamples=settings.BOOTSTRAP_RESAMPLES,
        )
        flagged = change.ci_low > 0 or change.ci_high < 0
        fields.update(
            recorded_value=float(before.mean()),
            new_value=float(after.mean()),
            difference=change.to_dict(),
            flagged=flagged,
            detail=(
                f"accuracy {before.mean():.4f} → {after.mean():.4f} on the same {before.size} items, change "
                f"{change.value:+.4f} [{change.ci_low:+.4f}, {change.ci_high:+.4f}]"
                + (": beyond its interval" if flagged else ": within its interval")
            ),
        )
    except (EvaluationError, ValueError, OSError) as error:
        logger.warning("checking baseline %s under evaluator %s failed: %s", submission.pk, EVALUATOR_VERSION, error)
        fields.update(flagged=True, detail=f"the new evaluator could not score it: {error}")
    try:
        with transaction.atomic():
            return BaselineCheck.objects.create(submission=submission, evaluator_version=EVALUATOR_VERSION, **fields)
    except IntegrityError:
        return BaselineCheck.objects.get(submission=submission, evaluator_version=EVALUATOR_VERSION)
