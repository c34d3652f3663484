"""Wilson's interval, the design effect of clusters, and rounding intervals outward."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from evaluation.statistics import (
    Interval,
    accuracy_intervals,
    design_effect,
    round_outward,
    wilson_interval,
)
from tests.evaluation import oracles


@pytest.mark.parametrize("successes, n", [(0, 1), (0, 10), (3, 10), (30, 30), (50, 100), (980, 1000), (2999, 3000)])
def test_it_matches_scipy_wilson_interval(successes, n):
    expected = stats.binomtest(successes, n).proportion_ci(0.95, method="wilson")
    low, high = wilson_interval(successes / n, n)
    assert low == pytest.approx(expected.low, abs=1e-12)
    assert high == pytest.approx(expected.high, abs=1e-12)


def test_it_matches_the_closed_form_at_another_confidence():
    low, high = wilson_interval(0.3, 40, confidence=0.9)
    assert (low, high) == pytest.approx(oracles.wilson_interval(12, 40, confidence=0.9), abs=1e-12)


@pytest.mark.parametrize("n", [1, 30, 3000, 10**7])
def test_it_reaches_exactly_one_and_never_collapses_at_the_boundary(n):
    low, high = wilson_interval(1.0, n)
    assert high == 1.0 and low < 1.0
    low, high = wilson_interval(0.0, n)
    assert low == 0.0 and high > 0.0


def test_it_vectorises_over_entries_and_accepts_an_effective_number_of_items():
    p = np.array([0.2, 0.5, 0.99])
    low, high = wilson_interval(p, np.array([10.0, 37.5, 80.0]))
    for k, (pk, nk) in enumerate(zip(p, [10.0, 37.5, 80.0], strict=True)):
        z = stats.norm.ppf(0.975)
        center = (pk + z * z / (2 * nk)) / (1 + z * z / nk)
        half = z / (1 + z * z / nk) * np.sqrt(pk * (1 - pk) / nk + z * z / (4 * nk * nk))
        assert (low[k], high[k]) == pytest.approx((center - half, center + half), abs=1e-12)


def test_it_refuses_an_empty_sample_or_a_proportion_outside_zero_and_one():
    with pytest.raises(ValueError, match="n > 0"):
        wilson_interval(0.5, 0)
    with pytest.raises(ValueError, match="proportion"):
        wilson_interval(1.2, 10)


def test_it_finds_no_design_effect_for_singleton_clusters():
    values = (np.random.default_rng(1).random(300) < 0.6).astype(float)
    assert float(design_effect(values, np.arange(300))) == pytest.approx(1.0, abs=1e-12)


def test_it_computes_the_design_effect_by_hand():
    # Two clusters {0, 1} and {2, 3}; values 1, 1, 0, 1: mean 0.75, residuals .25 .25 -.75 .25.
    # Cluster totals 0.5 and -0.5; between = 2/1 * 0.5 = 1; within = 4/3 * 0.75 = 1 -> deff 1.
    values = np.array([1.0, 1.0, 0.0, 1.0])
    assert float(design_effect(values, np.array([0, 0, 1, 1]))) == pytest.approx(1.0)
    # Three clusters {0, 1}, {2}, {3}: totals 0.5, -0.75, 0.25; between = 3/2 * 0.875 = 1.3125.
    assert float(design_effect(values, np.array([5, 5, 7, 9]))) == pytest.approx(1.3125)


def test_it_counts_clusters_that_move_together_as_one_item_each():
    # 40 clusters of 5 items, each all right or all wrong: about 5 items per independent one.
    values = np.repeat(np.arange(40) % 4 != 0, 5).astype(float)
    effect = float(design_effect(values, np.repeat(np.arange(40), 5)))
    assert effect == pytest.approx(5 * (40 / 39) / (200 / 199))


def test_it_agrees_with_the_cluster_robust_standard_error():
    rng = np.random.default_rng(2)
    sizes = rng.integers(1, 9, size=300)
    clusters = np.repeat(np.arange(300), sizes)
    correct = rng.random(clusters.shape[0]) < np.repeat(rng.beta(4, 1, size=300), sizes)
    n = correct.shape[0]
    robust = oracles.accuracy_standard_error(correct, clusters) ** 2 * 300 / 299
    plain = oracles.accuracy_standard_error(correct) ** 2 * n / (n - 1)
    assert float(design_effect(correct, clusters)) == pytest.approx(robust / plain, rel=1e-10)


def test_it_floors_the_design_effect_at_one_and_handles_a_constant_or_a_single_cluster():
    # Clusters that disagree inside and agree between would give a ratio below 1.
    values = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0])
    assert float(design_effect(values, np.array([0, 0, 1, 1, 2, 2]))) == 1.0
    assert float(design_effect(np.ones(6), np.array([0, 0, 1, 1, 2, 2]))) == 1.0
    assert float(design_effect(values, np.zeros(6))) == 6.0


def test_it_gives_one_design_effect_per_entry():
    rng = np.random.default_rng(3)
    clusters = np.repeat(np.arange(50), 4)
    columns = rng.random((200, 3)) < 0.7
    effects = design_effect(columns, clusters)
    assert effects.shape == (3,)
    for e in range(3):
        assert effects[e] == pytest.approx(float(design_effect(columns[:, e], clusters)))


def test_it_widens_clustered_accuracy_intervals_by_the_design_effect():
    rng = np.random.default_rng(4)
    clusters = np.repeat(np.arange(60), 5)
    correct = rng.random(300) < np.repeat(rng.beta(3, 1, size=60), 5)
    low, high = accuracy_intervals(correct, clusters)
    effective = 300 / float(design_effect(correct, clusters))
    assert effective < 250
    assert (float(low), float(high)) == pytest.approx(
        tuple(float(x) for x in wilson_interval(correct.mean(), effective)), abs=1e-12
    )
    plain_low, plain_high = accuracy_intervals(correct)
    assert low < plain_low and high > plain_high


def test_it_rounds_interval_ends_outward_onto_the_grid():
    rounded = round_outward(Interval(0.5, 0.3333, 0.6667), 0.01)
    assert (rounded.value, rounded.ci_low, rounded.ci_high) == (0.5, 0.33, 0.67)
    # Rounding to the nearest grid point would give 0.34 and 0.66 here, inside the interval.
    rounded = round_outward(Interval(0.5, 0.3391, 0.6609), 0.01)
    assert (rounded.ci_low, rounded.ci_high) == (0.33, pytest.approx(0.67))


def test_it_keeps_ends_already_on_the_grid():
    rounded = round_outward(Interval(0.5, 0.3, 0.7), 0.1)
    assert (rounded.ci_low, rounded.ci_high) == (0.3, 0.7)


@pytest.mark.parametrize("n", [7, 30, 49, 301, 1000, 10_000])
def test_it_never_narrows_an_interval_and_stays_in_bounds(n):
    rng = np.random.default_rng(n)
    for _ in range(300):
        low, high = np.sort(rng.random(2))
        value = rng.uniform(low, high)
        rounded = round_outward(Interval(value, low, high), 1 / n, bounds=(0.0, 1.0))
        assert 0.0 <= rounded.ci_low <= low <= value <= high <= rounded.ci_high <= 1.0
        assert high - low <= rounded.ci_high - rounded.ci_low < high - low + 2.0 / n + 1e-12
    # The top end of an accuracy interval, 1, stays 1 although n * (1 / n) need not be 1.
    assert round_outward(Interval(1.0, 0.9, 1.0), 1 / n, bounds=(0.0, 1.0)).ci_high == 1.0


def test_it_refuses_a_step_that_is_not_positive():
    with pytest.raises(ValueError, match="step"):
        round_outward(Interval(0.5, 0.4, 0.6), 0.0)
