"""Simultaneous pairwise inference from the joint bootstrap: rank sets, tiers, gaps to the best.

Every pair of entries gets a confidence interval for the difference of their true scores, and
all ``E (E - 1) / 2`` intervals hold together with probability at least ``confidence``
(a max-t construction on the shared resamples). Everything a board says about order is read
off the pairs whose interval excludes 0, so every such statement holds jointly: the rank set
of each entry, its tier, and the interval for its difference to the best of the others.
Because the intervals hold whatever the true scores are, ties included, so do the rank sets
and tier 1. See ``docs/methods.md``, "Ranks, tiers and p-values".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Entries per block of the max-t loop: the block's [B, rows, E] differences stay near 16 MB.
_BLOCK_ELEMENTS = 2**22


@dataclass(frozen=True)
class PairwiseInference:
    """Simultaneous intervals for all pairwise differences of one metric."""

    differences: np.ndarray
    """``[E, E]``: ``θ̂_e - θ̂_f`` on the metric's own scale."""
    standard_errors: np.ndarray
    """``[E, E]``: ``se_ef`` of ``max_t_pairwise``; symmetric, 0 on the diagonal and for pairs never declared."""
    critical_value: float
    """``c``: the pair intervals are ``θ̂_e - θ̂_f ± c · se_ef``; ``nan`` with fewer than two entries."""
    better: np.ndarray
    """``[E, E]`` booleans: ``better[e, f]`` when ``e`` is declared better than ``f``."""
    higher_is_better: bool
    """The metric's direction, which decides what "better" means."""


def max_t_pairwise(
    samples: np.ndarray,
    points: np.ndarray,
    *,
    higher_is_better: bool,
    confidence: float = 0.95,
    n_units: float | None = None,
) -> PairwiseInference:
    """Max-t simultaneous intervals for ``θ_e - θ_f`` over all pairs, from joint resamples.

    ``samples`` ``[B, E]`` are the metric on shared resamples, ``points`` ``[E]`` its values on
    all items, ``n_units`` the number of independent units behind them (``n`` items, or for
    clusters ``n² / Σ_g n_g²``, Kish's effective number of clusters; when omitted the ``d²``
    term below is left out). With ``R_be = θ*_be - θ̂_e``, ``d_ef = θ̂_e - θ̂_f``
    and ``v_ef`` the variance over ``b`` of ``θ*_be - θ*_bf``, the standard error of a pair is

    ``se_ef = sqrt(v_ef + d_ef² / n_units)``,

    the spread of the per-item differences around zero rather than around their mean (the
    form McNemar's statistic uses: ``b + c`` rather than ``b + c - (b - c)² / n``). Around the
    mean, a pair far apart gets a smaller standard error just for being far apart, which at
    the extreme quantiles a max over many pairs reaches makes the test too liberal. Each
    resample gives ``T_b = max_{e<f, v_ef>0} |R_be - R_bf| / se_ef``, the largest studentized
    deviation of any pair; ``c`` is the ``⌈(1 - α)(B + 1)⌉``-th smallest ``T_b``
    (``α = 1 - confidence``), and the intervals ``d_ef ± c · se_ef`` hold jointly with
    probability about ``1 - α`` (the max-t of Westfall & Young 1993 applied to all pairs, as in
    Romano & Wolf 2005; the bootstrap analogue of Tukey's studentized range). ``e`` is declared
    better than ``f`` when the interval lies entirely on ``e``'s side of 0. A pair whose
    resamples never differ (``v_ef = 0``: identical entries, or one cluster in all) has
    nothing to measure and is never declared.
    """
    draws = np.asarray(samples, dtype=np.float64)
    values = np.asarray(points, dtype=np.float64)
    n_entries = draws.shape[1]
    differences = values[:, None] - values[None, :]
    standard_errors, largest = _pair_spread(draws - values, differences, n_units)
    critical = math.nan
    better = np.zeros((n_entries, n_entries), dtype=bool)
    if n_entries >= 2 and draws.shape[0] >= 2:
        n_resamples = draws.shape[0]
        order = min(n_resamples, math.ceil(confidence * (n_resamples + 1)))
        critical = float(np.partition(largest, order - 1)[order - 1])
        oriented = differences if higher_is_better else -differences
        better = (standard_errors > 0) & (oriented > critical * standard_errors)
    return PairwiseInference(
        differences=differences,
        standard_errors=standard_errors,
        critical_value=critical,
        better=better,
        higher_is_better=higher_is_better,
    )


def rank_sets(inference: PairwiseInference) -> tuple[np.ndarray, np.ndarray]:
    """Simultaneous rank sets ``[1 + #{f declared better than e}, E - #{f declared worse than e}]``.

    Every entry's true rank, and under ties every rank its tied group could take, lies in its
    set for all entries at once whenever all the pair intervals hold (Al Mohamad, Goeman &
    van Zwet 2022 build rank sets the same way from simultaneous pairwise tests).
    """
    n_entries = inference.better.shape[0]
    lower = 1 + inference.better.sum(axis=0)
    upper = n_entries - inference.better.sum(axis=1)
    return lower.astype(np.int64), upper.astype(np.int64)


def tiers_from_pairs(inference: PairwiseInference) -> np.ndarray:
    """Tiers by peeling: tier ``t`` is every remaining entry that no remaining entry beats.

    Tier 1 is every entry not declared worse than any other, the entries whose interval for
    the difference to the best of the others reaches 0 (``difference_to_best``). Remove them and
    repeat on the rest for tier 2, and so on. A declared difference always agrees with the
    point values, so the best remaining entry is in every round's tier and the peeling ends.
    All statements behind all tiers come from the same simultaneous intervals, so they hold
    jointly with the intervals' confidence.
    """
    better = inference.better
    tiers = np.zeros(better.shape[0], dtype=np.int64)
    remaining = np.arange(better.shape[0])
    tier = 0
    while remaining.size:
        tier += 1
        beaten = better[np.ix_(remaining, remaining)].any(axis=0)
        tiers[remaining[~beaten]] = tier
        remaining = remaining[beaten]
    return tiers


def difference_to_best(inference: PairwiseInference) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``θ̂_e - best_{f≠e} θ̂_f`` with a simultaneous interval for ``θ_e - best_{f≠e} θ_f``.

    In the metric's direction (``u_ef = θ_e - θ_f`` for higher-is-better metrics, ``θ_f - θ_e``
    otherwise) the target is ``min_{f≠e} u_ef``, Hsu's multiple-comparisons-with-the-best
    parameter; from the pair intervals it lies in
    ``[min_f (û_ef - c se_ef), min_f (û_ef + c se_ef)]`` for every ``e`` at once. Returned on
    the metric's own scale: for every entry but the leader the value is its difference to the
    leader (negative when higher is better), for the leader its lead over the runner-up. The
    entry is in tier 1 exactly when the interval reaches 0. A pair with ``se_ef = 0`` is
    never declared and its interval is stretched to reach 0. Returns ``(value, low, high)``
    arrays, ``nan`` with fewer than two entries.
    """
    n_entries = inference.better.shape[0]
    if n_entries < 2:
        empty = np.full(n_entries, math.nan)
        return empty, empty.copy(), empty.copy()
    sign = 1.0 if inference.higher_is_better else -1.0
    oriented = sign * inference.differences
    half = inference.critical_value * inference.standard_errors
    pair_low = np.where(inference.standard_errors > 0, oriented - half, np.minimum(oriented, 0.0))
    pair_high = np.where(inference.standard_errors > 0, oriented + half, np.maximum(oriented, 0.0))
    others = ~np.eye(n_entries, dtype=bool)
    value = np.where(others, oriented, np.inf).min(axis=1)
    low = np.where(others, pair_low, np.inf).min(axis=1)
    high = np.where(others, pair_high, np.inf).min(axis=1)
    if sign > 0:
        return value, low, high
    return -value, -high, -low


def _pair_spread(
    deviations: np.ndarray, differences: np.ndarray, n_units: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Standard errors ``se_ef`` ``[E, E]`` and ``T_b = max_{e<f} |R_be - R_bf| / se_ef`` ``[B]``.

    Works a block of entries ``e`` at a time on the ``[B, rows, E]`` deviations of pairs, in
    float32 (ample for a spread and a quantile of ratios) with sums in float64, so the whole
    ``[B, E, E]`` array is never held. The variances are sums of squares rather than a matrix
    product: a small product on a machine whose cores are busy can stall for tens of
    milliseconds in BLAS's thread hand-off.
    """
    n_resamples, n_entries = deviations.shape
    residuals = np.ascontiguousarray(deviations, dtype=np.float32)
    standard_errors = np.zeros((n_entries, n_entries))
    largest = np.zeros(n_resamples, dtype=np.float32)
    null_term = 0.0 if n_units is None else 1.0 / n_units
    rows = max(1, _BLOCK_ELEMENTS // max(1, n_resamples * n_entries))
    for start in range(0, n_entries - 1, rows):
        stop = min(start + rows, n_entries - 1)
        # Pairs (e, f) with e in [start, stop) and f > e; pairs with f <= e get weight 0.
        block = residuals[:, start:stop, None] - residuals[:, None, start + 1 :]
        total = block.sum(axis=0, dtype=np.float64)
        squares = np.square(block).sum(axis=0, dtype=np.float64)
        variance = np.maximum(squares - total * total / n_resamples, 0.0) / max(n_resamples - 1, 1)
        # A pair that differs by the same amount on every resample is a constant up to
        # rounding: its variance is then a few ulps of its mean square, not a spread.
        varies = variance > 1e-9 * squares / n_resamples
        pair = _upper_mask(start, stop, n_entries) & varies
        spread = np.where(pair, np.sqrt(variance + null_term * differences[start:stop, start + 1 :] ** 2), 0.0)
        standard_errors[start:stop, start + 1 :] = spread
        weights = np.where(pair, 1.0 / np.where(pair, spread, 1.0), 0.0).astype(np.float32)
        np.abs(block, out=block)
        block *= weights[None, :, :]
        np.maximum(largest, block.max(axis=(1, 2)), out=largest)
    standard_errors = np.maximum(standard_errors, standard_errors.T)
    return standard_errors, largest.astype(np.float64)


def _upper_mask(start: int, stop: int, n_entries: int) -> np.ndarray:
    """``mask[i, j]`` for rows ``e = start + i`` and columns ``f = start + 1 + j``: ``f > e``."""
    rows = np.arange(start, stop)[:, None]
    columns = np.arange(start + 1, n_entries)[None, :]
    return np.asarray(columns > rows)
