"""Paired comparison of two entries of a version, on the part its leaderboard is scored on.

Each recompute stores the comparisons of entries at adjacent ranks with the leaderboard; any
other pair is computed on its first request (the views rate-limit those) and stored, so every
later view of the pair reads it.
"""

from __future__ import annotations

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction

from evaluation.parts import hidden_parts, ladder_losses, ladder_metric
from evaluation.released import released_difference, released_value
from evaluation.seeds import derive_seed
from evaluation.spec import load_benchmark
from evaluation.statistics import compare_entries
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.rankings.models import PairComparison
from touchstone.submissions.models import Submission
from touchstone.submissions.outcomes import submission_outcomes


class ComparisonUnavailable(Exception):
    pass


def comparison_part(version: BenchmarkVersion) -> str:
    """The part of the hidden split a version's comparisons are made on."""
    return "final" if version.reveals_final_scores else "feedback"


def stored_comparison(*, version: BenchmarkVersion, a: Submission, b: Submission) -> dict | None:
    """The stored comparison of A with B, or None if it still has to be computed.

    Raises ``ComparisonUnavailable`` when the two cannot be compared at all, so a bad pick is
    refused before anything is computed or counted against a rate.
    """
    for submission in (a, b):
        if submission.version_id != version.pk or submission.status != Submission.Status.SCORED:
            raise ComparisonUnavailable(f"submission {submission.pk} is not a scored entry of {version}")
    if a.pk == b.pk:
        raise ComparisonUnavailable("pick two different entries to compare")
    stored = PairComparison.objects.filter(version=version, part=comparison_part(version), a=a, b=b).first()
    return None if stored is None else stored.result


def compare_submissions(*, version: BenchmarkVersion, a: Submission, b: Submission) -> dict:
    """Difference A − B of the primary metric with its paired interval, p-value and discordant items.

    Read from storage when the pair was compared before; otherwise computed here and stored.
    """
    stored = stored_comparison(version=version, a=a, b=b)
    if stored is not None:
        return stored
    part = comparison_part(version)
    benchmark = load_benchmark(version.folder)
    test = benchmark.load_split("test")
    clusters = test.metadata.get("cluster")
    masks = hidden_parts(
        test.item_ids, content_hash=version.content_hash, fraction=benchmark.spec.feedback_fraction, clusters=clusters
    )
    mask = masks[part]
    result = pair_result(
        version,
        a.pk,
        b.pk,
        part=part,
        probabilities_a=submission_outcomes(a)["probabilities"][mask],
        probabilities_b=submission_outcomes(b)["probabilities"][mask],
        labels=test.labels[mask],
        clusters=None if clusters is None else clusters[mask],
    )
    try:
        with transaction.atomic():
            PairComparison.objects.create(version=version, part=part, a=a, b=b, result=result)
    except IntegrityError:
        pass  # another request or a recompute stored the same pair first; the numbers are identical
    return result


def pair_result(
    version: BenchmarkVersion,
    a_id: int,
    b_id: int,
    *,
    part: str,
    probabilities_a: np.ndarray,
    probabilities_b: np.ndarray,
    labels: np.ndarray,
    clusters: np.ndarray | None,
) -> dict:
    """The comparison of A with B on one part, from their probabilities on that part's items.

    Frozen versions compare on the final part with exact numbers. Open versions compare two
    released entries on the feedback part: the difference of their released values and its
    paired interval rounded outward to the 1/n grid (``released_difference``), with neither a
    p-value nor discordant counts, which with n would pin how many items each gets right that
    the other does not. Reads no database: a recompute calls it outside any transaction.
    """
    metric = version.primary_metric if part == "final" else ladder_metric(version.primary_metric)
    result = compare_entries(
        probabilities_a,
        probabilities_b,
        labels,
        metric=metric,
        seed=comparison_seed(version, a_id, b_id),
        clusters=clusters,
        n_resamples=settings.BOOTSTRAP_RESAMPLES,
    )
    n_items = int(labels.shape[0])
    shown = {
        "difference": result.difference.to_dict(),
        "p_value": result.p_value,
        "method": result.method,
        "a_only_correct": result.a_only_correct,
        "b_only_correct": result.b_only_correct,
    }
    if part == "feedback":
        value_a, value_b = (
            released_value(metric, ladder_losses(p, labels, metric)) for p in (probabilities_a, probabilities_b)
        )
        interval = result.difference
        difference = released_difference(metric, value_a, value_b, interval.ci_low, interval.ci_high, n_items)
        shown = {
            "difference": difference.to_dict(),
            "p_value": None,
            "method": None,
            "a_only_correct": None,
            "b_only_correct": None,
        }
    return {"part": part, "n_items": n_items, "metric": metric, "a": a_id, "b": b_id, **shown}


def comparison_seed(version: BenchmarkVersion, a_id: int, b_id: int) -> int:
    """The same seed for (a, b) and (b, a), so a comparison reads the same both ways round."""
    first, second = sorted((a_id, b_id))
    return derive_seed(version.content_hash, "compare", str(first), str(second))
