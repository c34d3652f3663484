"""Pairwise tests, multiplicity corrections and the minimum detectable effect."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from evaluation.statistics.intervals import design_effect


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


def bootstrap_z_p_value(differences: np.ndarray, points: np.ndarray | float) -> np.ndarray | float:
    """Two-sided p-value of a zero difference, studentized by its bootstrap standard error.

    ``z = d / se`` with ``d`` the difference on all items (``points``) and ``se`` the standard
    deviation (``ddof = 1``) of its resamples (``differences``, axis 0);
    ``p = 2 (1 - Φ(|z|))``, computed from the normal survival function so that it keeps its
    precision far below any multiplicity-corrected level. Unlike a p-value counted from the
    resamples it has no floor at ``2 / (B + 1)``. A difference whose resamples never vary
    (``se = 0``: identical entries, or a single cluster) gives ``p = 1``: there is nothing to
    measure it against. Vectorised over the trailing axes.
    """
    samples = np.asarray(differences, dtype=np.float64)
    point = np.broadcast_to(np.asarray(points, dtype=np.float64), samples.shape[1:])
    spread = samples.std(axis=0, ddof=1) if samples.shape[0] > 1 else np.zeros(point.shape)
    # Resamples that are all equal can still show a spread of a few ulps from the mean.
    spread = np.where(np.ptp(samples, axis=0) > 0, spread, 0.0) if samples.shape[0] else spread
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(point) / np.where(spread > 0, spread, 1.0)
    p_values = np.where(spread > 0, np.minimum(1.0, 2.0 * stats.norm.sf(z)), 1.0)
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


def mcnemar_power(n_items: int, discordance_rate: float, difference: float, *, level: float) -> float:
    """Exact power of the two-sided exact McNemar test at ``level``.

    Of ``n`` items, ``m ~ Binomial(n, ψ)`` are discordant; given ``m``, the items only A gets
    right are ``b ~ Binomial(m, π)`` with ``π = (1 + δ / ψ) / 2`` (so that the expected accuracy
    difference is ``ψ (2π - 1) = δ``). The test rejects when ``min(b, m - b) <= k_m``, the
    largest ``k`` with ``2 P(Bin(m, 1/2) <= k) <= level``. Power is
    ``Σ_m P(m) [P(b <= k_m) + P(b >= m - k_m)]``, summed exactly over every ``m`` with
    probability above 10⁻¹⁴.
    """
    if n_items <= 0 or not 0.0 < discordance_rate <= 1.0 or not 0.0 <= abs(difference) <= discordance_rate:
        raise ValueError(
            f"Need n_items > 0, a discordance rate in (0, 1] and |difference| at most it; "
            f"got {n_items}, {discordance_rate}, {difference}."
        )
    lowest = int(stats.binom.ppf(1e-14, n_items, discordance_rate))
    highest = int(stats.binom.isf(1e-14, n_items, discordance_rate))
    discordant = np.arange(max(lowest, 0), min(highest, n_items) + 1)
    weight = stats.binom.pmf(discordant, n_items, discordance_rate)
    critical = _mcnemar_critical_counts(discordant, level)
    share = (1.0 + difference / discordance_rate) / 2.0
    reject = np.where(
        critical >= 0,
        stats.binom.cdf(critical, discordant, share) + stats.binom.sf(discordant - critical - 1, discordant, share),
        0.0,
    )
    return float(np.sum(weight * reject))


def minimum_detectable_effect(
    n_items: int,
    discordance_rate: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    family_size: int = 1,
    design_effect: float = 1.0,
) -> float:
    """Smallest accuracy difference the exact McNemar test detects with the given power.

    The test runs at ``level = α / family_size``: for a Holm family of ``m`` comparisons its
    first, strictest step (``m = K - 1`` for ``K`` entries compared with a leader). With
    clusters the items count as ``⌊n / deff⌋`` independent ones (``design_effect``). The
    result is the smallest ``δ`` in ``(0, ψ]`` at which ``mcnemar_power`` reaches ``power``,
    found by bisection to a relative precision of 10⁻⁶ (the power grows with ``δ``);
    ``inf`` when even ``δ = ψ`` (every discordant item won by the same entry) falls short, and
    for ``ψ = 0``. For large ``n`` it is about ``(z_{1-level/2} + z_{power}) sqrt(ψ / n)``
    (Connor 1987).
    """
    if n_items <= 0 or not 0.0 <= discordance_rate <= 1.0:
        raise ValueError(f"Need n_items > 0 and a discordance rate in [0, 1]; got {n_items}, {discordance_rate}.")
    if family_size < 1 or design_effect < 1.0:
        raise ValueError(f"Need family_size >= 1 and design_effect >= 1; got {family_size}, {design_effect}.")
    if discordance_rate == 0.0:
        return math.inf
    effective = max(1, math.floor(n_items / design_effect))
    level = alpha / family_size

    def enough(delta: float) -> bool:
        return mcnemar_power(effective, discordance_rate, delta, level=level) >= power

    if not enough(discordance_rate):
        return math.inf
    low, high = 0.0, discordance_rate
    while high - low > 1e-6 * high:
        middle = (low + high) / 2.0
        if enough(middle):
            high = middle
        else:
            low = middle
    return float(high)


def _mcnemar_critical_counts(discordant: np.ndarray, level: float) -> np.ndarray:
    """``k_m``: the largest ``k`` with ``2 P(Bin(m, 1/2) <= k) <= level``, or -1 if none."""
    guess = stats.binom.ppf(level / 2.0, discordant, 0.5).astype(np.int64)
    # ppf gives the smallest k with P(X <= k) >= level / 2; step down where that overshoots,
    # and check the neighbour above against rounding in the distribution function.
    critical = np.where(2.0 * stats.binom.cdf(guess, discordant, 0.5) <= level, guess, guess - 1)
    above = critical + 1
    critical = np.where(2.0 * stats.binom.cdf(above, discordant, 0.5) <= level, above, critical)
    return np.asarray(np.maximum(critical, -1), dtype=np.int64)


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


def typical_design_effect(correct: np.ndarray, clusters: np.ndarray) -> float:
    """Median over all pairs of entries of the design effect of their per-item difference.

    ``correct`` is ``[n, E]``; pair ``(e, f)`` contributes ``design_effect(c_e - c_f, clusters)``,
    how much the clusters inflate the variance of the accuracy difference, the quantity
    McNemar's test is about (``minimum_detectable_effect(..., design_effect=...)``). Returns 1
    with fewer than two entries.
    """
    values = np.asarray(correct, dtype=np.float64)
    n_entries = values.shape[1]
    if n_entries < 2:
        return 1.0
    effects = [design_effect(values[:, e : e + 1] - values[:, e + 1 :], clusters) for e in range(n_entries - 1)]
    return float(np.median(np.concatenate(effects)))
