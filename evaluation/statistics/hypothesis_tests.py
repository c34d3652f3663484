"""Pairwise tests, multiplicity corrections and the minimum detectable effect."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def discordant_counts(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[int, int]:
    """``(b, c)``: items only A gets right, and items only B gets right.

    ``b = sum_i [a_i and not b_i]``, ``c = sum_i [b_i and not a_i]``.
    """
    correct_a = np.asarray(correct_a, dtype=bool)
    correct_b = np.asarray(correct_b, dtype=bool)
    return int(np.sum(correct_a & ~correct_b)), int(np.sum(correct_b & ~correct_a))


def pairwise_discordant_counts(correct: np.ndarray) -> np.ndarray:
    """``D[e, f] = #{i : entry e right and entry f wrong}`` for all pairs, from ``correct [n, E]``.

    ``D[e, f] = sum_i c_ie - sum_i c_ie c_if``. The agreements ``sum_i c_ie c_if`` are counted
    with bit operations on the packed correctness columns (64 items per machine word), which
    is exact and, unlike a small matrix product, does not stall when BLAS threads compete
    with other processes for the cores.
    """
    correct = np.asarray(correct, dtype=bool)
    n_entries = correct.shape[1]
    bits = np.packbits(np.ascontiguousarray(correct.T), axis=1)
    padded = np.pad(bits, ((0, 0), (0, (-bits.shape[1]) % 8)))
    words = np.ascontiguousarray(padded).view(np.uint64)
    both = np.empty((n_entries, n_entries), dtype=np.int64)
    # Blocks of 32 entries bound the temporary [32, E, words] array.
    for start in range(0, n_entries, 32):
        block = words[start : start + 32, None, :] & words[None, :, :]
        both[start : start + 32] = np.bitwise_count(block).sum(axis=2, dtype=np.int64)
    return np.diag(both)[:, None] - both


def exact_mcnemar(a_only_correct: np.ndarray | int, b_only_correct: np.ndarray | int) -> np.ndarray | float:
    """Two-sided exact McNemar p-value from the discordant counts ``b`` and ``c``.

    Under the null of equal accuracy, ``b ~ Binomial(b + c, 1/2)``. The distribution is
    symmetric, so the two-sided p-value (the probability of an outcome at most as likely as the
    one seen) is ``min(1, 2 * P(X <= min(b, c)))``, and 1 when ``b + c = 0``. This equals
    ``scipy.stats.binomtest(b, b + c, 0.5).pvalue``. Vectorised over arrays of counts.
    """
    b = np.asarray(a_only_correct, dtype=np.int64)
    c = np.asarray(b_only_correct, dtype=np.int64)
    p_values = np.minimum(1.0, 2.0 * stats.binom.cdf(np.minimum(b, c), b + c, 0.5))
    p_values = np.where(b + c == 0, 1.0, p_values)
    return float(p_values) if p_values.ndim == 0 else p_values


def paired_bootstrap_p_value(differences: np.ndarray) -> np.ndarray | float:
    """Two-sided p-value of a zero difference from its bootstrap samples (axis 0).

    ``p = min(1, 2 * (1 + min(#{d_b <= 0}, #{d_b >= 0})) / (B + 1))``: the smallest ``α`` at
    which the percentile interval of level ``1 - α`` excludes 0, with the usual ``+1`` so a
    finite number of resamples never claims ``p = 0``. Samples that are all exactly zero (two
    identical entries) give ``p = 1``.
    """
    differences = np.asarray(differences, dtype=np.float64)
    n_resamples = differences.shape[0]
    at_most_zero = (differences <= 0).sum(axis=0)
    at_least_zero = (differences >= 0).sum(axis=0)
    p_values = np.minimum(1.0, 2.0 * (1.0 + np.minimum(at_most_zero, at_least_zero)) / (n_resamples + 1.0))
    return float(p_values) if p_values.ndim == 0 else p_values


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (family-wise error control).

    With the ``m`` p-values sorted ascending, ``p_(1) <= ... <= p_(m)``:
    ``adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``, returned in input order. Reject
    hypothesis ``i`` at level ``α`` when ``adj_i <= α``.
    """
    p_values = np.asarray(p_values, dtype=np.float64)
    m = p_values.shape[0]
    if m == 0:
        return p_values.copy()
    order = np.argsort(p_values, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p_values[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def minimum_detectable_effect(
    n_items: int, discordance_rate: float, *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Smallest accuracy difference a paired comparison detects with the given power.

    McNemar's test with the normal approximation (Connor 1987): with discordance rate ``ψ``
    (share of items exactly one of the two models gets right), difference ``δ``, ``z_a =
    z_{1-α/2}`` and ``z_b = z_{power}``, the required sample size is
    ``n = (z_a sqrt(ψ) + z_b sqrt(ψ - δ²))² / δ²``. Solving for ``δ`` gives, with
    ``A = z_a sqrt(ψ)``,
    ``δ = (A sqrt(n) + z_b sqrt(ψ (n + z_b²) - A²)) / (n + z_b²)``,
    about ``(z_a + z_b) sqrt(ψ / n)`` for large ``n``. Returns ``inf`` when no difference is
    detectable (``δ`` would exceed ``ψ``, the largest difference ``ψ`` discordant items allow),
    and ``inf`` for ``ψ = 0``.
    """
    if n_items <= 0 or not 0.0 <= discordance_rate <= 1.0:
        raise ValueError(f"Need n_items > 0 and a discordance rate in [0, 1]; got {n_items}, {discordance_rate}.")
    if discordance_rate == 0.0:
        return math.inf
    z_a = stats.norm.ppf(1.0 - alpha / 2.0)
    z_b = stats.norm.ppf(power)
    a = z_a * math.sqrt(discordance_rate)
    discriminant = discordance_rate * (n_items + z_b * z_b) - a * a
    if discriminant < 0:
        return math.inf
    delta = (a * math.sqrt(n_items) + z_b * math.sqrt(discriminant)) / (n_items + z_b * z_b)
    return math.inf if delta > discordance_rate else float(delta)


def typical_discordance_rate(correct: np.ndarray) -> float:
    """Median over all pairs of entries of the share of discordant items.

    ``correct`` is ``[n, E]`` (one column per entry); pair ``(e, f)`` has discordance rate
    ``mean_i [c_ie != c_if]``. Returns ``nan`` with fewer than two entries.
    """
    n_items, n_entries = np.shape(correct)
    if n_entries < 2:
        return math.nan
    discordant = pairwise_discordant_counts(correct)
    # Items where e and f disagree: e right and f wrong, or f right and e wrong.
    disagreements = (discordant + discordant.T) / n_items
    upper = np.triu_indices(n_entries, k=1)
    return float(np.median(disagreements[upper]))
