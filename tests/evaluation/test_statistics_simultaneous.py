"""Max-t simultaneous pairwise intervals, rank sets, tiers and differences to the best."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evaluation.statistics import (
    PairwiseInference,
    difference_to_best,
    max_t_pairwise,
    rank_sets,
    tiers_from_pairs,
)


def reference_max_t(samples, points, n_units, confidence=0.95):
    """The construction written out pair by pair, without blocks, masks or float32."""
    n_resamples, n_entries = samples.shape
    se = np.zeros((n_entries, n_entries))
    largest = np.zeros(n_resamples)
    for e in range(n_entries):
        for f in range(e + 1, n_entries):
            deviation = (samples[:, e] - points[e]) - (samples[:, f] - points[f])
            variance = np.var(samples[:, e] - samples[:, f], ddof=1)
            if variance > 0:
                se[e, f] = se[f, e] = math.sqrt(variance + (points[e] - points[f]) ** 2 / n_units)
                largest = np.maximum(largest, np.abs(deviation) / se[e, f])
    critical = np.sort(largest)[math.ceil(confidence * (n_resamples + 1)) - 1]
    return se, critical


@pytest.mark.parametrize("n_entries, n_resamples", [(6, 199), (50, 2000)])
def test_it_matches_the_pair_by_pair_max_t_construction(n_entries, n_resamples):
    # 50 entries x 2000 resamples spans more than one block of the vectorised loop.
    rng = np.random.default_rng(n_entries)
    common = rng.normal(size=(n_resamples, 1))
    samples = 0.7 + 0.01 * (common + rng.normal(size=(n_resamples, n_entries)))
    points = samples.mean(axis=0) + rng.normal(scale=0.002, size=n_entries)
    inference = max_t_pairwise(samples, points, higher_is_better=True, n_units=500)
    se, critical = reference_max_t(samples, points, 500)
    np.testing.assert_allclose(inference.standard_errors, se, rtol=2e-5)
    assert inference.critical_value == pytest.approx(critical, rel=2e-5)
    oriented = points[:, None] - points[None, :]
    np.testing.assert_array_equal(inference.better, (se > 0) & (oriented > critical * se))


def test_it_declares_a_clear_gap_and_nothing_between_identical_entries():
    rng = np.random.default_rng(1)
    base = 0.6 + 0.01 * rng.normal(size=(1000, 1))
    samples = np.hstack([base, base, 0.8 + 0.01 * rng.normal(size=(1000, 1))])
    points = np.array([0.6, 0.6, 0.8])
    inference = max_t_pairwise(samples, points, higher_is_better=True, n_units=300)
    # Identical columns never differ on a resample: nothing to measure, never declared.
    assert inference.standard_errors[0, 1] == 0.0
    assert not inference.better[0, 1] and not inference.better[1, 0]
    assert inference.better[2, 0] and inference.better[2, 1]


def test_it_declares_in_the_metrics_direction():
    rng = np.random.default_rng(2)
    samples = np.column_stack([0.3 + 0.01 * rng.normal(size=500), 0.6 + 0.01 * rng.normal(size=500)])
    points = np.array([0.3, 0.6])
    lower_is_better = max_t_pairwise(samples, points, higher_is_better=False, n_units=400)
    higher_is_better = max_t_pairwise(samples, points, higher_is_better=True, n_units=400)
    assert lower_is_better.better[0, 1] and not lower_is_better.better[1, 0]
    assert higher_is_better.better[1, 0] and not higher_is_better.better[0, 1]


def test_it_adds_the_squared_difference_to_the_bootstrap_variance():
    # Without the d² / n term the same pair gets a smaller standard error.
    rng = np.random.default_rng(3)
    samples = np.column_stack([0.5 + 0.01 * rng.normal(size=800), 0.55 + 0.01 * rng.normal(size=800)])
    points = np.array([0.5, 0.55])
    centred = max_t_pairwise(samples, points, higher_is_better=True)
    around_zero = max_t_pairwise(samples, points, higher_is_better=True, n_units=100)
    expected = math.sqrt(centred.standard_errors[0, 1] ** 2 + 0.05**2 / 100)
    assert around_zero.standard_errors[0, 1] == pytest.approx(expected, rel=1e-9)


def test_it_declares_nothing_with_a_single_entry():
    inference = max_t_pairwise(np.ones((100, 1)), np.ones(1), higher_is_better=True, n_units=10)
    assert math.isnan(inference.critical_value)
    assert rank_sets(inference)[0].tolist() == [1] and rank_sets(inference)[1].tolist() == [1]
    assert tiers_from_pairs(inference).tolist() == [1]
    assert all(math.isnan(x[0]) for x in difference_to_best(inference))


def hand_built(better, values=None, higher_is_better=True, se=0.02, critical=2.4):
    n_entries = len(better)
    values = np.linspace(1.0, 0.0, n_entries) if values is None else np.asarray(values, dtype=float)
    standard_errors = np.full((n_entries, n_entries), se)
    np.fill_diagonal(standard_errors, 0.0)
    return PairwiseInference(
        differences=values[:, None] - values[None, :],
        standard_errors=standard_errors,
        critical_value=critical,
        better=np.asarray(better, dtype=bool),
        higher_is_better=higher_is_better,
    )


# Entry 0 beats 2, 3 and 4; entry 1 beats 3 and 4; entries 2 and 3 beat 4.
DECLARED = np.zeros((5, 5), dtype=bool)
for winner, loser in [(0, 2), (0, 3), (0, 4), (1, 3), (1, 4), (2, 4), (3, 4)]:
    DECLARED[winner, loser] = True


def test_it_counts_rank_sets_from_declared_pairs():
    lower, upper = rank_sets(hand_built(DECLARED))
    # lower = 1 + #{declared better}, upper = 5 - #{declared worse}.
    assert lower.tolist() == [1, 1, 2, 3, 5]
    assert upper.tolist() == [2, 3, 4, 4, 5]


def test_it_peels_tiers_from_declared_pairs():
    # Nobody beats 0 or 1; among 2, 3, 4 nobody beats 2 or 3; 4 is left.
    assert tiers_from_pairs(hand_built(DECLARED)).tolist() == [1, 1, 2, 2, 3]


def test_it_gives_one_tier_when_nothing_is_declared():
    assert tiers_from_pairs(hand_built(np.zeros((4, 4), dtype=bool))).tolist() == [1, 1, 1, 1]


def test_it_bounds_each_entrys_difference_to_the_best_of_the_others_by_hand():
    # Values 0.8, 0.75, 0.6; every pair has se 0.02 and c = 2.4, so half-width 0.048.
    inference = hand_built(np.zeros((3, 3), dtype=bool), values=[0.8, 0.75, 0.6])
    value, low, high = difference_to_best(inference)
    # Entry 0: min(0.05, 0.2) = 0.05 in [min(0.002, 0.152), min(0.098, 0.248)].
    # Entry 1: min(-0.05, 0.15) in [min(-0.098, 0.102), min(-0.002, 0.198)].
    # Entry 2: min(-0.2, -0.15) in [min(-0.248, -0.198), min(-0.152, -0.102)].
    np.testing.assert_allclose(value, [0.05, -0.05, -0.2])
    np.testing.assert_allclose(low, [0.002, -0.098, -0.248])
    np.testing.assert_allclose(high, [0.098, -0.002, -0.152])


def test_it_turns_the_difference_to_the_best_around_for_lower_is_better_metrics():
    # Losses 0.2, 0.25, 0.4: entry 0 is best; the difference is loss minus the best other loss.
    inference = hand_built(np.zeros((3, 3), dtype=bool), values=[0.2, 0.25, 0.4], higher_is_better=False)
    value, low, high = difference_to_best(inference)
    np.testing.assert_allclose(value, [-0.05, 0.05, 0.2])
    np.testing.assert_allclose(low, [-0.098, 0.002, 0.152])
    np.testing.assert_allclose(high, [-0.002, 0.098, 0.248])


@pytest.mark.parametrize("seed", range(5))
def test_it_puts_exactly_the_entries_whose_interval_reaches_zero_in_tier_one(seed):
    rng = np.random.default_rng(seed)
    truth = np.sort(rng.uniform(0.6, 0.7, size=12))
    samples = truth + 0.01 * rng.normal(size=(1000, 12))
    points = truth + 0.01 * rng.normal(size=12)
    inference = max_t_pairwise(samples, points, higher_is_better=True, n_units=2000)
    _, _, high = difference_to_best(inference)
    tiers = tiers_from_pairs(inference)
    lower, _ = rank_sets(inference)
    np.testing.assert_array_equal(tiers == 1, high >= 0)
    np.testing.assert_array_equal(tiers == 1, lower == 1)
    assert 1 < tiers.max()


def test_it_declares_nothing_when_the_resamples_never_vary():
    # One cluster drawn over and over: every resample equals the data, whatever the gaps.
    points = np.array([0.9, 0.5, 0.1])
    # The resamples are the points up to rounding in the last bits, as a matrix product gives.
    samples = np.tile(np.nextafter(points, [1.0, 0.0, 1.0]), (200, 1))
    inference = max_t_pairwise(samples, points, higher_is_better=True, n_units=1)
    assert not inference.better.any()
    assert rank_sets(inference)[0].tolist() == [1, 1, 1] and rank_sets(inference)[1].tolist() == [3, 3, 3]
    _, low, high = difference_to_best(inference)
    assert np.all(low <= 0) and np.all(high >= 0)
