"""Leaderboard statistics for all entries of a version, from one joint bootstrap."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from evaluation.metrics import METRICS, per_item_outcomes
from evaluation.statistics.bootstrap import (
    Interval,
    bootstrap_weight_blocks,
    joint_metric_samples,
    percentile_interval,
)
from evaluation.statistics.hypothesis_tests import (
    discordant_counts,
    exact_mcnemar,
    holm,
    paired_bootstrap_p_value,
    pairwise_discordant_counts,
)
from evaluation.statistics.ranks import assign_tiers, competition_ranks, rank_intervals


@dataclass(frozen=True)
class EntryStatistics:
    """Everything the leaderboard shows about one entry of a version."""

    metrics: dict[str, Interval]
    """Point value and percentile bootstrap interval of each requested metric and the primary."""
    rank: int
    """Rank by the primary metric's point value; 1 is best, equal values share the min rank."""
    rank_lower: int
    """Lower end of the marginal bootstrap rank interval."""
    rank_upper: int
    """Upper end of the marginal bootstrap rank interval."""
    rank_lower_simultaneous: int
    """Lower end of the rank interval that holds jointly for all entries (Bonferroni)."""
    rank_upper_simultaneous: int
    """Upper end of the rank interval that holds jointly for all entries (Bonferroni)."""
    tier: int
    """Group of entries that cannot be told apart from the group's best; 1 is top."""
    p_value_vs_leader: float | None
    """Holm-adjusted two-sided p-value of the difference from the leader; None for the leader."""
    p_value_vs_next: float | None = None
    """Holm-adjusted p-value against the entry ranked just above; None for the leader."""


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of two entries on the same items."""

    metric: str
    """The metric compared."""
    difference: Interval
    """Metric of A minus metric of B, with its paired bootstrap interval."""
    p_value: float
    """Two-sided p-value of a zero difference (not corrected for multiplicity)."""
    method: str
    """``"exact_mcnemar"`` or ``"paired_bootstrap"``."""
    a_only_correct: int
    """Items A classifies correctly and B does not."""
    b_only_correct: int
    """Items B classifies correctly and A does not."""


def rank_leaderboard(
    probabilities: Sequence[np.ndarray],
    labels: np.ndarray,
    *,
    metrics: Sequence[str],
    primary: str,
    seed: int,
    clusters: np.ndarray | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
) -> list[EntryStatistics]:
    """Intervals, ranks, rank intervals, tiers and p-values for every entry, in input order.

    One weight matrix ``W = bootstrap_weights(n, seed=seed, clusters=clusters)`` serves all
    entries and metrics. For each metric ``m`` and entry ``e``: the point value ``m(p_e, y)`` and
    the percentile interval of ``m(p_e, y, W_b)`` over ``b``. On the primary metric, respecting
    its ``higher_is_better``: the point rank (competition "min" ranks), and the marginal and
    Bonferroni-simultaneous intervals of the ranks over the resamples.

    Pairwise tests on the primary metric: exact McNemar for accuracy without clusters,
    otherwise the paired bootstrap of the difference on the same resamples (McNemar assumes
    independent items, which clusters break). The p-values shown — each entry against the
    leader and each entry against the one ranked just above — form one Holm family, as they
    are the comparisons one page makes. Tier 1 is the leader and every entry whose shown
    ``p_value_vs_leader`` is at least ``1 - confidence``; later tiers repeat the procedure on
    the remaining entries, each round with its own Holm family (``assign_tiers``).
    """
    n_entries = len(probabilities)
    if n_entries == 0:
        return []
    names = list(dict.fromkeys([*metrics, primary]))
    unknown = [name for name in names if name not in METRICS]
    if unknown:
        raise KeyError(f"Unknown metrics {unknown}; known metrics are {', '.join(METRICS)}.")
    labels = np.asarray(labels)
    outcomes = [per_item_outcomes(p, labels) for p in probabilities]
    blocks = bootstrap_weight_blocks(labels.shape[0], n_resamples=n_resamples, seed=seed, clusters=clusters)
    samples = joint_metric_samples(probabilities, labels, names, blocks, outcomes)
    points = {name: _point_values(probabilities, labels, outcomes, name) for name in names}
    bounds = {name: percentile_interval(samples[name], confidence) for name in names}

    higher_is_better = METRICS[primary].higher_is_better
    ranks = competition_ranks(points[primary], higher_is_better=higher_is_better)
    rank_draws = competition_ranks(samples[primary], higher_is_better=higher_is_better)
    rank_low, rank_high = rank_intervals(rank_draws, confidence=confidence)
    joint_low, joint_high = rank_intervals(rank_draws, confidence=confidence, simultaneous=True)

    pair_p_values = _pair_test(primary, clusters, outcomes, samples[primary])
    order = np.lexsort((np.arange(n_entries), ranks))
    p_vs_leader, p_vs_next = _page_p_values(order, pair_p_values)

    def adjusted_p_values(round_leader: int, round_others: np.ndarray, tier: int) -> np.ndarray:
        if round_others.size == 0:
            return np.zeros(0)
        if tier == 1:
            # The same numbers the page shows, so a tier never contradicts a shown p-value.
            return np.array([p_vs_leader[int(e)] for e in round_others])
        return holm(pair_p_values(np.full(round_others.shape, round_leader), round_others))

    tiers = assign_tiers(
        points[primary],
        higher_is_better=higher_is_better,
        adjusted_p_values=adjusted_p_values,
        alpha=1.0 - confidence,
    )
    return [
        EntryStatistics(
            metrics={
                name: Interval(float(points[name][e]), float(bounds[name][0][e]), float(bounds[name][1][e]))
                for name in names
            },
            rank=int(ranks[e]),
            rank_lower=int(rank_low[e]),
            rank_upper=int(rank_high[e]),
            rank_lower_simultaneous=int(joint_low[e]),
            rank_upper_simultaneous=int(joint_high[e]),
            tier=int(tiers[e]),
            p_value_vs_leader=p_vs_leader.get(e),
            p_value_vs_next=p_vs_next.get(e),
        )
        for e in range(n_entries)
    ]


def compare_entries(
    probabilities_a: np.ndarray,
    probabilities_b: np.ndarray,
    labels: np.ndarray,
    *,
    metric: str,
    seed: int,
    clusters: np.ndarray | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
) -> Comparison:
    """Paired difference ``m(A) - m(B)`` with its interval and a two-sided p-value.

    The interval is the percentile interval of ``m(p_A, y, W_b) - m(p_B, y, W_b)`` over the
    resamples of ``bootstrap_weights(n, seed=seed, clusters=clusters)`` — the same resamples
    ``rank_leaderboard`` uses for the same seed. The p-value is the exact McNemar test
    (``b`` of ``b + c`` discordant items, ``Binomial(b + c, 1/2)``) for accuracy without
    clusters, and ``paired_bootstrap_p_value`` of the differences otherwise.
    """
    if metric not in METRICS:
        raise KeyError(f"Unknown metric {metric!r}; known metrics are {', '.join(METRICS)}.")
    labels = np.asarray(labels)
    pair = [probabilities_a, probabilities_b]
    outcomes = [per_item_outcomes(p, labels) for p in pair]
    blocks = bootstrap_weight_blocks(labels.shape[0], n_resamples=n_resamples, seed=seed, clusters=clusters)
    samples = joint_metric_samples(pair, labels, [metric], blocks, outcomes)[metric]
    differences = samples[:, 0] - samples[:, 1]
    low, high = percentile_interval(differences, confidence)
    points = _point_values(pair, labels, outcomes, metric)
    a_only, b_only = discordant_counts(outcomes[0]["correct"], outcomes[1]["correct"])
    if metric == "accuracy" and clusters is None:
        p_value, method = float(exact_mcnemar(a_only, b_only)), "exact_mcnemar"
    else:
        p_value, method = float(paired_bootstrap_p_value(differences)), "paired_bootstrap"
    return Comparison(
        metric=metric,
        difference=Interval(float(points[0] - points[1]), float(low), float(high)),
        p_value=p_value,
        method=method,
        a_only_correct=a_only,
        b_only_correct=b_only,
    )


def _pair_test(
    primary: str,
    clusters: np.ndarray | None,
    outcomes: Sequence[dict[str, np.ndarray]],
    primary_samples: np.ndarray,
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``test(first, second)``: raw two-sided p-values of the pairs ``(first[k], second[k])``.

    Exact McNemar for accuracy without clusters, else the paired bootstrap of the primary
    metric's difference on the shared resamples ``[B, E]``.
    """
    if primary == "accuracy" and clusters is None:
        only = pairwise_discordant_counts(np.stack([o["correct"] for o in outcomes], axis=1))

        def mcnemar(first: np.ndarray, second: np.ndarray) -> np.ndarray:
            return np.atleast_1d(exact_mcnemar(only[first, second], only[second, first]))

        return mcnemar

    def paired_bootstrap(first: np.ndarray, second: np.ndarray) -> np.ndarray:
        differences = primary_samples[:, first] - primary_samples[:, second]
        return np.atleast_1d(paired_bootstrap_p_value(differences))

    return paired_bootstrap


def _page_p_values(
    order: np.ndarray, pair_p_values: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> tuple[dict[int, float], dict[int, float]]:
    """Holm-adjusted p-values against the leader and against the next entry up.

    ``order`` lists the entries best first. The family is every entry against the leader
    ``order[0]`` plus every adjacent pair below the top one (the top pair is already "second
    against the leader"), adjusted together by ``holm``.
    """
    leader, others = int(order[0]), order[1:]
    upper_neighbours, lower_neighbours = order[1:-1], order[2:]
    adjusted = holm(
        np.concatenate(
            [
                pair_p_values(np.full(others.shape, leader), others),
                pair_p_values(upper_neighbours, lower_neighbours),
            ]
        )
    )
    p_vs_leader = {int(e): float(adjusted[k]) for k, e in enumerate(others)}
    p_vs_next = {int(e): float(adjusted[others.size + k]) for k, e in enumerate(lower_neighbours)}
    if others.size:
        p_vs_next[int(others[0])] = p_vs_leader[int(others[0])]
    return p_vs_leader, p_vs_next


def _point_values(
    probabilities: Sequence[np.ndarray],
    labels: np.ndarray,
    outcomes: Sequence[dict[str, np.ndarray]],
    name: str,
) -> np.ndarray:
    """Point value of one metric for each entry, in float64 on the full data."""
    metric = METRICS[name]
    key = metric.item_outcome
    if key is not None:
        return np.array([float(np.mean(o[key])) for o in outcomes])
    return np.array([float(metric.function(p, labels)) for p in probabilities])
