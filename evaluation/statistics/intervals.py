"""Accuracy intervals with nominal coverage: Wilson's score interval, cluster-adjusted.

A percentile bootstrap of accuracy collapses to ``[1, 1]`` for a model that gets every item
right and covers far less than 95% for small ``n`` near the boundary. Wilson's interval inverts
the score test of a binomial proportion instead: it is never zero-width, stays inside
``[0, 1]`` and keeps close to its nominal coverage for every ``p`` and ``n``. Items that come in
declared clusters are worth fewer independent observations; the interval is then taken at the
effective sample size ``n / deff``, with the design effect ``deff`` estimated from the
per-cluster totals. Any rounding of an interval for display goes outward (``round_outward``).
See ``docs/methods.md``, "Uncertainty of a score".
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from evaluation.statistics.bootstrap import Interval


def wilson_interval(
    proportion: np.ndarray | float, n_items: np.ndarray | float, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion ``p`` seen on ``n`` (possibly effective) items.

    With ``z = z_{(1+c)/2}``: ``center = (p + z² / 2n) / (1 + z² / n)`` and
    ``half = z / (1 + z² / n) · sqrt(p (1 - p) / n + z² / 4n²)``; the interval is
    ``[center - half, center + half]``, clipped to ``[0, 1]`` and widened, against rounding in
    the last bit, to contain ``p``. ``half > 0`` for every finite ``n``, so the interval is
    never zero-width, and at ``p = 1`` its upper end is exactly 1. ``n`` need not be an integer
    (see ``accuracy_intervals``). For integer ``n`` and ``p = k / n`` this equals
    ``scipy.stats.binomtest(k, n).proportion_ci(c, method="wilson")``. Vectorised.
    """
    p = np.asarray(proportion, dtype=np.float64)
    n = np.asarray(n_items, dtype=np.float64)
    if np.any(n <= 0) or np.any((p < 0) | (p > 1)):
        raise ValueError(f"Wilson's interval needs n > 0 and a proportion in [0, 1]; got n={n}, p={p}.")
    z = float(stats.norm.ppf((1.0 + confidence) / 2.0))
    denominator = 1.0 + z * z / n
    center = (p + z * z / (2.0 * n)) / denominator
    half = z / denominator * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n))
    low = np.minimum(np.clip(center - half, 0.0, 1.0), p)
    high = np.maximum(np.clip(center + half, 0.0, 1.0), p)
    return low, high


def design_effect(values: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """Design effect of the mean of per-item ``values`` (``[n]`` or ``[n, E]``) under clusters.

    The ratio of the cluster-robust variance of the mean to its variance for independent
    items, each with its usual small-sample factor, floored at 1:

    ``deff = [G / (G - 1) · Σ_g E_g²] / [n / (n - 1) · Σ_i e_i²]``, ``e_i = x_i - x̄``,
    ``E_g = Σ_{i in g} e_i``,

    for ``n`` items in ``G`` clusters. It is exactly 1 when every cluster holds one item, about
    ``1 + (m - 1) ρ`` for clusters of ``m`` items with intra-cluster correlation ``ρ``, and
    about ``m`` when each cluster is all right or all wrong. When the values do not vary
    (``Σ e_i² = 0``, an entry that gets every item right or every item wrong) the correlation
    cannot be estimated and ``deff = 1``. With a single cluster nothing about the clusters can
    be estimated either, and ``deff = n``: the items count as one observation. Returns one
    design effect per column.
    """
    x = np.asarray(values, dtype=np.float64)
    one_column = x.ndim == 1
    x = x.reshape(x.shape[0], -1)
    n_items = x.shape[0]
    labels = np.asarray(clusters)
    if labels.shape != (n_items,):
        raise ValueError(f"Expected one cluster label per item ({n_items}); got {labels.shape}.")
    cluster_of_item = np.unique(labels, return_inverse=True)[1].ravel()
    n_clusters = int(cluster_of_item.max()) + 1 if n_items else 0
    residuals = x - x.mean(axis=0)
    if n_clusters < 2:
        effect = np.full(x.shape[1], float(max(n_items, 1)))
    else:
        order = np.argsort(cluster_of_item, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(cluster_of_item[order]) != 0])
        cluster_totals = np.add.reduceat(residuals[order], starts, axis=0)
        between = n_clusters / (n_clusters - 1) * np.square(cluster_totals).sum(axis=0)
        within = n_items / (n_items - 1) * np.square(residuals).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            effect = np.where(within > 0, between / np.where(within > 0, within, 1.0), 1.0)
        effect = np.maximum(effect, 1.0)
    return effect[0:1].reshape(()) if one_column else effect


def accuracy_intervals(
    correct: np.ndarray, clusters: np.ndarray | None = None, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson intervals of accuracy for each column of ``correct`` (``[n]`` or ``[n, E]``).

    Without clusters, ``wilson_interval(p, n)`` with ``p`` the share of items right. With
    clusters, ``wilson_interval(p, n / deff)`` with ``deff = design_effect(correct, clusters)``:
    the same centre, widened as if there were only ``n / deff`` independent items.
    """
    x = np.asarray(correct, dtype=np.float64)
    n_items = x.shape[0]
    if n_items == 0:
        raise ValueError("An accuracy interval needs at least one item.")
    p = x.mean(axis=0)
    effective = n_items / design_effect(x, clusters) if clusters is not None else np.full(np.shape(p), n_items)
    return wilson_interval(p, effective, confidence)


def round_outward(interval: Interval, step: float, *, bounds: tuple[float, float] | None = None) -> Interval:
    """The interval with its ends moved outward onto the grid of multiples of ``step``.

    ``ci_low`` becomes the largest multiple of ``step`` at or below it and ``ci_high`` the
    smallest at or above it, checked in floating point (an end already on the grid up to
    rounding stays put), so the result always contains the interval it was given (rounding to the nearest grid point could cut the interval or put
    the value on an edge). ``bounds``, when given, clips both ends to the metric's range, such
    as ``(0, 1)`` for accuracy. The value is kept as it is.
    """
    if not step > 0 or not math.isfinite(step):
        raise ValueError(f"The rounding step must be a positive number; got {step}.")
    low = _grid_floor(interval.ci_low, step)
    high = _grid_ceil(interval.ci_high, step)
    if bounds is not None:
        low = min(max(low, bounds[0]), bounds[1])
        high = min(max(high, bounds[0]), bounds[1])
    return Interval(interval.value, low, high)


def _grid_floor(x: float, step: float) -> float:
    """The largest ``k · step`` that is ``<= x`` in floating point; ``x`` itself if on the grid.

    A value that is a grid point up to rounding (``0.3`` against ``3 · 0.1 =
    0.30000000000000004``) stays where it is rather than dropping a whole step.
    """
    nearest = round(x / step)
    if abs(nearest * step - x) <= 1e-9 * step:
        return x
    k = math.floor(x / step)
    while k * step > x:
        k -= 1
    while (k + 1) * step <= x:
        k += 1
    return k * step


def _grid_ceil(x: float, step: float) -> float:
    """The smallest ``k · step`` that is ``>= x`` in floating point; ``x`` itself if on the grid."""
    nearest = round(x / step)
    if abs(nearest * step - x) <= 1e-9 * step:
        return x
    k = math.ceil(x / step)
    while k * step < x:
        k += 1
    while (k - 1) * step >= x:
        k -= 1
    return k * step
