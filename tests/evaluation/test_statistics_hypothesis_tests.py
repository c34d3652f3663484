"""Pairwise tests, multiplicity corrections and the minimum detectable effect."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from evaluation.statistics import (
    discordant_counts,
    exact_mcnemar,
    holm,
    minimum_detectable_effect,
    paired_bootstrap_p_value,
    pairwise_discordant_counts,
    typical_discordance_rate,
)
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


def test_it_gives_a_paired_bootstrap_p_of_one_for_identical_entries():
    assert paired_bootstrap_p_value(np.zeros(2000)) == 1.0


def test_it_bounds_the_paired_bootstrap_p_by_the_number_of_resamples():
    assert paired_bootstrap_p_value(np.full(999, 0.01)) == pytest.approx(2 / 1000)
    assert paired_bootstrap_p_value(np.full(999, -0.01)) == pytest.approx(2 / 1000)


def test_it_inverts_the_percentile_interval_for_the_paired_bootstrap_p():
    # 30 of 999 differences at or below zero: p = 2 * 31 / 1000.
    differences = np.concatenate([np.full(30, -0.1), np.full(969, 0.2)])
    assert paired_bootstrap_p_value(differences) == pytest.approx(0.062)


def test_it_approximates_the_large_sample_minimum_detectable_effect():
    expected = (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * math.sqrt(0.1 / 1_000_000)
    assert minimum_detectable_effect(1_000_000, 0.1) == pytest.approx(expected, rel=1e-3)


def test_it_gives_a_minimum_detectable_effect_that_mcnemar_detects_with_80_percent_power():
    n_items, discordance = 3000, 0.1
    delta = minimum_detectable_effect(n_items, discordance)
    rng = np.random.default_rng(1)
    discordant = rng.binomial(n_items, discordance, size=4000)
    # Among discordant items, A is the one right with probability (1 + δ/ψ) / 2.
    a_only = rng.binomial(discordant, (1 + delta / discordance) / 2)
    power = np.mean(exact_mcnemar(a_only, discordant - a_only) < 0.05)
    assert 0.75 <= power <= 0.85


def test_it_shrinks_the_minimum_detectable_effect_with_more_items():
    assert minimum_detectable_effect(40_000, 0.1) == pytest.approx(minimum_detectable_effect(10_000, 0.1) / 2, rel=0.01)


def test_it_reports_an_undetectable_effect_as_infinite():
    assert minimum_detectable_effect(1000, 0.0) == math.inf
    assert minimum_detectable_effect(5, 0.2) == math.inf


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
