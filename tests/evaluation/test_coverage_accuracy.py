"""Simulated coverage of the accuracy intervals the leaderboard publishes.

Each simulation is a model that gets each item right with probability ``p``; its interval comes
from ``rank_leaderboard``, the function the site and the local ``evaluate`` command call, 100
simulated models per call (Wilson's interval of one entry does not depend on the others). The
measured coverage is compared with the exact coverage of Wilson's interval, summed over the
binomial distribution with scipy's own Wilson interval, and with the 0.93 floor.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from evaluation.statistics import rank_leaderboard


def two_class_model(correct: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Probabilities that put 0.9 on the true class where ``correct``, else on the other one."""
    predicted = np.where(correct, labels, 1 - labels)
    probabilities = np.full((labels.shape[0], 2), 0.1)
    probabilities[np.arange(labels.shape[0]), predicted] = 0.9
    return probabilities


def simulated_coverage(truth: float, n_items: int, n_simulations: int, seed: int, clusters=None, draw=None) -> float:
    """Share of ``n_simulations`` models whose published accuracy interval contains ``truth``."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n_items)
    covered = 0
    for batch in range(n_simulations // 100):
        models = [
            two_class_model(rng.random(n_items) < (truth if draw is None else draw(rng)), labels) for _ in range(100)
        ]
        results = rank_leaderboard(
            models,
            labels,
            metrics=["accuracy"],
            primary="accuracy",
            seed=seed * 1000 + batch,
            clusters=clusters,
            n_resamples=100,
        )
        covered += sum(r.metrics["accuracy"].ci_low <= truth <= r.metrics["accuracy"].ci_high for r in results)
    return covered / n_simulations


def exact_wilson_coverage(truth: float, n_items: int) -> float:
    """``Σ_k P(k) [truth in Wilson(k, n)]`` with ``k ~ Binomial(n, truth)``, from scipy's interval."""
    total = 0.0
    for k in range(n_items + 1):
        weight = stats.binom.pmf(k, n_items, truth)
        if weight < 1e-12:
            continue
        interval = stats.binomtest(k, n_items).proportion_ci(0.95, method="wilson")
        total += weight * (interval.low <= truth <= interval.high)
    return total


GRID = [(p, n) for p in (0.5, 0.9, 0.99, 1.0) for n in (30, 300, 3000)]


@pytest.mark.parametrize("truth, n_items", GRID)
def test_it_covers_the_true_accuracy_at_least_93_percent_of_the_time(truth, n_items):
    n_simulations = 2000
    coverage = simulated_coverage(truth, n_items, n_simulations, seed=int(truth * 1000) + n_items)
    exact = exact_wilson_coverage(truth, n_items)
    print(f"p={truth} n={n_items}: simulated {coverage:.4f}, exact {exact:.4f}")
    # Wilson's exact coverage at these points is 0.943 to 0.974 (1 at p = 1); the simulation
    # agrees with it within four Monte Carlo standard errors.
    assert exact >= 0.93
    tolerance = 4 * np.sqrt(max(exact * (1 - exact), 1e-4) / n_simulations)
    assert coverage == pytest.approx(exact, abs=tolerance)
    assert coverage >= 0.93
    if truth == 1.0:
        # An entry that gets everything right has an interval that reaches 1, every time.
        assert coverage == 1.0


def clustered_draw(rng: np.random.Generator) -> np.ndarray:
    """Item probabilities shared within 150 clusters of 4 (intra-cluster correlation 0.2, mean 0.8)."""
    return np.repeat(rng.beta(3.2, 0.8, size=150), 4)


def test_it_covers_clustered_accuracy_only_through_the_design_effect():
    # 150 clusters of 4 items whose difficulty is shared: treating the 600 items as
    # independent gives intervals too narrow; the design effect restores the coverage.
    clusters = np.repeat(np.arange(150), 4)
    adjusted = simulated_coverage(0.8, 600, 1000, seed=19, clusters=clusters, draw=clustered_draw)
    ignored = simulated_coverage(0.8, 600, 1000, seed=19, draw=clustered_draw)
    print(f"clustered p=0.8: with the design effect {adjusted:.4f}, without {ignored:.4f}")
    assert 0.93 <= adjusted <= 0.975
    assert ignored < 0.9
