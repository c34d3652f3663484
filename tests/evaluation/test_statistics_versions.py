"""Rank agreement between versions: τ_b against scipy, hand cases, and simulated coverage.

The simulated boards draw each version's items with a logistic difficulty shared by all
entries (``P(right) = σ(θ_e - β_i)``, ``β_i ~ N(0, 1)``), so an entry's true score on a
version is a monotone function of its ``θ`` there and the true τ_b is that of the ``θ``s.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from evaluation.seeds import derive_seed
from evaluation.statistics import bias_corrected_interval, bootstrap_weights, kendall_tau_b, version_agreement
from evaluation.statistics.versions import paired_change

N_ITEMS = 1000
N_RESAMPLES = 1000


def simulated_version(rng: np.random.Generator, theta: np.ndarray, n_items: int = N_ITEMS) -> np.ndarray:
    """``[E, n]`` correctness of entries of ability ``theta`` on freshly drawn items."""
    difficulty = rng.normal(size=n_items)
    chance = special.expit(theta[:, None] - difficulty[None, :])
    return (rng.random(chance.shape) < chance).astype(np.float64)


def with_three_swaps(theta: np.ndarray) -> np.ndarray:
    """Ten abilities with entries 0-1, 4-6 and 8-9 swapped: 5 of 45 pairs reversed, τ_b = 7/9."""
    swapped = theta.copy()
    for a, b in [(0, 1), (4, 6), (8, 9)]:
        swapped[[a, b]] = swapped[[b, a]]
    return swapped


def simulated_boards(theta_old: np.ndarray, theta_new: np.ndarray, n_boards: int, seed: int):
    rng = np.random.default_rng(seed)
    for board in range(n_boards):
        yield version_agreement(
            simulated_version(rng, theta_old),
            simulated_version(rng, theta_new),
            seed=seed * 10_000 + board,
            n_resamples=N_RESAMPLES,
        )


def test_it_matches_scipy_kendall_tau_b_to_the_last_bit_with_ties():
    rng = np.random.default_rng(1)
    for size in [2, 3, 5, 12, 40, 101]:
        for _ in range(20):
            x = rng.integers(0, 4, size=size).astype(float)
            y = rng.integers(0, 6, size=size) + rng.normal(size=size) * rng.integers(0, 2)
            expected = stats.kendalltau(x, y, variant="b").statistic
            if np.isnan(expected):
                assert np.isnan(kendall_tau_b(x, y))
            else:
                assert kendall_tau_b(x, y) == expected


def test_it_computes_tau_b_with_ties_by_hand():
    # Pairs (i, j): (0,1) tied in x; (1,2) tied in y; the other four concordant.
    # τ_b = (4 - 0) / sqrt(6 - 1) / sqrt(6 - 1) = 0.8.
    assert kendall_tau_b(np.array([1.0, 1.0, 2.0, 3.0]), np.array([1.0, 2.0, 2.0, 3.0])) == pytest.approx(0.8)
    # One discordant pair of six, no ties: (5 - 1) / 6.
    assert kendall_tau_b(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 3.0, 2.0, 4.0])) == pytest.approx(2 / 3)


def test_it_has_no_tau_when_one_version_scores_every_entry_alike():
    assert np.isnan(kendall_tau_b(np.array([0.5, 0.5, 0.5]), np.array([0.1, 0.2, 0.3])))


def test_its_marginal_interval_is_the_bias_corrected_interval_of_scipys_tau_on_each_resample():
    rng = np.random.default_rng(2)
    theta = np.linspace(-0.5, 0.5, 6)
    old, new = simulated_version(rng, theta, 200), simulated_version(rng, theta[::-1], 150)
    result = version_agreement(old, new, seed=7, n_resamples=300)

    old_weights = bootstrap_weights(200, n_resamples=300, seed=derive_seed("7", "old-version")).astype(float)
    new_weights = bootstrap_weights(150, n_resamples=300, seed=derive_seed("7", "new-version")).astype(float)
    old_samples = old_weights @ old.T / old_weights.sum(axis=1, keepdims=True)
    new_samples = new_weights @ new.T / new_weights.sum(axis=1, keepdims=True)
    taus = np.array(
        [stats.kendalltau(a, b, variant="b").statistic for a, b in zip(old_samples, new_samples, strict=True)]
    )
    point = stats.kendalltau(old.mean(axis=1), new.mean(axis=1), variant="b").statistic
    low, high = bias_corrected_interval(taus[np.isfinite(taus)], point)

    assert result.tau_marginal.value == point
    assert result.tau_marginal.ci_low == pytest.approx(low, abs=1e-12)
    assert result.tau_marginal.ci_high == pytest.approx(high, abs=1e-12)


def test_it_settles_every_pair_of_well_separated_entries_in_the_same_order():
    # Accuracies 0.2, 0.5 and 0.8 on 400 items of each version: every pair is declared.
    old = np.zeros((3, 400))
    new = np.zeros((3, 400))
    for e, share in enumerate([0.2, 0.5, 0.8]):
        old[e, : int(400 * share)] = 1.0
        new[e, 400 - int(400 * share) :] = 1.0
    result = version_agreement(old, new, seed=3)

    assert (result.concordant, result.undetermined, result.flipped) == (3, 0, ())
    assert (result.tau.value, result.tau.ci_low, result.tau.ci_high) == (1.0, 1.0, 1.0)
    np.testing.assert_array_equal(result.old_ranks, [3, 2, 1])
    np.testing.assert_array_equal(result.new_ranks, [3, 2, 1])


def test_it_lists_a_reversal_beyond_the_noise_of_both_versions_as_a_flip():
    old = np.zeros((3, 500))
    new = np.zeros((3, 500))
    old[0, :450], old[1, :250], old[2, :100] = 1.0, 1.0, 1.0
    new[0, :250], new[1, :450], new[2, :100] = 1.0, 1.0, 1.0
    result = version_agreement(old, new, seed=4)

    assert len(result.flipped) == 1
    pair = result.flipped[0]
    assert (pair.ahead_before, pair.ahead_after) == (0, 1)
    assert pair.old_difference.value == pytest.approx(0.4)
    assert pair.old_difference.ci_low > 0
    assert pair.new_difference.value == pytest.approx(-0.4)
    assert pair.new_difference.ci_high < 0
    # Two pairs kept their order, one flipped: τ = (2 - 1) / 3 exactly, with nothing undetermined.
    assert (result.concordant, result.undetermined) == (2, 0)
    assert (result.tau.value, result.tau.ci_low, result.tau.ci_high) == pytest.approx((1 / 3, 1 / 3, 1 / 3))


def test_it_does_not_count_a_reversal_within_the_noise_as_a_flip():
    rng = np.random.default_rng(5)
    old = (rng.random((2, 500)) < 0.7).astype(float)
    new = old.copy()
    # Entry 1 gains two items on the new version and entry 0 loses two: the order reverses
    # by four items in 500, far inside the noise.
    old[1] = old[0]
    old[1, np.flatnonzero(old[0] == 1)[:2]] = 0.0
    new[1] = old[0]
    new[0, np.flatnonzero(old[0] == 1)[:2]] = 0.0
    result = version_agreement(old, new, seed=6)

    assert result.tau.value == -1.0
    assert result.flipped == ()
    assert result.undetermined == 1
    assert (result.tau.ci_low, result.tau.ci_high) == (-1.0, 1.0)


def test_it_ranks_losses_with_the_lowest_first():
    old = np.array([[0.9, 1.1], [0.2, 0.4], [0.5, 0.5]])
    new = np.array([[0.3], [0.1], [0.2]])
    result = version_agreement(old, new, seed=8, n_resamples=200, higher_is_better=False)
    np.testing.assert_array_equal(result.old_ranks, [3, 1, 2])
    np.testing.assert_array_equal(result.new_ranks, [3, 1, 2])


def test_it_refuses_versions_scored_on_different_entries():
    with pytest.raises(ValueError, match="same entries"):
        version_agreement(np.zeros((3, 10)), np.zeros((4, 10)), seed=1)
    with pytest.raises(ValueError, match="at least two entries"):
        version_agreement(np.zeros((1, 10)), np.zeros((1, 10)), seed=1)
    with pytest.raises(ValueError, match="missing or infinite"):
        version_agreement(np.array([[0.0, np.nan], [1.0, 1.0]]), np.zeros((2, 3)), seed=1)


@pytest.mark.parametrize(
    "spread, swapped",
    [(0.3, False), (0.3, True), (1.0, False), (1.0, True), (2.0, True)],
)
def test_its_tau_interval_covers_the_true_rank_correlation(spread, swapped):
    # 150 boards of 10 entries whose neighbours differ by 2 × spread / 9 in logit ability.
    theta_old = np.linspace(-spread, spread, 10)
    theta_new = with_three_swaps(theta_old) if swapped else theta_old
    true_tau = stats.kendalltau(theta_old, theta_new).statistic
    boards = list(simulated_boards(theta_old, theta_new, 150, seed=int(spread * 10) + swapped))
    covered = np.mean([b.tau.ci_low <= true_tau <= b.tau.ci_high for b in boards])
    assert covered >= 0.95


def test_it_lists_no_flipped_pair_when_no_order_changed_on_nearly_every_board():
    # Neighbours a third of a logit apart: close enough that the noise reverses some pairs
    # on single boards, far enough that many pairs are declared on each version.
    theta = np.linspace(-1.5, 1.5, 10)
    boards = list(simulated_boards(theta, theta, 150, seed=41))
    assert np.mean([bool(b.flipped) for b in boards]) <= 0.05
    assert np.mean([b.concordant for b in boards]) > 30


def test_it_finds_most_of_the_real_flips_between_well_separated_entries():
    theta = np.linspace(-3.0, 3.0, 10)
    boards = list(simulated_boards(theta, with_three_swaps(theta), 40, seed=42))
    found = [{(p.ahead_before, p.ahead_after) for p in b.flipped} for b in boards]
    real = {(1, 0), (6, 4), (9, 8), (5, 4), (6, 5)}
    assert all(pairs <= real for pairs in found)
    assert np.mean([len(pairs) for pairs in found]) >= 3


def test_the_bootstrap_interval_of_tau_alone_misses_a_perfect_agreement_between_close_entries():
    # Why ``tau`` is read off the pairs: the noise pulls τ̂ and its resamples below a true τ
    # of 1, and the bias correction does not make up for it, so the marginal interval covers
    # it on few boards, while it does cover when the entries are far apart.
    close = np.linspace(-0.3, 0.3, 10)
    boards = list(simulated_boards(close, close, 60, seed=43))
    assert np.mean([b.tau_marginal.ci_high >= 1.0 for b in boards]) < 0.5
    apart = np.linspace(-2.0, 2.0, 10)
    true_tau = stats.kendalltau(apart, with_three_swaps(apart)).statistic
    boards = list(simulated_boards(apart, with_three_swaps(apart), 60, seed=44))
    assert np.mean([b.tau_marginal.ci_low <= true_tau <= b.tau_marginal.ci_high for b in boards]) >= 0.9


def test_paired_change_of_identical_outcomes_is_exactly_zero():
    outcomes = np.random.default_rng(0).random(300) < 0.8
    assert paired_change(outcomes, outcomes.copy(), seed=1).to_dict() == {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0}


def test_paired_change_is_the_mean_difference_and_a_change_on_one_item_still_reaches_zero():
    old = np.ones(200)
    new = old.copy()
    new[7] = 0.0
    change = paired_change(old, new, seed=2, n_resamples=2000)
    assert change.value == pytest.approx(-1 / 200)
    # The item is left out of more than 2.5% of the resamples ((1 - 1/n)^n ≈ e^-1), so 0 is inside.
    assert change.ci_low < 0 and change.ci_high == 0.0


def test_paired_change_intervals_cover_the_true_change_in_95_percent_of_simulations():
    rng = np.random.default_rng(11)
    n_items, flip_rate, repetitions = 400, 0.05, 300
    # Each item correct before with probability 0.8; a correct item turns wrong with probability
    # 0.05 after, so the true mean change is -0.8 * 0.05 = -0.04.
    truth = -0.8 * flip_rate
    covered = 0
    for repetition in range(repetitions):
        old = (rng.random(n_items) < 0.8).astype(float)
        new = old * (rng.random(n_items) >= flip_rate)
        change = paired_change(old, new, seed=repetition, n_resamples=1000)
        covered += change.ci_low <= truth <= change.ci_high
    assert 0.92 <= covered / repetitions <= 0.98
