"""Point ranks, bootstrap rank intervals and tiers on hand-built cases."""

from __future__ import annotations

import numpy as np

from evaluation.statistics import assign_tiers, competition_ranks, rank_intervals


def test_it_ranks_higher_is_better_metrics_descending_with_shared_min_ranks():
    ranks = competition_ranks(np.array([0.9, 0.8, 0.9, 0.7]), higher_is_better=True)
    np.testing.assert_array_equal(ranks, [1, 3, 1, 4])


def test_it_ranks_lower_is_better_metrics_ascending():
    ranks = competition_ranks(np.array([0.3, 0.1, 0.2, 0.1]), higher_is_better=False)
    np.testing.assert_array_equal(ranks, [4, 1, 3, 1])


def test_it_ranks_every_resample_row_by_row():
    samples = np.array([[0.5, 0.6, 0.7], [0.7, 0.6, 0.5]])
    np.testing.assert_array_equal(competition_ranks(samples, higher_is_better=True), [[3, 2, 1], [1, 2, 3]])


def test_it_takes_the_central_95_percent_of_bootstrap_ranks():
    # Entry 0 is first in 90% of 1000 resamples and second otherwise; entry 1 the reverse;
    # entry 2 is always third.
    rank_samples = np.ones((1000, 3), dtype=int)
    rank_samples[:900, 1] = 2
    rank_samples[900:, 0] = 2
    rank_samples[:, 2] = 3
    low, high = rank_intervals(rank_samples, confidence=0.95)
    np.testing.assert_array_equal(low, [1, 1, 3])
    np.testing.assert_array_equal(high, [2, 2, 3])


def test_it_ignores_a_rank_seen_in_less_than_the_tail():
    # Entry 0 is second in 2% of resamples, entry 1 first in 2%: both lie in the 2.5% tails.
    rank_samples = np.ones((1000, 2), dtype=int)
    rank_samples[:20, 0] = 2
    rank_samples[20:, 1] = 2
    low, high = rank_intervals(rank_samples, confidence=0.95)
    np.testing.assert_array_equal(low, [1, 2])
    np.testing.assert_array_equal(high, [1, 2])


def test_it_widens_the_simultaneous_rank_interval_by_bonferroni():
    # With 10 entries the simultaneous tails are 0.25% each: rank 2 in 2% of resamples counts.
    rank_samples = np.tile(np.arange(1, 11), (1000, 1))
    rank_samples[:20, 0], rank_samples[:20, 1] = 2, 1
    marginal = rank_intervals(rank_samples, confidence=0.95)
    simultaneous = rank_intervals(rank_samples, confidence=0.95, simultaneous=True)
    assert (marginal[0][0], marginal[1][0]) == (1, 1)
    assert (simultaneous[0][0], simultaneous[1][0]) == (1, 2)
    assert np.all(simultaneous[0] <= marginal[0]) and np.all(simultaneous[1] >= marginal[1])


def p_values_from(matrix: np.ndarray):
    """A tier test that reads (already adjusted) p-values from a fixed matrix."""

    def adjusted(leader: int, others: np.ndarray, tier: int) -> np.ndarray:
        return matrix[leader, others]

    return adjusted


def test_it_groups_entries_not_significantly_worse_than_the_leader():
    values = np.array([0.60, 0.90, 0.58, 0.85, 0.30])
    p = np.ones((5, 5))
    # Against the leader (entry 1): entry 3 is tied, 0, 2 and 4 are worse. Against the next
    # leader (entry 0): entry 2 is tied, 4 is worse.
    p[1, [0, 2, 4]] = 0.001
    p[0, 4] = 0.01
    tiers = assign_tiers(values, higher_is_better=True, adjusted_p_values=p_values_from(p))
    np.testing.assert_array_equal(tiers, [2, 1, 2, 1, 3])


def test_it_orients_tiers_for_lower_is_better_metrics():
    values = np.array([0.2, 0.5, 0.21])
    p = np.ones((3, 3))
    p[0, 1] = 0.001
    tiers = assign_tiers(values, higher_is_better=False, adjusted_p_values=p_values_from(p))
    np.testing.assert_array_equal(tiers, [1, 2, 1])


def test_it_keeps_an_entry_equal_to_the_leader_in_its_tier():
    values = np.array([0.7, 0.7, 0.5])
    p = np.full((3, 3), 0.001)
    tiers = assign_tiers(values, higher_is_better=True, adjusted_p_values=p_values_from(p))
    np.testing.assert_array_equal(tiers, [1, 1, 2])


def test_it_tells_the_test_which_round_it_is():
    seen = []

    def adjusted(leader, others, tier):
        seen.append((leader, tier))
        return np.zeros(others.shape)

    assign_tiers(np.array([3.0, 2.0, 1.0]), higher_is_better=True, adjusted_p_values=adjusted)
    assert seen == [(0, 1), (1, 2), (2, 3)]
