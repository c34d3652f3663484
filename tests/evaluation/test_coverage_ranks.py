"""Simulated joint coverage of the rank sets and false exclusion from tier 1, under exact ties.

Every simulated board has entries of exactly equal true accuracy on items of shared
difficulty (an item's chance of being right is drawn once and holds for every entry, as real
models agree on easy items). Under a complete tie every rank from 1 to E is a true rank of
every entry, so the rank sets cover jointly exactly when no pair is declared different, and
no entry may be pushed out of tier 1. The board's statistics come from the functions
``rank_leaderboard`` calls, on one resample matrix per 100 boards (the resamples are drawn
independently of the data, so sharing them across boards leaves each board's procedure as it
is); ``test_it_reproduces_rank_leaderboard`` checks that this is what ``rank_leaderboard``
computes.

The procedure's nominal error is exactly 5% under a complete tie, so a simulation measures 5%
give or take its Monte Carlo error. A test passes when the measured rate is not significantly
worse than 5% (one-sided, at the 1% level: at most ``0.05 + 2.33 SE``, about 6.1% for 2000
boards). On the same boards, testing every entry against the data-selected leader with Holm
pushes an equal entry out of tier 1 on 12% of boards with 20 entries and 14% with 40, and
rank intervals from Bonferroni-corrected quantiles of the bootstrap ranks cover jointly on
70% of boards with 5 entries and almost never with 20.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from evaluation.statistics import (
    bootstrap_weights,
    max_t_pairwise,
    rank_leaderboard,
    rank_sets,
    tiers_from_pairs,
)

N_ITEMS = 300
N_RESAMPLES = 2000


def board_statistics(correct: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank sets and tiers of the entries (columns) of ``correct``, as ``rank_leaderboard`` makes them."""
    samples = weights @ correct / weights.sum(axis=1, keepdims=True)
    inference = max_t_pairwise(samples, correct.mean(axis=0), higher_is_better=True, n_units=correct.shape[0])
    lower, upper = rank_sets(inference)
    return lower, upper, tiers_from_pairs(inference)


def tied_board(rng: np.random.Generator, n_entries: int, accuracies=None) -> np.ndarray:
    """``[n, E]`` correctness of entries with equal (or given) true accuracy on shared items."""
    easiness = rng.beta(4.0, 1.0, size=N_ITEMS)
    if accuracies is None:
        chance = np.repeat(easiness[:, None], n_entries, axis=1)
    else:
        # Shift each entry's odds so that its mean chance over the item distribution is its accuracy.
        chance = np.stack([_shifted(easiness, a) for a in accuracies], axis=1)
    return (rng.random((N_ITEMS, n_entries)) < chance).astype(np.float64)


def _shifted(easiness: np.ndarray, accuracy: float) -> np.ndarray:
    # Beta(4, 1) has mean 0.8; a model of accuracy a is right with chance easiness * a / 0.8.
    return np.clip(easiness * accuracy / 0.8, 0.0, 1.0)


def error_rate(n_entries: int, n_simulations: int, seed: int, failed) -> float:
    rng = np.random.default_rng(seed)
    errors = 0
    for start in range(0, n_simulations, 100):
        weights = bootstrap_weights(N_ITEMS, n_resamples=N_RESAMPLES, seed=seed * 1000 + start).astype(np.float64)
        for _ in range(min(100, n_simulations - start)):
            errors += bool(failed(*board_statistics(tied_board(rng, n_entries), weights)))
    return errors / n_simulations


def significantly_above_five_percent(rate: float, n_simulations: int) -> bool:
    return rate > 0.05 + 2.33 * math.sqrt(0.05 * 0.95 / n_simulations)


@pytest.mark.parametrize("n_entries, n_simulations", [(5, 4000), (8, 3000), (20, 2000)])
def test_its_rank_sets_cover_tied_entries_jointly_at_least_95_percent_of_the_time(n_entries, n_simulations):
    def missed(lower, upper, tiers):
        # Under a complete tie each entry's rank set must be [1, E].
        return np.any(lower != 1) or np.any(upper != n_entries)

    rate = error_rate(n_entries, n_simulations, seed=n_entries, failed=missed)
    print(f"{n_entries} tied entries: joint coverage of the rank sets {1 - rate:.4f} ({n_simulations} boards)")
    assert not significantly_above_five_percent(rate, n_simulations)


@pytest.mark.parametrize("n_entries, n_simulations", [(20, 2000), (40, 1000)])
def test_it_pushes_an_equal_entry_out_of_tier_one_at_most_5_percent_of_the_time(n_entries, n_simulations):
    def excluded(lower, upper, tiers):
        return np.any(tiers != 1)

    rate = error_rate(n_entries, n_simulations, seed=100 + n_entries, failed=excluded)
    print(f"{n_entries} equal entries: some entry out of tier 1 in {rate:.4f} of {n_simulations} boards")
    assert not significantly_above_five_percent(rate, n_simulations)


def test_its_rank_sets_cover_the_true_ranks_of_tied_groups():
    # Eight entries in three groups of equal accuracy: 0.70 (three), 0.75 (three), 0.80 (two).
    # An entry's true ranks run from 1 + #{truly better} to E - #{truly worse}.
    accuracies = np.array([0.70, 0.70, 0.70, 0.75, 0.75, 0.75, 0.80, 0.80])
    best = 1 + (accuracies[None, :] > accuracies[:, None]).sum(axis=1)
    worst = 8 - (accuracies[None, :] < accuracies[:, None]).sum(axis=1)
    rng = np.random.default_rng(8)
    n_simulations, missed, separated = 2000, 0, 0
    for start in range(0, n_simulations, 100):
        weights = bootstrap_weights(N_ITEMS, n_resamples=N_RESAMPLES, seed=800 + start).astype(np.float64)
        for _ in range(100):
            lower, upper, _ = board_statistics(tied_board(rng, 8, accuracies), weights)
            missed += bool(np.any(lower > best) or np.any(upper < worst))
            separated += bool(np.any(lower > 1))
    rate = missed / n_simulations
    print(f"three tied groups of 8 entries: joint coverage {1 - rate:.4f}; some order found in {separated} boards")
    assert not significantly_above_five_percent(rate, n_simulations)
    # The sets are not trivially [1, 8]: the gaps between groups are found on most boards.
    assert separated > n_simulations / 2


def test_it_reproduces_rank_leaderboard():
    rng = np.random.default_rng(9)
    correct = tied_board(rng, 6, [0.6, 0.7, 0.7, 0.75, 0.8, 0.8]).astype(bool)
    labels = rng.integers(0, 2, size=N_ITEMS)
    predicted = np.where(correct, labels[:, None], 1 - labels[:, None])
    models = [np.eye(2)[predicted[:, e]] * 0.8 + 0.1 for e in range(6)]
    results = rank_leaderboard(models, labels, metrics=["accuracy"], primary="accuracy", seed=10)
    weights = bootstrap_weights(N_ITEMS, n_resamples=N_RESAMPLES, seed=10).astype(np.float64)
    lower, upper, tiers = board_statistics(correct.astype(np.float64), weights)
    assert [r.rank_lower_simultaneous for r in results] == lower.tolist()
    assert [r.rank_upper_simultaneous for r in results] == upper.tolist()
    assert [r.tier for r in results] == tiers.tolist()
    assert tiers.max() > 1
