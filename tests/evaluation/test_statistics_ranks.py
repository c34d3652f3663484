"""Point ranks and marginal bootstrap rank intervals on hand-built cases."""

from __future__ import annotations

import numpy as np

from evaluation.statistics import competition_ranks, rank_intervals


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
