"""What an open version shows about a released score: Wilson intervals and the 1/n grid."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.released import (
    accuracy_interval,
    mean_interval,
    released_difference,
    released_score,
    round_to_grid_outward,
)
from evaluation.statistics.intervals import design_effect, wilson_interval


def on_grid(value: float, n_items: int) -> bool:
    return abs(value * n_items - round(value * n_items)) < 1e-9


def test_a_released_accuracy_interval_is_the_librarys_wilson_interval_at_the_effective_size():
    rng = np.random.default_rng(2)
    clusters = np.repeat(np.arange(50), 8)
    correct = (rng.random(400) < np.repeat(rng.uniform(0.5, 1.0, 50), 8)).astype(float)
    effective = 400 / float(design_effect(correct, clusters))
    expected = wilson_interval(correct.mean(), effective)
    assert accuracy_interval(correct, clusters) == pytest.approx((float(expected[0]), float(expected[1])))
    plain = accuracy_interval(correct)
    clustered = accuracy_interval(correct, clusters)
    assert clustered[1] - clustered[0] > plain[1] - plain[0]


def test_it_rounds_an_interval_outward_to_the_grid():
    assert round_to_grid_outward(0.1234, 0.5678, 100, (0.0, 1.0)) == pytest.approx((0.12, 0.57))
    assert round_to_grid_outward(-0.0004, 1.0004, 100, (0.0, 1.0)) == (0.0, 1.0)
    # A single grid point becomes an interval one step wide on each side the range allows.
    assert round_to_grid_outward(0.5, 0.5, 10, (0.0, 1.0)) == pytest.approx((0.4, 0.6))
    assert round_to_grid_outward(1.0, 1.0, 10, (0.0, 1.0)) == pytest.approx((0.9, 1.0))


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
            low, high = wilson_interval(correct.mean(), n_items)
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
