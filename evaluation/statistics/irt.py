"""Item telemetry: a two-parameter logistic item response model fitted to entries' per-item results.

For a version with enough entries, which items tell entries apart, which are too easy or too
hard to say anything, and which look mislabelled (the better an entry, the more often it gets
them *wrong*)? The fit is for the version's maintainers; see ``docs/methods.md``, "Item
telemetry", for why joint maximum likelihood, and for what may be shown to whom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

#: Weak Gaussian priors that keep every estimate finite: ``θ ~ N(0, 1)``, ``a ~ N(1, 2²)``,
#: ``b ~ N(0, 3²)``. With many items each is worth far less than the data on an entry, and on
#: an item they stop a perfect separation of the entries (every entry above some ability
#: right, every one below it wrong) from pushing the slope to infinity, and an item that does
#: not discriminate (slope near 0, where any difficulty fits) from taking a difficulty of
#: thousands.
_PRIOR_SLOPE_MEAN = 1.0
_PRIOR_SLOPE_SD = 2.0
_PRIOR_DIFFICULTY_SD = 3.0

#: Newton steps per item for one set of abilities (see ``_climb_items``).
_ITEM_STEPS = 50

#: A step that lowers an objective by less than this share of it is rounding, not a fall: at
#: its maximum an item's step is 0 up to rounding, and would otherwise be halved for nothing.
_ROUNDING = 1e-12

#: Steps are halved at most this many times to keep each block's penalised likelihood rising.
_MAX_HALVINGS = 30


@dataclass(frozen=True)
class ItemResponseFit:
    """A two-parameter logistic model of ``[entries, items]`` binary results, on the standardised ability scale.

    Items every entry got right, or every entry got wrong, say nothing about abilities and
    have no finite estimates: they are not fitted and their parameters are ``nan``.
    """

    difficulty: np.ndarray
    """``[I]``: ``b_i``, the ability at which an entry gets item ``i`` right with probability 1/2."""
    difficulty_se: np.ndarray
    """``[I]``: standard error of ``b_i`` from the observed information (delta method)."""
    discrimination: np.ndarray
    """``[I]``: ``a_i``, the slope of the log-odds of a right answer in the ability."""
    discrimination_se: np.ndarray
    """``[I]``: standard error of ``a_i`` from the observed information."""
    ability: np.ndarray
    """``[E]``: ``θ_e``, standardised to mean 0 and standard deviation 1 over the entries."""
    ability_se: np.ndarray
    """``[E]``: standard error of ``θ_e`` from the observed information."""
    all_correct: np.ndarray
    """``[I]`` booleans: every entry got the item right."""
    all_wrong: np.ndarray
    """``[I]`` booleans: every entry got the item wrong."""
    negative_discrimination: np.ndarray
    """``[I]`` booleans: the item's ``confidence`` interval for ``a_i`` lies below 0."""
    possibly_mislabelled: np.ndarray
    """``[I]`` booleans: ``all_wrong`` or ``negative_discrimination``."""
    log_likelihood: float
    """Log-likelihood of the fitted items' results at the estimates (without the priors)."""
    iterations: int
    """Rounds of alternating Newton steps taken."""
    converged: bool
    """Whether the largest step of the last round fell below the tolerance."""


def fit_two_parameter_logistic(
    responses: np.ndarray,
    *,
    confidence: float = 0.95,
    tolerance: float = 1e-6,
    max_iterations: int = 500,
) -> ItemResponseFit:
    """Fit ``P(x_ei = 1) = σ(a_i (θ_e − b_i))`` by penalised joint maximum likelihood.

    ``responses`` is ``[E, I]``, 1 where entry ``e`` got item ``i`` right. Items right (or
    wrong) for every entry are set aside and flagged. On the rest, with ``η_ei = a_i (θ_e − b_i)``,
    the function maximises

    ``Σ_ei [x_ei η_ei − log(1 + e^η_ei)] − Σ_e θ_e² / 2 − Σ_i [(a_i − 1)² / 8 + b_i² / 18]``,

    the log-likelihood with weak Gaussian priors ``θ ~ N(0, 1)``, ``a ~ N(1, 2²)``,
    ``b ~ N(0, 3²)`` that keep every estimate finite (the prior on ``θ`` also fixes the
    location and scale the likelihood leaves free). It alternates fitting every item's
    ``(a_i, b_i)`` given the abilities, by Newton steps (a 2 × 2 system per item, with the
    observed information where it is positive definite and otherwise the expected information
    ``Σ_e p (1 − p) [(θ − b)², −a (θ − b); −a (θ − b), a²]``, plus the priors' precisions),
    with one Newton step for every ability given the items, and a move along the location and
    scale the likelihood leaves free (``_best_scale``), halving any step that would lower its
    block's objective, until no parameter moves by more than ``tolerance``: no step lowers the
    one objective (beyond rounding), so the alternation cannot cycle. Items
    are fitted from both signs of their slope in the first round and again once the rest has
    settled, since an item's objective can have a maximum on each side of ``a = 0``. The
    estimates are then put on the scale where the abilities have mean 0 and standard
    deviation 1 (``θ' = (θ − m) / s``, ``a' = a s``, ``b' = (b − m) / s``), which leaves every
    fitted probability unchanged.

    Standard errors come from the observed information (the negative Hessian of the
    penalised log-likelihood) of each item's ``(a_i, b_i)`` with the abilities held at their
    estimates (the expected information where the observed one is not positive definite, see
    ``_item_covariance``), and of each ability, ``Σ_i a_i² p_ei (1 − p_ei) + 1``, with the items held at
    theirs. With many items per entry the abilities are known far better than any item's
    parameters, which is what holding them fixed assumes. An item is flagged
    ``negative_discrimination`` when ``a_i + z se(a_i) < 0`` (``z`` the two-sided normal
    quantile of ``confidence``): the better an entry, the less often it gets the item right,
    as happens when the item's label is wrong.
    """
    results = _response_matrix(responses)
    n_entries, n_items = results.shape
    right = results.sum(axis=0)
    all_correct = right == n_entries
    all_wrong = right == 0
    fitted = ~(all_correct | all_wrong)
    x = results[:, fitted]

    ability = _starting_abilities(x)
    slope = np.ones(x.shape[1])
    share = np.clip(x.mean(axis=0), 0.5 / n_entries, 1.0 - 0.5 / n_entries)
    difficulty = np.clip(-special.logit(share), -3.0 * _PRIOR_DIFFICULTY_SD, 3.0 * _PRIOR_DIFFICULTY_SD)
    iterations, converged = 0, x.shape[1] == 0
    while not converged and iterations < max_iterations:
        iterations += 1
        new_slope, new_difficulty = _fit_items(x, ability, slope, difficulty, tolerance, both_signs=iterations == 1)
        new_ability = _ability_step(x, ability, new_slope, new_difficulty)
        new_ability, new_slope, new_difficulty = _best_scale(new_ability, new_slope, new_difficulty)
        largest = _largest_change((slope, difficulty, ability), (new_slope, new_difficulty, new_ability))
        ability, slope, difficulty = new_ability, new_slope, new_difficulty
        converged = largest < tolerance
        if converged:
            # A last look from the other sign of every slope: if an item is better off there,
            # the fit was at a local maximum and goes on from the better one.
            other_slope, other_difficulty = _fit_items(x, ability, slope, difficulty, tolerance, both_signs=True)
            converged = _largest_change((slope, difficulty), (other_slope, other_difficulty)) < tolerance
            slope, difficulty = other_slope, other_difficulty
    ability, slope, difficulty = _standardised(ability, slope, difficulty)

    covariance = _item_covariance(x, ability, slope, difficulty)
    slope_se = np.sqrt(covariance[:, 0, 0])
    eta = slope * (ability[:, None] - difficulty)
    p = special.expit(eta)
    ability_information = (p * (1.0 - p) * slope**2).sum(axis=1) + 1.0
    log_likelihood = float((x * eta - np.logaddexp(0.0, eta)).sum())
    z = float(special.ndtri((1.0 + confidence) / 2.0))

    def spread(values: np.ndarray) -> np.ndarray:
        full = np.full(n_items, math.nan)
        full[fitted] = values
        return full

    negative = np.zeros(n_items, dtype=bool)
    negative[fitted] = slope + z * slope_se < 0.0
    no_fit = x.shape[1] == 0
    return ItemResponseFit(
        difficulty=spread(difficulty),
        difficulty_se=spread(np.sqrt(covariance[:, 1, 1])),
        discrimination=spread(slope),
        discrimination_se=spread(slope_se),
        ability=np.full(n_entries, math.nan) if no_fit else ability,
        ability_se=np.full(n_entries, math.nan) if no_fit else 1.0 / np.sqrt(ability_information),
        all_correct=all_correct,
        all_wrong=all_wrong,
        negative_discrimination=negative,
        possibly_mislabelled=all_wrong | negative,
        log_likelihood=log_likelihood,
        iterations=iterations,
        converged=converged,
    )


def _response_matrix(responses: np.ndarray) -> np.ndarray:
    matrix = np.asarray(responses)
    if matrix.ndim != 2 or matrix.shape[0] < 2 or matrix.shape[1] < 1:
        raise ValueError(
            f"Expected results as a matrix [entries, items] with at least two entries and one item; "
            f"got shape {matrix.shape}."
        )
    values = matrix.astype(np.float64)
    if not np.isin(values, (0.0, 1.0)).all():
        raise ValueError("Every result must be 1 (right) or 0 (wrong); convert scores to right/wrong first.")
    return values


def _starting_abilities(x: np.ndarray) -> np.ndarray:
    """Standardised log-odds of each entry's share of right answers: a start near the answer."""
    if x.shape[1] == 0:
        return np.zeros(x.shape[0])
    share = np.clip(x.mean(axis=1), 0.5 / x.shape[1], 1.0 - 0.5 / x.shape[1])
    return _standardised(special.logit(share), np.zeros(0), np.zeros(0))[0]


def _best_scale(
    ability: np.ndarray, slope: np.ndarray, difficulty: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same model moved to the location and scale the priors prefer.

    ``θ' = (θ − m) / t``, ``a' = a t``, ``b' = (b − m) / t`` leaves the likelihood as it is, so
    only the priors decide ``(m, t)``: ``m = (Σ θ / σ_θ² + Σ b / σ_b²) / (E / σ_θ² + I / σ_b²)``,
    and ``t`` the positive root of ``Σ a² t⁴ / σ_a² − μ_a Σ a t³ / σ_a² − 2 A = 0`` with
    ``A = Σ (θ − m)² / 2σ_θ² + Σ (b − m)² / 2σ_b²``, where the priors' sum is least.
    Fitting items and abilities in turn creeps along this direction in tiny steps; taking it
    in one step is what lets the alternation converge in tens of rounds rather than hundreds.
    """
    if slope.size == 0:
        return ability, slope, difficulty
    ability_precision, difficulty_precision = 1.0, 1.0 / _PRIOR_DIFFICULTY_SD**2
    centre = (ability.sum() * ability_precision + difficulty.sum() * difficulty_precision) / (
        ability.size * ability_precision + difficulty.size * difficulty_precision
    )
    spread = 0.5 * float(
        ability_precision * ((ability - centre) ** 2).sum() + difficulty_precision * ((difficulty - centre) ** 2).sum()
    )
    slope_precision = 1.0 / _PRIOR_SLOPE_SD**2
    squares, total = slope_precision * float((slope**2).sum()), slope_precision * _PRIOR_SLOPE_MEAN * float(slope.sum())
    if spread <= 0.0 or squares <= 0.0:
        return ability - centre, slope, difficulty - centre

    def derivative(t: float) -> float:
        return squares * t**4 - total * t**3 - 2.0 * spread

    # The derivative is negative at 0 and grows without bound, with one positive root.
    high = 1.0
    while derivative(high) < 0.0:
        high *= 2.0
    factor = float(optimize.brentq(derivative, 0.0, high, xtol=1e-14))
    return (ability - centre) / factor, slope * factor, (difficulty - centre) / factor


def _standardised(
    ability: np.ndarray, slope: np.ndarray, difficulty: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``θ' = (θ − m) / s``, ``a' = a s``, ``b' = (b − m) / s``: the same model with standardised abilities."""
    centre = float(ability.mean())
    scale = float(ability.std())
    if not scale > 0.0:
        scale = 1.0
    return (ability - centre) / scale, slope * scale, (difficulty - centre) / scale


def _item_objective(x: np.ndarray, ability: np.ndarray, slope: np.ndarray, difficulty: np.ndarray) -> np.ndarray:
    """Each item's penalised log-likelihood ``[I]`` given the abilities."""
    eta = slope * (ability[:, None] - difficulty)
    likelihood = (x * eta - np.logaddexp(0.0, eta)).sum(axis=0)
    prior = (slope - _PRIOR_SLOPE_MEAN) ** 2 / (2 * _PRIOR_SLOPE_SD**2) + difficulty**2 / (2 * _PRIOR_DIFFICULTY_SD**2)
    return np.asarray(likelihood - prior, dtype=np.float64)


def _ability_objective(x: np.ndarray, ability: np.ndarray, slope: np.ndarray, difficulty: np.ndarray) -> np.ndarray:
    """Each entry's penalised log-likelihood ``[E]`` given the items."""
    eta = slope * (ability[:, None] - difficulty)
    return np.asarray((x * eta - np.logaddexp(0.0, eta)).sum(axis=1) - ability**2 / 2.0, dtype=np.float64)


def _fit_items(
    x: np.ndarray,
    ability: np.ndarray,
    slope: np.ndarray,
    difficulty: np.ndarray,
    tolerance: float,
    *,
    both_signs: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Every item's ``(a_i, b_i)`` maximising its penalised likelihood given the abilities.

    An item's objective can have one maximum with ``a > 0`` and another with ``a < 0``: near
    ``a = 0`` any difficulty fits and the prior on ``b`` walls the two halves off, so a search
    that starts on one side stays there. With ``both_signs`` every item is also fitted afresh
    from the other side (slope ``∓1`` and the difficulty at which that slope gives the item's
    share of right answers), and keeps the better of the two.
    """
    fitted_slope, fitted_difficulty = _climb_items(x, ability, slope, difficulty, tolerance)
    if not both_signs:
        return fitted_slope, fitted_difficulty
    other_slope = np.where(fitted_slope > 0.0, -1.0, 1.0)
    share = np.clip(x.mean(axis=0), 0.5 / x.shape[0], 1.0 - 0.5 / x.shape[0])
    other_slope, other_difficulty = _climb_items(
        x, ability, other_slope, -other_slope * special.logit(share), tolerance
    )
    better = _item_objective(x, ability, other_slope, other_difficulty) > _item_objective(
        x, ability, fitted_slope, fitted_difficulty
    )
    return np.where(better, other_slope, fitted_slope), np.where(better, other_difficulty, fitted_difficulty)


def _climb_items(
    x: np.ndarray, ability: np.ndarray, slope: np.ndarray, difficulty: np.ndarray, tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """Newton steps on every item until it moves by less than ``tolerance`` (at most ``_ITEM_STEPS``).

    Most items settle in a few steps; an item only a few entries get right (or wrong) has a
    flat likelihood that takes more.
    """
    slope, difficulty = slope.copy(), difficulty.copy()
    moving = np.arange(slope.size)
    for _ in range(_ITEM_STEPS):
        new_slope, new_difficulty = _item_step(x[:, moving], ability, slope[moving], difficulty[moving])
        change = np.maximum(np.abs(new_slope - slope[moving]), np.abs(new_difficulty - difficulty[moving]))
        slope[moving], difficulty[moving] = new_slope, new_difficulty
        moving = moving[change >= tolerance]
        if moving.size == 0:
            break
    return slope, difficulty


def _largest_change(before: tuple[np.ndarray, ...], after: tuple[np.ndarray, ...]) -> float:
    return max(float(np.abs(new - old).max(initial=0.0)) for old, new in zip(before, after, strict=True))


def _item_step(
    x: np.ndarray, ability: np.ndarray, slope: np.ndarray, difficulty: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One Newton step for every item's ``(a_i, b_i)``, each halved until its objective rises.

    Newton's step uses the observed information where it is positive definite, and Fisher
    scoring's expected information elsewhere (away from a maximum). Scoring alone crawls along
    the ridge of an item with a slope near 0, where only ``a b`` is pinned down.
    """
    distance = ability[:, None] - difficulty
    p = special.expit(slope * distance)
    residual = x - p
    weight = p * (1.0 - p)
    gradient_slope = (residual * distance).sum(axis=0) - (slope - _PRIOR_SLOPE_MEAN) / _PRIOR_SLOPE_SD**2
    gradient_difficulty = -slope * residual.sum(axis=0) - difficulty / _PRIOR_DIFFICULTY_SD**2
    # The expected information plus the priors' precisions is positive definite for every item
    # (its determinant is at least the product of the two precisions), so each step rises.
    info_aa = (weight * distance**2).sum(axis=0) + 1.0 / _PRIOR_SLOPE_SD**2
    info_bb = slope**2 * weight.sum(axis=0) + 1.0 / _PRIOR_DIFFICULTY_SD**2
    expected = -slope * (weight * distance).sum(axis=0)
    observed = expected + residual.sum(axis=0)
    info_ab = np.where(info_aa * info_bb - observed**2 > 0.0, observed, expected)
    determinant = info_aa * info_bb - info_ab**2
    step_slope = (info_bb * gradient_slope - info_ab * gradient_difficulty) / determinant
    step_difficulty = (info_aa * gradient_difficulty - info_ab * gradient_slope) / determinant
    before = _item_objective(x, ability, slope, difficulty)
    factor = np.ones(slope.size)
    pending = np.arange(slope.size)
    for _ in range(_MAX_HALVINGS):
        after = _item_objective(
            x[:, pending],
            ability,
            slope[pending] + factor[pending] * step_slope[pending],
            difficulty[pending] + factor[pending] * step_difficulty[pending],
        )
        pending = pending[after < before[pending] - _ROUNDING * (1.0 + np.abs(before[pending]))]
        if pending.size == 0:
            break
        factor[pending] /= 2.0
    # An item whose objective still fell after every halving is at its maximum up to rounding.
    factor[pending] = 0.0
    return slope + factor * step_slope, difficulty + factor * step_difficulty


def _ability_step(x: np.ndarray, ability: np.ndarray, slope: np.ndarray, difficulty: np.ndarray) -> np.ndarray:
    """One Newton step for every entry's ``θ_e``, each halved until its objective rises."""
    p = special.expit(slope * (ability[:, None] - difficulty))
    gradient = (x - p) @ slope - ability
    curvature = (p * (1.0 - p)) @ (slope**2) + 1.0
    step = gradient / curvature
    before = _ability_objective(x, ability, slope, difficulty)
    factor = np.ones(ability.size)
    pending = np.arange(ability.size)
    for _ in range(_MAX_HALVINGS):
        after = _ability_objective(x[pending], ability[pending] + factor[pending] * step[pending], slope, difficulty)
        pending = pending[after < before[pending] - _ROUNDING * (1.0 + np.abs(before[pending]))]
        if pending.size == 0:
            break
        factor[pending] /= 2.0
    factor[pending] = 0.0
    return np.asarray(ability + factor * step, dtype=np.float64)


def _item_covariance(x: np.ndarray, ability: np.ndarray, slope: np.ndarray, difficulty: np.ndarray) -> np.ndarray:
    """Inverse of each item's information in ``(a_i, b_i)``, ``[I, 2, 2]``: observed, else expected.

    The observed information is the negative Hessian of the penalised log-likelihood:
    ``Σ w (θ − b)² + 1/σ_a²``, ``a² Σ w + 1/σ_b²`` and, off the diagonal,
    ``−a Σ w (θ − b) + Σ r``, with ``w = p (1 − p)`` and ``r = x − p``. It is positive definite
    at a maximum; an item that discriminates not at all can come to rest where it is not (a
    slope near 0, where the difficulty is free but for its prior), and gets the expected
    information (without ``Σ r``), which always is.
    """
    distance = ability[:, None] - difficulty
    p = special.expit(slope * distance)
    weight = p * (1.0 - p)
    slope_slope = (weight * distance**2).sum(axis=0) + 1.0 / _PRIOR_SLOPE_SD**2
    difficulty_difficulty = slope**2 * weight.sum(axis=0) + 1.0 / _PRIOR_DIFFICULTY_SD**2
    expected = -slope * (weight * distance).sum(axis=0)
    observed = expected + (x - p).sum(axis=0)
    cross = np.where(slope_slope * difficulty_difficulty - observed**2 > 0.0, observed, expected)
    determinant = slope_slope * difficulty_difficulty - cross**2
    covariance = np.empty((slope.size, 2, 2))
    covariance[:, 0, 0] = difficulty_difficulty / determinant
    covariance[:, 1, 1] = slope_slope / determinant
    covariance[:, 0, 1] = covariance[:, 1, 0] = -cross / determinant
    return covariance
