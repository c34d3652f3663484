"""What an open version shows about a released score: Wilson intervals and the 1/n grid."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from evaluation.released import (
    accuracy_interval,
    design_effect,
    mean_interval,
    released_difference,
    released_score,
    round_outward,
    wilson_interval,
)
from tests.evaluation.oracles import accuracy_standard_error


def on_grid(value: float, n_items: int) -> bool:
    return abs(value * n_items - round(value * n_items)) < 1e-9


@pytest.mark.parametrize("n_items", [1, 7, 30, 300, 3000])
def test_it_matches_scipy_wilson_interval(n_items):
    for successes in sorted({0, 1, n_items // 3, n_items // 2, n_items - 1, n_items}):
        expected = binomtest(successes, n_items).proportion_ci(0.95, method="wilson")
        low, high = wilson_interval(successes, n_items)
        assert (low, high) == pytest.approx((expected.low, expected.high), abs=1e-12)


def test_it_gives_an_interval_of_positive_width_at_zero_and_full_accuracy():
    for successes in (0, 30):
        low, high = wilson_interval(successes, 30)
        assert 0.0 <= low < high <= 1.0
    assert wilson_interval(30, 30)[1] == 1.0 and wilson_interval(0, 30)[0] == 0.0


def test_it_estimates_the_design_effect_from_the_cluster_totals():
    rng = np.random.default_rng(1)
    clusters = np.repeat(np.arange(80), 6)
    # Items of a cluster share a difficulty: outcomes correlate within clusters.
    correct = (rng.random(480) < np.repeat(rng.uniform(0.4, 1.0, 80), 6)).astype(float)
    p = correct.mean()
    cluster_variance = accuracy_standard_error(correct, clusters) ** 2 * 80 / 79
    assert design_effect(correct, clusters) == pytest.approx(cluster_variance / (p * (1 - p) / 480))
    assert design_effect(correct, clusters) > 1.5
    assert design_effect(correct, None) == 1.0
    assert design_effect(np.ones(480), clusters) == 1.0
    # Clusters that vary less than independent items would are not credited: the floor is 1.
    alternating = np.tile([0.0, 1.0], 240)
    assert design_effect(alternating, np.repeat(np.arange(240), 2)) == 1.0


def test_it_widens_a_clustered_accuracy_interval_to_the_effective_sample_size():
    rng = np.random.default_rng(2)
    clusters = np.repeat(np.arange(50), 8)
    correct = (rng.random(400) < np.repeat(rng.uniform(0.5, 1.0, 50), 8)).astype(float)
    deff = design_effect(correct, clusters)
    effective = 400 / deff
    assert accuracy_interval(correct, clusters) == pytest.approx(wilson_interval(correct.mean() * effective, effective))
    plain = accuracy_interval(correct)
    clustered = accuracy_interval(correct, clusters)
    assert clustered[1] - clustered[0] > plain[1] - plain[0]


def test_it_rounds_an_interval_outward_to_the_grid():
    assert round_outward(0.1234, 0.5678, 100, (0.0, 1.0)) == pytest.approx((0.12, 0.57))
    assert round_outward(-0.0004, 1.0004, 100, (0.0, 1.0)) == (0.0, 1.0)
    # A single grid point becomes an interval one step wide on each side the range allows.
    assert round_outward(0.5, 0.5, 10, (0.0, 1.0)) == pytest.approx((0.4, 0.6))
    assert round_outward(1.0, 1.0, 10, (0.0, 1.0)) == pytest.approx((0.9, 1.0))


def test_a_released_accuracy_lies_on_the_grid_inside_its_interval():
    rng = np.random.default_rng(3)
    for n_items in (30, 161, 300):
        for accuracy in (0.0, 0.5, 0.9, 1.0):
            correct = (rng.random(n_items) < accuracy).astype(float)
            shown = released_score("accuracy", 1.0 - correct)
            assert shown.value == pytest.approx(correct.mean())
            assert all(on_grid(bound, n_items) for bound in (shown.value, shown.ci_low, shown.ci_high))
            assert 0.0 <= shown.ci_low < shown.ci_high <= 1.0
            assert shown.ci_low <= shown.value <= shown.ci_high
            low, high = wilson_interval(correct.sum(), n_items)
            assert shown.ci_low <= low and high <= shown.ci_high


def test_a_released_loss_stays_non_negative_with_an_interval_of_positive_width():
    losses = np.full(50, 0.01)  # every item the same: no spread to build an interval from
    shown = released_score("nll", losses)
    assert shown.value == 0.0 and shown.ci_low == 0.0 and shown.ci_high == pytest.approx(0.02)
    rng = np.random.default_rng(4)
    losses = rng.gamma(1.0, 0.4, 200)
    shown = released_score("brier", losses)
    low, high = mean_interval(losses)
    assert shown.ci_low <= low and high <= shown.ci_high <= 2.0
    assert on_grid(shown.value, 200) and shown.ci_low <= shown.value <= shown.ci_high


def test_a_released_difference_is_the_difference_of_released_values_with_an_outward_interval():
    shown = released_difference("accuracy", 0.62, 0.55, 0.0212, 0.1187, 100)
    assert shown.value == pytest.approx(0.07)
    assert (shown.ci_low, shown.ci_high) == pytest.approx((0.02, 0.12))
    # The interval is widened to hold the difference of the released values.
    assert released_difference("accuracy", 0.62, 0.55, 0.0812, 0.1187, 100).ci_low == pytest.approx(0.07)
    assert released_difference("accuracy", 1.0, 0.0, 0.97, 1.03, 100).ci_high == 1.0


@pytest.mark.parametrize("accuracy", [0.5, 0.9, 0.99, 1.0])
@pytest.mark.parametrize("n_items", [30, 300, 3000])
def test_released_accuracy_intervals_cover_the_true_accuracy(n_items, accuracy):
    rng = np.random.default_rng(n_items)
    simulations = 1000
    covered = 0
    for _ in range(simulations):
        correct = (rng.random(n_items) < accuracy).astype(float)
        shown = released_score("accuracy", 1.0 - correct)
        covered += shown.ci_low <= accuracy <= shown.ci_high
    assert covered / simulations >= 0.93


def test_clustered_accuracy_intervals_cover_only_with_the_design_effect():
    rng = np.random.default_rng(5)
    clusters = np.repeat(np.arange(50), 6)
    simulations, covered, covered_plain = 1500, 0, 0
    for _ in range(simulations):
        # Each cluster's accuracy is drawn from Beta(4, 1), whose mean 0.8 is the true accuracy.
        per_cluster = rng.beta(4.0, 1.0, 50)
        correct = (rng.random(300) < np.repeat(per_cluster, 6)).astype(float)
        shown = released_score("accuracy", 1.0 - correct, clusters)
        plain = released_score("accuracy", 1.0 - correct)
        covered += shown.ci_low <= 0.8 <= shown.ci_high
        covered_plain += plain.ci_low <= 0.8 <= plain.ci_high
    assert covered / simulations >= 0.94
    assert covered_plain / simulations < 0.91
