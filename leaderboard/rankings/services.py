"""Recomputing a version's stored leaderboard from the per-item outcomes in the ledger.

Open versions are ranked on the feedback part by Ladder-released scores, one entry per team
(each pinned baseline is its own entry); frozen versions on the final part, every public
submission with every metric. Either way one joint bootstrap is shared by all entries.
"""

from __future__ import annotations

import math

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from evaluation import EVALUATOR_VERSION
from evaluation.metrics import METRICS, per_item_outcomes
from evaluation.parts import hidden_parts, ladder_metric, round_metric_to_grid
from evaluation.runner import bootstrap_seed
from evaluation.spec import load_benchmark
from evaluation.statistics import minimum_detectable_effect, rank_leaderboard, typical_discordance_rate
from evaluation.statistics.ranks import competition_ranks
from leaderboard.benchmarks.models import BenchmarkVersion
from leaderboard.rankings.ladder import replay_ladders
from leaderboard.rankings.models import LeaderboardEntry, LeaderboardSnapshot
from leaderboard.submissions.models import Submission
from leaderboard.submissions.scoring import submission_outcomes


def schedule_leaderboard_update(*, version_id: int) -> None:
    """Queue a recomputation once the current transaction commits."""
    from leaderboard.rankings.tasks import recompute_leaderboard_task

    transaction.on_commit(lambda: recompute_leaderboard_task.delay(version_id))


def _public_ledger(version: BenchmarkVersion, item_ids: np.ndarray) -> tuple[list[Submission], list[np.ndarray]]:
    """Public scored submissions in scoring order, with their stored probabilities."""
    submissions, probabilities = [], []
    for submission in Submission.objects.filter(version=version).public().order_by("scored_at", "pk"):
        if submission.scored_run() is None:
            continue
        outcomes = submission_outcomes(submission)
        if not np.array_equal(outcomes["item_ids"], item_ids):
            raise ValueError(f"outcomes of {submission} do not match the items of {version}")
        submissions.append(submission)
        probabilities.append(outcomes["probabilities"])
    return submissions, probabilities


def _entry(version, submission, statistics, rank: int, metrics: dict) -> LeaderboardEntry:
    return LeaderboardEntry(
        version=version,
        submission=submission,
        rank=rank,
        # The point rank always lies inside the interval shown beside it.
        rank_lower=min(statistics.rank_lower, rank),
        rank_upper=max(statistics.rank_upper, rank),
        rank_lower_simultaneous=min(statistics.rank_lower_simultaneous, rank),
        rank_upper_simultaneous=max(statistics.rank_upper_simultaneous, rank),
        tier=statistics.tier,
        p_value_vs_leader=statistics.p_value_vs_leader,
        p_value_vs_next=statistics.p_value_vs_next,
        metrics=metrics,
    )


def _feedback_entries(version, spec, submissions, probabilities, labels, clusters) -> list[LeaderboardEntry]:
    metric = ladder_metric(spec.primary_metric)
    standings = list(replay_ladders(submissions, probabilities, labels, metric=metric).values())
    if not standings:
        return []
    chosen = [submissions.index(standing.best) for standing in standings]
    statistics = rank_leaderboard(
        [probabilities[i] for i in chosen], labels, metrics=[metric], primary=metric,
        seed=bootstrap_seed(version.content_hash, "test", "feedback"), clusters=clusters,
        n_resamples=settings.BOOTSTRAP_RESAMPLES,
    )
    released = np.array([standing.released for standing in standings])
    ranks = competition_ranks(released, higher_is_better=METRICS[metric].higher_is_better)
    n_items = len(labels)
    entries = []
    for standing, stats, rank in zip(standings, statistics, ranks, strict=True):
        interval = stats.metrics[metric]
        # Only grid-rounded numbers leave the feedback part, like the Ladder's released value.
        shown = {"value": standing.released, "ci_low": round_metric_to_grid(metric, interval.ci_low, n_items),
                 "ci_high": round_metric_to_grid(metric, interval.ci_high, n_items)}
        entries.append(_entry(version, standing.best, stats, int(rank), {metric: shown}))
    return entries


def _final_entries(version, spec, submissions, probabilities, labels, clusters) -> list[LeaderboardEntry]:
    statistics = rank_leaderboard(
        probabilities, labels, metrics=list(spec.report_metrics), primary=spec.primary_metric,
        seed=bootstrap_seed(version.content_hash, "test", "final"), clusters=clusters,
        n_resamples=settings.BOOTSTRAP_RESAMPLES,
    )
    return [
        _entry(version, submission, stats, stats.rank,
               {name: {"value": i.value, "ci_low": i.ci_low, "ci_high": i.ci_high} for name, i in stats.metrics.items()})
        for submission, stats in zip(submissions, statistics, strict=True)
    ]


def recompute_leaderboard(*, version: BenchmarkVersion) -> LeaderboardSnapshot:
    """Rebuild and store the version's leaderboard; pages and the API only read the result.

    The version's row is locked for the whole recomputation: two workers finishing at once
    would otherwise replay the Ladder and rewrite the entries concurrently.
    """
    with transaction.atomic():
        version = BenchmarkVersion.objects.select_for_update().get(pk=version.pk)
        return _recompute(version)


def _recompute(version: BenchmarkVersion) -> LeaderboardSnapshot:
    benchmark = load_benchmark(version.folder)
    spec = benchmark.spec
    test = benchmark.load_split("test")
    masks = hidden_parts(test.item_ids, content_hash=version.content_hash, fraction=spec.feedback_fraction)
    part = "final" if version.reveals_final_scores else "feedback"
    mask = masks[part]
    submissions, all_probabilities = _public_ledger(version, test.item_ids)
    probabilities = [p[mask] for p in all_probabilities]
    labels = test.labels[mask]
    clusters = test.metadata.get("cluster")
    clusters = None if clusters is None else clusters[mask]
    build = _final_entries if part == "final" else _feedback_entries
    entries = build(version, spec, submissions, probabilities, labels, clusters)
    discordance = math.nan
    if len(probabilities) >= 2:
        correct = np.stack([per_item_outcomes(p, labels)["correct"] for p in probabilities], axis=1)
        discordance = typical_discordance_rate(correct)
    effect = minimum_detectable_effect(len(labels), discordance) if math.isfinite(discordance) else math.inf
    LeaderboardEntry.objects.filter(version=version).delete()
    LeaderboardEntry.objects.bulk_create(entries)
    snapshot, _ = LeaderboardSnapshot.objects.update_or_create(
        version=version,
        defaults={
            "computed_at": timezone.now(),
            "part": part,
            "n_items": int(mask.sum()),
            "n_feedback_items": int(masks["feedback"].sum()),
            "n_final_items": int(masks["final"].sum()),
            "discordance_rate": discordance if math.isfinite(discordance) else None,
            "minimum_detectable_effect": effect if math.isfinite(effect) else None,
            "n_entries": len(entries),
            "n_resamples": settings.BOOTSTRAP_RESAMPLES,
            "seed": bootstrap_seed(version.content_hash, "test", part),
            "evaluator_version": EVALUATOR_VERSION,
        },
    )
    return snapshot


def freeze_version(*, version: BenchmarkVersion) -> LeaderboardSnapshot:
    """Close a version to submissions and publish its final-part leaderboard."""
    with transaction.atomic():
        locked = BenchmarkVersion.objects.select_for_update().get(pk=version.pk)
        locked.freeze()
        snapshot = _recompute(locked)
    version.refresh_from_db()
    return snapshot
