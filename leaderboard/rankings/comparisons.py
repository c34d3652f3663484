"""Paired comparison of two entries of a version, on the part its leaderboard is scored on."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction

from evaluation.parts import hidden_parts, ladder_metric
from evaluation.seeds import derive_seed
from evaluation.spec import load_benchmark
from evaluation.statistics import compare_entries, round_to_grid
from leaderboard.benchmarks.models import BenchmarkVersion
from leaderboard.rankings.models import PairComparison
from leaderboard.submissions.models import Submission
from leaderboard.submissions.scoring import submission_outcomes


class ComparisonUnavailable(Exception):
    pass


def compare_submissions(*, version: BenchmarkVersion, a: Submission, b: Submission) -> dict:
    """Difference A − B of the primary metric with its paired interval, p-value and discordant items.

    Frozen versions compare on the final part with exact numbers. Open versions compare on the
    feedback part with the difference and its interval rounded to the 1/sqrt(n) grid of the
    Ladder, the p-value to two significant digits, and no discordant counts (with n they would
    give the exact difference), so that comparisons leak little more than the released scores.
    """
    for submission in (a, b):
        if submission.version_id != version.pk or submission.status != Submission.Status.SCORED:
            raise ComparisonUnavailable(f"submission {submission.pk} is not a scored entry of {version}")
    if a.pk == b.pk:
        raise ComparisonUnavailable("pick two different entries to compare")
    part = "final" if version.reveals_final_scores else "feedback"
    stored = PairComparison.objects.filter(version=version, part=part, a=a, b=b).first()
    if stored is not None:
        return stored.result
    result = _compute(version, a, b, part)
    try:
        with transaction.atomic():
            PairComparison.objects.create(version=version, part=part, a=a, b=b, result=result)
    except IntegrityError:
        pass  # another request stored the same pair first; the numbers are identical
    return result


def _compute(version: BenchmarkVersion, a: Submission, b: Submission, part: str) -> dict:
    benchmark = load_benchmark(version.folder)
    test = benchmark.load_split("test")
    mask = hidden_parts(test.item_ids, content_hash=version.content_hash, fraction=benchmark.spec.feedback_fraction)[part]
    clusters = test.metadata.get("cluster")
    metric = version.primary_metric if part == "final" else ladder_metric(version.primary_metric)
    result = compare_entries(
        submission_outcomes(a)["probabilities"][mask],
        submission_outcomes(b)["probabilities"][mask],
        test.labels[mask],
        metric=metric,
        seed=comparison_seed(version, a, b),
        clusters=None if clusters is None else clusters[mask],
        n_resamples=settings.BOOTSTRAP_RESAMPLES,
    )
    n_items = int(mask.sum())
    difference = {"value": result.difference.value, "ci_low": result.difference.ci_low, "ci_high": result.difference.ci_high}
    counts = {"a_only_correct": result.a_only_correct, "b_only_correct": result.b_only_correct}
    p_value = result.p_value
    if part == "feedback":
        difference = {key: round_to_grid(value, n_items) for key, value in difference.items()}
        counts = {"a_only_correct": None, "b_only_correct": None}
        p_value = float(f"{p_value:.2g}")
    return {
        "part": part,
        "n_items": n_items,
        "metric": metric,
        "a": a.pk,
        "b": b.pk,
        "difference": difference,
        "p_value": p_value,
        "method": result.method,
        **counts,
    }


def comparison_seed(version: BenchmarkVersion, a: Submission, b: Submission) -> int:
    """The same seed for (a, b) and (b, a), so a comparison reads the same both ways round."""
    first, second = sorted((a.pk, b.pk))
    return derive_seed(version.content_hash, "compare", str(first), str(second))
