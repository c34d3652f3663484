"""Recomputing a version's leaderboard statistics from stored per-item outcomes."""

from __future__ import annotations

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from evaluation import EVALUATOR_VERSION
from evaluation.runner import bootstrap_seed
from evaluation.spec import load_benchmark
from evaluation.statistics import rank_leaderboard
from leaderboard.benchmarks.models import BenchmarkVersion
from leaderboard.rankings.models import LeaderboardEntry, LeaderboardSnapshot
from leaderboard.submissions.models import EvaluationRun, Submission
from leaderboard.submissions.scoring import load_outcomes


def schedule_leaderboard_update(*, version_id: int) -> None:
    """Queue a recomputation once the current transaction commits."""
    from leaderboard.rankings.tasks import recompute_leaderboard_task

    transaction.on_commit(lambda: recompute_leaderboard_task.delay(version_id))


def _ranked_submissions(version: BenchmarkVersion) -> list[tuple[Submission, str]]:
    """Scored submissions with the outcomes file of their latest scored run."""
    ranked = []
    for submission in Submission.objects.filter(version=version).public().order_by("pk"):
        run = (
            EvaluationRun.objects.filter(submission=submission, outcome="scored")
            .exclude(outcomes_path="")
            .order_by("-attempt")
            .first()
        )
        if run is not None:
            ranked.append((submission, run.outcomes_path))
    return ranked


def recompute_leaderboard(*, version: BenchmarkVersion) -> LeaderboardSnapshot:
    """One joint bootstrap over the version's hidden items, shared by all of its entries."""
    benchmark = load_benchmark(version.folder)
    test = benchmark.load_split("test")
    ranked = _ranked_submissions(version)
    probabilities = []
    for submission, path in ranked:
        outcomes = load_outcomes(path)
        if not np.array_equal(outcomes["item_ids"], test.item_ids):
            raise ValueError(f"outcomes of {submission} do not match the items of {version}")
        probabilities.append(outcomes["probabilities"])
    seed = bootstrap_seed(version.content_hash, "test")
    statistics = rank_leaderboard(
        probabilities,
        test.labels,
        metrics=version.report_metrics,
        primary=version.primary_metric,
        seed=seed,
        clusters=test.metadata.get("cluster"),
        n_resamples=settings.BOOTSTRAP_RESAMPLES,
    )
    with transaction.atomic():
        LeaderboardEntry.objects.filter(version=version).delete()
        LeaderboardEntry.objects.bulk_create(
            [
                LeaderboardEntry(
                    version=version,
                    submission=submission,
                    rank=entry.rank,
                    rank_lower=entry.rank_lower,
                    rank_upper=entry.rank_upper,
                    rank_lower_simultaneous=entry.rank_lower_simultaneous,
                    rank_upper_simultaneous=entry.rank_upper_simultaneous,
                    tier=entry.tier,
                    p_value_vs_leader=entry.p_value_vs_leader,
                    metrics={
                        name: {"value": i.value, "ci_low": i.ci_low, "ci_high": i.ci_high}
                        for name, i in entry.metrics.items()
                    },
                )
                for (submission, _), entry in zip(ranked, statistics, strict=True)
            ]
        )
        snapshot, _ = LeaderboardSnapshot.objects.update_or_create(
            version=version,
            defaults={
                "computed_at": timezone.now(),
                "n_items": int(test.labels.shape[0]),
                "n_entries": len(ranked),
                "n_resamples": settings.BOOTSTRAP_RESAMPLES,
                "seed": seed,
                "evaluator_version": EVALUATOR_VERSION,
            },
        )
    return snapshot
