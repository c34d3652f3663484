"""The two-parameter logistic item fit: recovery, calibration, flags, and an independent optimiser.

Simulated entries answer ``P(right) = σ(a_i (θ_e − b_i))``. The model only knows abilities up
to location and scale, so the true parameters are compared on the fit's scale: with ``m``
and ``s`` the mean and standard deviation of the true abilities, ``θ' = (θ − m) / s``,
``a' = a s`` and ``b' = (b − m) / s`` are the truth the fit estimates.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import optimize, special

from evaluation.statistics import ItemResponseFit, fit_two_parameter_logistic

N_ENTRIES = 100
N_ITEMS = 2000
N_NEGATIVE = 20


@functools.cache
def simulated_fit() -> tuple[np.ndarray, np.ndarray, np.ndarray, ItemResponseFit]:
    """100 entries × 2,000 items; the last 20 items have a slope of −1.5, as a wrong label gives."""
    rng = np.random.default_rng(11)
    ability = rng.normal(size=N_ENTRIES)
    difficulty = rng.normal(size=N_ITEMS)
    slope = rng.uniform(0.5, 2.0, size=N_ITEMS)
    slope[-N_NEGATIVE:] = -1.5
    chance = special.expit(slope * (ability[:, None] - difficulty))
    responses = (rng.random(chance.shape) < chance).astype(np.int8)
    centre, scale = ability.mean(), ability.std()
    return (
        (ability - centre) / scale,
        slope * scale,
        (difficulty - centre) / scale,
        fit_two_parameter_logistic(responses),
    )


def test_it_recovers_simulated_difficulties_and_discriminations():
    ability, slope, difficulty, fit = simulated_fit()
    assert fit.converged
    fitted = ~np.isnan(fit.difficulty)
    assert fitted.sum() >= N_ITEMS - 5
    assert np.corrcoef(fit.difficulty[fitted], difficulty[fitted])[0, 1] >= 0.9
    # Each slope rests on 100 answers (standard error about 0.3 against a spread of 0.45 in
    # the true slopes), so a correlation near 0.8 is what the data allow.
    labelled = fitted[:-N_NEGATIVE]
    assert np.corrcoef(fit.discrimination[:-N_NEGATIVE][labelled], slope[:-N_NEGATIVE][labelled])[0, 1] >= 0.7
    assert abs(np.mean(fit.discrimination[:-N_NEGATIVE][labelled] - slope[:-N_NEGATIVE][labelled])) < 0.1
    assert np.corrcoef(fit.ability, ability)[0, 1] >= 0.99


def test_its_standard_errors_give_intervals_that_cover_about_95_percent_of_the_true_parameters():
    _, slope, difficulty, fit = simulated_fit()
    fitted = ~np.isnan(fit.difficulty)
    slope_covered = np.abs(fit.discrimination - slope)[fitted] <= 1.96 * fit.discrimination_se[fitted]
    difficulty_covered = np.abs(fit.difficulty - difficulty)[fitted] <= 1.96 * fit.difficulty_se[fitted]
    assert 0.92 <= slope_covered.mean() <= 0.98
    assert 0.92 <= difficulty_covered.mean() <= 0.98


def test_it_flags_items_that_better_entries_get_wrong_more_often_as_possibly_mislabelled():
    _, _, _, fit = simulated_fit()
    assert fit.negative_discrimination[-N_NEGATIVE:].mean() >= 0.9
    assert fit.negative_discrimination[:-N_NEGATIVE].mean() <= 0.01
    np.testing.assert_array_equal(fit.possibly_mislabelled, fit.negative_discrimination | fit.all_wrong)


def test_its_abilities_have_mean_zero_and_standard_deviation_one():
    _, _, _, fit = simulated_fit()
    assert fit.ability.mean() == pytest.approx(0.0, abs=1e-9)
    assert fit.ability.std() == pytest.approx(1.0, abs=1e-9)


def test_it_sets_items_every_entry_gets_right_or_wrong_aside_and_keeps_a_separating_item_finite():
    rng = np.random.default_rng(12)
    ability = rng.normal(size=30)
    responses = (rng.random((30, 200)) < special.expit(ability[:, None] - rng.normal(size=200))).astype(int)
    responses[:, 0] = 1
    responses[:, 1] = 0
    # Item 2 separates the entries perfectly: the maximum likelihood slope is infinite.
    responses[:, 2] = (ability > np.median(ability)).astype(int)
    fit = fit_two_parameter_logistic(responses)

    assert fit.converged
    assert (fit.all_correct[0], fit.all_wrong[1]) == (True, True)
    assert fit.possibly_mislabelled[1] and not fit.possibly_mislabelled[0]
    assert np.isnan([fit.difficulty[0], fit.discrimination[1], fit.difficulty_se[1]]).all()
    assert np.isfinite([fit.discrimination[2], fit.discrimination_se[2], fit.difficulty[2]]).all()
    assert fit.discrimination[2] > 2.0
    assert np.isfinite(fit.difficulty[3:]).all() and np.isfinite(fit.ability).all()


@pytest.mark.parametrize("seed", [3, 15])
def test_it_converges_in_tens_of_rounds_even_with_items_that_barely_discriminate(seed):
    # With seed 3 one item rests at a slope of -0.29 and a difficulty of -4, on a ridge where
    # only their product is pinned down; scoring steps alone took 161 rounds to settle it.
    rng = np.random.default_rng(seed)
    ability = rng.normal(size=N_ENTRIES)
    difficulty = rng.normal(size=N_ITEMS)
    slope = rng.uniform(0.5, 2.0, size=N_ITEMS)
    responses = (rng.random((N_ENTRIES, N_ITEMS)) < special.expit(slope * (ability[:, None] - difficulty))).astype(int)
    fit = fit_two_parameter_logistic(responses)
    assert fit.converged
    assert fit.iterations <= 40


def test_it_fits_a_version_with_only_ten_entries():
    rng = np.random.default_rng(13)
    ability = rng.normal(size=10)
    responses = (rng.random((10, N_ITEMS)) < special.expit(ability[:, None] - rng.normal(size=N_ITEMS))).astype(int)
    fit = fit_two_parameter_logistic(responses)
    assert fit.converged
    fitted = ~(fit.all_correct | fit.all_wrong)
    assert np.isfinite(fit.difficulty[fitted]).all() and np.isfinite(fit.discrimination_se[fitted]).all()
    assert np.corrcoef(fit.ability, ability)[0, 1] >= 0.98


def penalised_log_likelihood(parameters: np.ndarray, x: np.ndarray) -> tuple[float, np.ndarray]:
    """The objective the docstring states, written out independently, and its gradient."""
    n_entries, n_items = x.shape
    theta = parameters[:n_entries]
    a = parameters[n_entries : n_entries + n_items]
    b = parameters[n_entries + n_items :]
    eta = a * (theta[:, None] - b)
    residual = x - special.expit(eta)
    value = (
        (x * eta - np.logaddexp(0.0, eta)).sum() - (theta**2).sum() / 2 - ((a - 1) ** 2).sum() / 8 - (b**2).sum() / 18
    )
    gradient = np.concatenate(
        [
            residual @ a - theta,
            (residual * (theta[:, None] - b)).sum(axis=0) - (a - 1) / 4,
            -a * residual.sum(axis=0) - b / 9,
        ]
    )
    return float(value), gradient


def test_it_reaches_a_maximum_of_its_objective_at_least_as_high_as_a_general_optimisers():
    rng = np.random.default_rng(14)
    ability = rng.normal(size=8)
    responses = (rng.random((8, 40)) < special.expit(ability[:, None] - rng.normal(size=40))).astype(float)
    responses = responses[:, (responses.sum(axis=0) > 0) & (responses.sum(axis=0) < 8)]
    fit = fit_two_parameter_logistic(responses, tolerance=1e-10)
    n_items = responses.shape[1]

    def negative(parameters: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = penalised_log_likelihood(parameters, responses)
        return -value, -gradient

    # The fit reports its maximum on the standardised scale, where only the priors differ:
    # move it back to the location and scale at which the stated objective is highest.
    def unstandardised(shift: np.ndarray) -> np.ndarray:
        centre, scale = shift[0], np.exp(shift[1])
        return np.concatenate(
            [fit.ability * scale + centre, fit.discrimination / scale, fit.difficulty * scale + centre]
        )

    ours = unstandardised(optimize.minimize(lambda s: negative(unstandardised(s))[0], np.zeros(2)).x)
    options = {"gtol": 1e-10, "ftol": 1e-15, "maxiter": 10_000}
    from_ours = optimize.minimize(negative, ours, jac=True, method="L-BFGS-B", options=options)
    neutral = np.concatenate([np.zeros(8), np.ones(n_items), np.zeros(n_items)])
    from_neutral = optimize.minimize(negative, neutral, jac=True, method="L-BFGS-B", options=options)

    assert np.abs(negative(ours)[1]).max() < 1e-5
    assert from_ours.fun >= negative(ours)[0] - 1e-8
    assert negative(ours)[0] <= from_neutral.fun + 1e-8


def test_it_refuses_results_that_are_not_right_or_wrong():
    with pytest.raises(ValueError, match="1 \\(right\\) or 0 \\(wrong\\)"):
        fit_two_parameter_logistic(np.array([[0.0, 0.5], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="at least two entries"):
        fit_two_parameter_logistic(np.ones((1, 5)))
