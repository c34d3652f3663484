"""The numbers an open version may show about its feedback part, all on the ``1/n`` grid.

While a version is open, every number it shows is a function of the submissions the Ladder
released (``docs/methods.md``, "What each public number reveals"). A released score is shown
with an interval computed from that submission alone, and a comparison of two released
entries with its difference; every bound is rounded outward to a multiple of ``1/n`` and kept
inside the metric's range, so a shown interval is never narrower than the one computed, never
zero-width, and carries no digits beyond the grid the released values live on.

The accuracy interval is Wilson's, at the effective sample size ``n / deff`` where the split
declares clusters; the other Ladder metrics (NLL, Brier) get the normal interval of a mean with
the cluster-robust standard error where clusters are declared.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

from evaluation.parts import METRIC_RANGES, loss_range, loss_to_metric
from evaluation.statistics import Interval, release_value


def wilson_interval(successes: float, n_items: float, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for a proportion ``p = successes / n``.

    ``(p + z²/(2n) ± z sqrt(p (1 - p) / n + z² / (4 n²))) / (1 + z²/n)`` with
    ``z = Φ⁻¹(1/2 + confidence/2)``. Both ends lie in ``[0, 1]`` and differ for every ``n > 0``,
    even at ``p = 0`` or ``p = 1``. ``n`` may be fractional (an effective sample size).
    """
    if n_items <= 0:
        raise ValueError(f"A Wilson interval needs a positive number of items; got {n_items}.")
    z = float(norm.ppf(0.5 + confidence / 2))
    p = min(max(successes / n_items, 0.0), 1.0)
    z2 = z * z
    centre = p + z2 / (2 * n_items)
    spread = z * math.sqrt(p * (1 - p) / n_items + z2 / (4 * n_items * n_items))
    scale = 1 + z2 / n_items
    return max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale)


def _cluster_robust_variance(values: np.ndarray, clusters: np.ndarray) -> float:
    """``G / (G - 1) · Σ_g (Σ_{i∈g} (y_i - ȳ))² / n²``, the cluster-robust variance of the mean."""
    residuals = values - values.mean()
    _, inverse = np.unique(np.asarray(clusters).astype(str), return_inverse=True)
    totals = np.bincount(inverse.ravel(), weights=residuals)
    n_clusters = totals.shape[0]
    if n_clusters < 2:
        return math.nan
    return float(n_clusters / (n_clusters - 1) * np.dot(totals, totals) / values.shape[0] ** 2)


def design_effect(values: np.ndarray, clusters: np.ndarray | None) -> float:
    """How much clustering inflates the variance of a mean: ``max(1, V_cluster / V_iid)``.

    ``V_iid = Σ (y_i - ȳ)² / n²`` and ``V_cluster`` is the cluster-robust variance of the mean
    (``_cluster_robust_variance``). 1 without clusters, with fewer than two clusters, or when
    every item has the same value (no variance to inflate).
    """
    values = np.asarray(values, dtype=np.float64)
    if clusters is None:
        return 1.0
    residuals = values - values.mean()
    independent = float(np.dot(residuals, residuals)) / values.shape[0] ** 2
    clustered = _cluster_robust_variance(values, clusters)
    if independent <= 0 or not math.isfinite(clustered):
        return 1.0
    return float(max(1.0, clustered / independent))


def accuracy_interval(
    correct: np.ndarray, clusters: np.ndarray | None = None, *, confidence: float = 0.95
) -> tuple[float, float]:
    """Wilson's interval for accuracy at the effective sample size ``n / deff``."""
    correct = np.asarray(correct, dtype=np.float64)
    n_effective = correct.shape[0] / design_effect(correct, clusters)
    return wilson_interval(float(correct.mean()) * n_effective, n_effective, confidence=confidence)


def mean_interval(
    losses: np.ndarray, clusters: np.ndarray | None = None, *, confidence: float = 0.95
) -> tuple[float, float]:
    """``mean ± z · se``: ``se² = s² / n`` (ddof = 1), or the cluster-robust variance with clusters."""
    losses = np.asarray(losses, dtype=np.float64)
    n_items = losses.shape[0]
    variance = float(np.var(losses, ddof=1)) / n_items if n_items > 1 else 0.0
    if clusters is not None:
        clustered = _cluster_robust_variance(losses, clusters)
        variance = clustered if math.isfinite(clustered) else variance
    z = float(norm.ppf(0.5 + confidence / 2))
    mean = float(losses.mean())
    return mean - z * math.sqrt(variance), mean + z * math.sqrt(variance)


def round_outward(low: float, high: float, n_items: int, bounds: tuple[float, float]) -> tuple[float, float]:
    """``[floor(low n) / n, ceil(high n) / n]`` clipped to ``bounds``, at least one step wide.

    Rounding outward never makes an interval narrower than the one computed. An interval
    that is a single grid point is widened by one step on each side the bounds allow.
    """
    floor, ceiling = bounds
    rounded_low = max(math.floor(low * n_items) / n_items, floor)
    rounded_high = min(math.ceil(high * n_items) / n_items, ceiling)
    if rounded_low >= rounded_high:
        rounded_low = max(rounded_low - 1 / n_items, floor)
        rounded_high = min(rounded_high + 1 / n_items, ceiling)
    return rounded_low, rounded_high


def released_value(metric: str, losses: np.ndarray) -> float:
    """The value the Ladder releases for these per-item losses, in the metric's own units."""
    losses = np.asarray(losses, dtype=np.float64)
    return loss_to_metric(metric, release_value(float(losses.mean()), losses.shape[0], loss_range(metric)))


def released_score(
    metric: str, losses: np.ndarray, clusters: np.ndarray | None = None, *, confidence: float = 0.95
) -> Interval:
    """A released submission's score on the ``1/n`` grid with its interval rounded outward.

    ``losses`` are its per-item Ladder losses on the feedback part (``ladder_losses``). The
    value is ``loss_to_metric(release_value(mean(losses)))``, the number the Ladder released;
    the interval is ``accuracy_interval`` for accuracy and ``mean_interval`` otherwise, widened
    to contain the value, rounded outward and kept inside ``METRIC_RANGES[metric]``.
    """
    losses = np.asarray(losses, dtype=np.float64)
    n_items = losses.shape[0]
    value = released_value(metric, losses)
    if metric == "accuracy":
        low, high = accuracy_interval(1.0 - losses, clusters, confidence=confidence)
    else:
        low, high = mean_interval(losses, clusters, confidence=confidence)
    low, high = round_outward(min(low, value), max(high, value), n_items, METRIC_RANGES[metric])
    return Interval(value, low, high)


def released_difference(metric: str, value_a: float, value_b: float, low: float, high: float, n_items: int) -> Interval:
    """The difference ``A - B`` of two released values with an interval rounded outward.

    ``[low, high]`` is the paired interval of the exact difference; it is widened to contain
    ``value_a - value_b``, rounded outward to the ``1/n`` grid and kept inside
    ``[-(max - min), max - min]`` of the metric's range.
    """
    value = round((value_a - value_b) * n_items) / n_items
    floor, ceiling = METRIC_RANGES[metric]
    span = ceiling - floor
    low, high = round_outward(min(low, value), max(high, value), n_items, (-span, span))
    return Interval(value, low, high)
