"""Leaderboard statistics for all entries of a version, from one joint bootstrap."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from evaluation.metrics import METRICS, per_item_outcomes
from evaluation.statistics.bootstrap import (
    Interval,
    bias_corrected_interval,
    bootstrap_weight_blocks,
    joint_metric_samples,
)
from evaluation.statistics.hypothesis_tests import (
    bootstrap_z_p_value,
    discordant_counts,
    exact_mcnemar,
    holm,
    pairwise_discordant_counts,
)
from evaluation.statistics.intervals import accuracy_intervals
from evaluation.statistics.ranks import competition_ranks, rank_intervals
from evaluation.statistics.simultaneous import difference_to_best, max_t_pairwise, rank_sets, tiers_from_pairs


@dataclass(frozen=True)
class EntryStatistics:
    """Everything the leaderboard shows about one entry of a version."""

    metrics: dict[str, Interval]
    """Point value and interval of each requested metric and the primary: Wilson's (cluster-adjusted)
    for accuracy, the bias-corrected bootstrap for the others."""
    rank: int
    """Rank by the primary metric's point value; 1 is best, equal values share the min rank."""
    rank_lower: int
    """Lower end of the marginal bootstrap rank interval."""
    rank_upper: int
    """Upper end of the marginal bootstrap rank interval."""
    rank_lower_simultaneous: int
    """``1 + #{entries declared better}``: the rank set's best end, jointly valid for all entries."""
    rank_upper_simultaneous: int
    """``E - #{entries declared worse}``: the rank set's worst end, jointly valid for all entries."""
    tier: int
    """1 for entries no other entry is declared better than; later tiers peel the rest the same way."""
    p_value_vs_leader: float | None
    """Holm-adjusted two-sided p-value of the difference from the leader; None for the leader."""
    p_value_vs_next: float | None = None
    """Holm-adjusted p-value against the entry ranked just above; None for the leader."""
    difference_to_leader: Interval | None = None
    """Primary metric minus the best of the other entries' (the leader's; for the leader, the
    runner-up's), with the simultaneous interval of that difference; tier 1 exactly when the
    interval reaches 0. None for a board of one entry."""


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of two entries on the same items."""

    metric: str
    """The metric compared."""
    difference: Interval
    """Metric of A minus metric of B, with its bias-corrected paired bootstrap interval."""
    p_value: float
    """Two-sided p-value of a zero difference (not corrected for multiplicity)."""
    method: str
    """``"exact_mcnemar"``, or ``"paired_bootstrap"`` for the difference over its paired bootstrap
    standard error against the normal distribution."""
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
    """Intervals, ranks, rank sets, tiers and p-values for every entry, in input order.

    One weight matrix ``W = bootstrap_weights(n, seed=seed, clusters=clusters)`` serves all
    entries and metrics. Accuracy gets Wilson's interval, at the effective sample size
    ``n / deff`` with clusters (``accuracy_intervals``); every other metric the bias-corrected
    bootstrap interval of ``m(p_e, y, W_b)`` around ``m(p_e, y)`` (``bias_corrected_interval``).

    On the primary metric, respecting its ``higher_is_better``: the point rank (competition
    "min" ranks); the marginal interval of the ranks over the resamples; and from max-t
    simultaneous intervals of every pairwise difference (``max_t_pairwise``) the rank sets
    ``[1 + #{declared better}, E - #{declared worse}]``, the tiers (tier 1: no entry declared
    better, then peeled) and each entry's difference to the best of the others with its
    interval. All of these hold jointly, under ties and whichever entry the data make the
    leader.

    P-values on the primary metric: exact McNemar for accuracy without clusters, otherwise the
    difference over its bootstrap standard error on the same resamples against the normal
    distribution (McNemar assumes independent items, which clusters break). The p-values
    shown — each entry against the leader and each entry against the one ranked just above —
    form one Holm family of ``2E - 3`` tests (``holm_family_size``), the comparisons one page
    makes. Tiers do not use them: they come from the simultaneous intervals.
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
    bounds = {name: _metric_bounds(name, points[name], samples[name], outcomes, clusters, confidence) for name in names}

    higher_is_better = METRICS[primary].higher_is_better
    ranks = competition_ranks(points[primary], higher_is_better=higher_is_better)
    rank_draws = competition_ranks(samples[primary], higher_is_better=higher_is_better)
    rank_low, rank_high = rank_intervals(rank_draws, confidence=confidence)
    pairs = max_t_pairwise(
        samples[primary],
        points[primary],
        higher_is_better=higher_is_better,
        confidence=confidence,
        n_units=_independent_units(labels.shape[0], clusters),
    )
    joint_low, joint_high = rank_sets(pairs)
    tiers = tiers_from_pairs(pairs)
    gap, gap_low, gap_high = difference_to_best(pairs)

    pair_p_values = _pair_test(primary, clusters, outcomes, samples[primary], points[primary])
    order = np.lexsort((np.arange(n_entries), ranks))
    p_vs_leader, p_vs_next = _page_p_values(order, pair_p_values)
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
            difference_to_leader=(
                Interval(float(gap[e]), float(gap_low[e]), float(gap_high[e])) if n_entries > 1 else None
            ),
        )
        for e in range(n_entries)
    ]


def holm_family_size(n_entries: int) -> int:
    """Number of tests in the Holm family of ``rank_leaderboard``'s p-values: ``2E - 3``.

    ``E - 1`` entries against the leader and ``E - 2`` adjacent pairs below the top one (the
    top pair is already "second against the leader"); at least 1.
    """
    return max(1, 2 * n_entries - 3)


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

    The interval is the bias-corrected interval of ``m(p_A, y, W_b) - m(p_B, y, W_b)`` over the
    resamples of ``bootstrap_weights(n, seed=seed, clusters=clusters)`` — the same resamples
    ``rank_leaderboard`` uses for the same seed — around the difference on all items. The
    p-value is the exact McNemar test (``b`` of ``b + c`` discordant items,
    ``Binomial(b + c, 1/2)``) for accuracy without clusters, and ``bootstrap_z_p_value`` of the
    differences otherwise.
    """
    if metric not in METRICS:
        raise KeyError(f"Unknown metric {metric!r}; known metrics are {', '.join(METRICS)}.")
    labels = np.asarray(labels)
    pair = [probabilities_a, probabilities_b]
    outcomes = [per_item_outcomes(p, labels) for p in pair]
    blocks = bootstrap_weight_blocks(labels.shape[0], n_resamples=n_resamples, seed=seed, clusters=clusters)
    samples = joint_metric_samples(pair, labels, [metric], blocks, outcomes)[metric]
    differences = samples[:, 0] - samples[:, 1]
    points = _point_values(pair, labels, outcomes, metric)
    difference = float(points[0] - points[1])
    low, high = bias_corrected_interval(differences, difference, confidence)
    a_only, b_only = discordant_counts(outcomes[0]["correct"], outcomes[1]["correct"])
    if metric == "accuracy" and clusters is None:
        p_value, method = float(exact_mcnemar(a_only, b_only)), "exact_mcnemar"
    else:
        p_value, method = float(bootstrap_z_p_value(differences, difference)), "paired_bootstrap"
    return Comparison(
        metric=metric,
        difference=Interval(difference, float(low), float(high)),
        p_value=p_value,
        method=method,
        a_only_correct=a_only,
        b_only_correct=b_only,
    )


def _independent_units(n_items: int, clusters: np.ndarray | None) -> float:
    """``n`` without clusters; with clusters Kish's effective number ``n² / Σ_g n_g²``."""
    if clusters is None:
        return float(n_items)
    sizes = np.unique(np.asarray(clusters), return_counts=True)[1].astype(np.float64)
    return float(n_items) ** 2 / float(np.sum(sizes * sizes))


def _metric_bounds(
    name: str,
    points: np.ndarray,
    samples: np.ndarray,
    outcomes: Sequence[dict[str, np.ndarray]],
    clusters: np.ndarray | None,
    confidence: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Interval ends of one metric for every entry: Wilson for accuracy, else bias-corrected bootstrap."""
    if name == "accuracy":
        correct = np.stack([o["correct"] for o in outcomes], axis=1)
        return accuracy_intervals(correct, clusters, confidence)
    return bias_corrected_interval(samples, points, confidence)


def _pair_test(
    primary: str,
    clusters: np.ndarray | None,
    outcomes: Sequence[dict[str, np.ndarray]],
    primary_samples: np.ndarray,
    primary_points: np.ndarray,
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``test(first, second)``: raw two-sided p-values of the pairs ``(first[k], second[k])``.

    Exact McNemar for accuracy without clusters, else the primary metric's difference over its
    bootstrap standard error on the shared resamples ``[B, E]`` (``bootstrap_z_p_value``).
    """
    if primary == "accuracy" and clusters is None:
        only = pairwise_discordant_counts(np.stack([o["correct"] for o in outcomes], axis=1))

        def mcnemar(first: np.ndarray, second: np.ndarray) -> np.ndarray:
            return np.atleast_1d(exact_mcnemar(only[first, second], only[second, first]))

        return mcnemar

    def studentized(first: np.ndarray, second: np.ndarray) -> np.ndarray:
        differences = primary_samples[:, first] - primary_samples[:, second]
        return np.atleast_1d(bootstrap_z_p_value(differences, primary_points[first] - primary_points[second]))

    return studentized


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
