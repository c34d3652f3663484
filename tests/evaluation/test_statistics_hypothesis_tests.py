"""Pairwise tests, multiplicity corrections and the minimum detectable effect."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from evaluation.statistics import (
    bootstrap_weights,
    bootstrap_z_p_value,
    discordant_counts,
    exact_mcnemar,
    holm,
    mcnemar_power,
    minimum_detectable_effect,
    pairwise_discordant_counts,
    typical_design_effect,
    typical_discordance_rate,
)
from evaluation.statistics.intervals import design_effect
from tests.evaluation.oracles import benjamini_hochberg


def test_it_counts_the_discordant_items():
    a = np.array([1, 1, 0, 0, 1, 0], dtype=bool)
    b = np.array([1, 0, 1, 0, 0, 0], dtype=bool)
    assert discordant_counts(a, b) == (2, 1)


@pytest.mark.parametrize("n_items", [1, 63, 64, 65, 1000])
def test_it_counts_discordant_items_for_every_pair_of_entries(n_items):
    correct = np.random.default_rng(n_items).random((n_items, 5)) < 0.6
    counts = pairwise_discordant_counts(correct)
    for e in range(5):
        for f in range(5):
            expected = int(np.sum(correct[:, e] & ~correct[:, f]))
            assert counts[e, f] == expected


@pytest.mark.parametrize("b, c", [(0, 1), (0, 5), (7, 3), (3, 7), (10, 10), (50, 80), (1, 30), (123, 97), (400, 460)])
def test_it_matches_scipy_binomtest_for_exact_mcnemar(b, c):
    expected = stats.binomtest(b, b + c, 0.5).pvalue
    assert exact_mcnemar(b, c) == pytest.approx(expected, rel=1e-10)


def test_it_gives_mcnemar_p_one_without_discordant_items():
    assert exact_mcnemar(0, 0) == 1.0


def test_it_vectorises_exact_mcnemar():
    b = np.array([0, 4, 20])
    c = np.array([0, 9, 35])
    expected = [1.0] + [stats.binomtest(x, x + y).pvalue for x, y in [(4, 9), (20, 35)]]
    np.testing.assert_allclose(exact_mcnemar(b, c), expected, rtol=1e-10)


def test_it_adjusts_p_values_by_holm_on_a_hand_computed_case():
    # Sorted: 0.005 * 4 = 0.02, 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 = 0.04 -> 0.06 (the
    # running maximum keeps the adjusted values monotone).
    adjusted = holm(np.array([0.01, 0.04, 0.03, 0.005]))
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])


def test_it_caps_holm_at_one_and_handles_an_empty_family():
    np.testing.assert_allclose(holm(np.array([0.5, 0.6])), [1.0, 1.0])
    assert holm(np.array([])).shape == (0,)


@pytest.mark.parametrize("seed", range(4))
def test_it_matches_scipy_benjamini_hochberg(seed):
    rng = np.random.default_rng(seed)
    p_values = np.concatenate([rng.random(20) ** 3, [0.01, 0.01, 1.0]])
    expected = stats.false_discovery_control(p_values, method="bh")
    np.testing.assert_allclose(benjamini_hochberg(p_values), expected, rtol=1e-12)


def test_it_adjusts_p_values_by_benjamini_hochberg_on_a_hand_computed_case():
    # m = 4, sorted 0.01, 0.02, 0.03, 0.5 -> 0.04, 0.04, 0.04, 0.5.
    adjusted = benjamini_hochberg(np.array([0.5, 0.03, 0.01, 0.02]))
    np.testing.assert_allclose(adjusted, [0.5, 0.04, 0.04, 0.04])


def test_it_studentizes_the_difference_by_its_bootstrap_standard_error():
    differences = np.array([0.01, 0.03, 0.02, 0.04, 0.00])
    z = 0.02 / np.std(differences, ddof=1)
    assert bootstrap_z_p_value(differences, 0.02) == pytest.approx(2 * stats.norm.sf(z), rel=1e-12)
    assert bootstrap_z_p_value(differences, -0.02) == pytest.approx(2 * stats.norm.sf(z), rel=1e-12)


def test_it_gives_p_values_far_below_the_resampling_floor():
    # All 2000 resamples on one side: a counted p-value could go no lower than 2 / 2001.
    differences = np.random.default_rng(1).normal(0.06, 0.01, size=2000)
    p_value = bootstrap_z_p_value(differences, 0.06)
    assert 0 < p_value < 1e-8
    assert p_value < 0.05 / 1000 / 100


def test_it_gives_a_p_of_one_when_the_resamples_never_vary():
    assert bootstrap_z_p_value(np.zeros(2000), 0.0) == 1.0
    assert bootstrap_z_p_value(np.full(2000, 0.3), 0.3) == 1.0


def test_it_vectorises_the_studentized_p_value():
    rng = np.random.default_rng(2)
    differences = rng.normal(size=(500, 3)) * [0.01, 0.02, 0.03]
    points = np.array([0.0, 0.03, -0.05])
    p_values = bootstrap_z_p_value(differences, points)
    for k in range(3):
        assert p_values[k] == pytest.approx(bootstrap_z_p_value(differences[:, k], points[k]))


def test_it_rejects_a_true_null_about_as_often_as_its_level():
    # Paired per-item differences with mean 0; one resample matrix serves every simulation.
    rng = np.random.default_rng(3)
    weights = bootstrap_weights(200, n_resamples=1000, seed=4).astype(np.float64)
    p_values = []
    for _ in range(2000):
        per_item = rng.normal(size=200)
        p_values.append(bootstrap_z_p_value(weights @ per_item / 200, per_item.mean()))
    rejected = np.mean(np.array(p_values) < 0.05)
    # 2000 simulations: the Monte Carlo standard error of a 5% rate is 0.5 points.
    assert 0.035 <= rejected <= 0.065


def brute_force_power(n_items, discordance, difference, level):
    """Power of scipy's exact binomial test, summed over every (b, c) a multinomial allows."""
    share = (1 + difference / discordance) / 2
    probabilities = [discordance * share, discordance * (1 - share), 1 - discordance]
    power = 0.0
    for b in range(n_items + 1):
        for c in range(n_items + 1 - b):
            if b + c and stats.binomtest(b, b + c).pvalue <= level:
                power += stats.multinomial.pmf([b, c, n_items - b - c], n_items, probabilities)
    return power


@pytest.mark.parametrize(
    "n_items, discordance, difference, level",
    [(12, 0.5, 0.25, 0.05), (20, 0.3, 0.1, 0.05), (25, 0.6, 0.3, 0.01), (15, 0.4, 0.0, 0.05)],
)
def test_it_computes_the_exact_power_of_mcnemar_like_a_brute_force_sum(n_items, discordance, difference, level):
    expected = brute_force_power(n_items, discordance, difference, level)
    assert mcnemar_power(n_items, discordance, difference, level=level) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("family_size", [1, 19])
def test_it_gives_a_minimum_detectable_effect_that_mcnemar_detects_with_80_percent_power(family_size):
    n_items, discordance = 3000, 0.1
    level = 0.05 / family_size
    delta = minimum_detectable_effect(n_items, discordance, family_size=family_size)
    rng = np.random.default_rng(family_size)
    discordant = rng.binomial(n_items, discordance, size=6000)
    # Among discordant items, A is the one right with probability (1 + δ/ψ) / 2.
    a_only = rng.binomial(discordant, (1 + delta / discordance) / 2)
    power = np.mean(exact_mcnemar(a_only, discordant - a_only) <= level)
    # 6000 simulations: the Monte Carlo standard error of an 80% rate is 0.5 points.
    assert 0.785 <= power <= 0.815


def test_it_finds_the_smallest_difference_with_the_power_asked_for():
    delta = minimum_detectable_effect(2000, 0.15, family_size=9)
    assert mcnemar_power(2000, 0.15, delta, level=0.05 / 9) >= 0.8
    assert mcnemar_power(2000, 0.15, delta * (1 - 1e-4), level=0.05 / 9) < 0.8


def test_it_approximates_the_large_sample_minimum_detectable_effect():
    for family_size in [1, 39]:
        z = stats.norm.ppf(1 - 0.05 / family_size / 2) + stats.norm.ppf(0.8)
        expected = z * math.sqrt(0.1 / 1_000_000)
        assert minimum_detectable_effect(1_000_000, 0.1, family_size=family_size) == pytest.approx(expected, rel=2e-3)


def test_it_raises_the_minimum_detectable_effect_with_the_holm_level_and_clusters():
    plain = minimum_detectable_effect(5000, 0.1)
    assert minimum_detectable_effect(5000, 0.1, family_size=19) > 1.3 * plain
    # A design effect of 2 leaves half as many independent items.
    assert minimum_detectable_effect(5000, 0.1, design_effect=2.0) == minimum_detectable_effect(2500, 0.1)
    assert minimum_detectable_effect(5001, 0.1, design_effect=2.0) == minimum_detectable_effect(2500, 0.1)


def test_it_shrinks_the_minimum_detectable_effect_with_more_items():
    assert minimum_detectable_effect(40_000, 0.1) == pytest.approx(minimum_detectable_effect(10_000, 0.1) / 2, rel=0.01)


def test_it_reports_an_undetectable_effect_as_infinite():
    assert minimum_detectable_effect(1000, 0.0) == math.inf
    # Five items: even all discordant items going one way (2 * 0.5^m <= 0.05 needs m >= 6).
    assert minimum_detectable_effect(5, 0.2) == math.inf
    assert minimum_detectable_effect(5, 1.0) == math.inf


def test_it_refuses_a_family_or_design_effect_below_one():
    with pytest.raises(ValueError, match="family_size"):
        minimum_detectable_effect(100, 0.1, family_size=0)
    with pytest.raises(ValueError, match="design_effect"):
        minimum_detectable_effect(100, 0.1, design_effect=0.5)


def test_it_takes_the_median_discordance_over_pairs():
    correct = np.array(
        [
            [1, 1, 0],
            [1, 0, 0],
            [0, 0, 1],
            [1, 1, 1],
        ]
    )
    # Pairs (0, 1): 1 of 4 items differ; (0, 2): 3; (1, 2): 2 -> median 2 / 4.
    assert typical_discordance_rate(correct) == pytest.approx(0.5)
    assert math.isnan(typical_discordance_rate(correct[:, :1]))


def test_it_takes_the_median_design_effect_of_the_pairs_differences():
    rng = np.random.default_rng(5)
    clusters = np.repeat(np.arange(50), 4)
    # Entries 0 and 1 disagree on whole clusters, 2 on single items.
    correct = np.stack(
        [
            np.repeat(rng.random(50) < 0.7, 4),
            np.repeat(rng.random(50) < 0.7, 4),
            rng.random(200) < 0.7,
        ],
        axis=1,
    ).astype(float)
    pairs = [float(design_effect(correct[:, e] - correct[:, f], clusters)) for e, f in [(0, 1), (0, 2), (1, 2)]]
    assert typical_design_effect(correct, clusters) == pytest.approx(np.median(pairs))
    assert max(pairs) > 3
    assert typical_design_effect(correct[:, :1], clusters) == 1.0
