"""Reference computations the statistics tests check the site's numbers against.

The site publishes percentile bootstrap intervals and Holm-adjusted p-values; the closed forms
here are what those numbers must agree with where a closed form exists (a Wilson or Wald
interval for accuracy, the analytic standard error of a mean of 0/1 outcomes) or what a
multiplicity correction the site does not apply yet would give. They live with the tests
because nothing on the site calls them.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from evaluation.statistics import Interval


def accuracy_standard_error(correct: np.ndarray, clusters: np.ndarray | None = None) -> float:
    """Analytic standard error of accuracy ``p = sum_i c_i / n``.

    Without clusters: ``sqrt(p (1 - p) / n)``. With clusters (cluster-robust, linearised):
    ``sqrt(sum_g e_g^2) / n`` with ``e_g = sum_{i in g} (c_i - p)``; singleton clusters give
    back the plain form. No ``G / (G - 1)`` small-sample factor is applied, matching the
    plug-in variance that the (cluster) bootstrap estimates.
    """
    correct = np.asarray(correct, dtype=np.float64)
    n_items = correct.shape[0]
    p = correct.mean()
    if clusters is None:
        return float(np.sqrt(p * (1.0 - p) / n_items))
    _, cluster_of_item = np.unique(np.asarray(clusters), return_inverse=True)
    residual_sums = np.bincount(cluster_of_item.ravel(), weights=correct - p)
    return float(np.sqrt(np.square(residual_sums).sum()) / n_items)


def accuracy_normal_interval(
    correct: np.ndarray, clusters: np.ndarray | None = None, confidence: float = 0.95
) -> Interval:
    """Wald interval ``p ± z_{(1+c)/2} * SE`` with ``SE = accuracy_standard_error(...)``."""
    z = stats.norm.ppf((1.0 + confidence) / 2.0)
    p = float(np.mean(correct))
    half = z * accuracy_standard_error(correct, clusters)
    return Interval(p, p - half, p + half)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``p = successes / n``.

    With ``z = z_{(1+c)/2}``: ``center = (p + z^2 / 2n) / (1 + z^2 / n)`` and
    ``half = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2)``; returns
    ``(center - half, center + half)``. Unlike the Wald interval it stays inside [0, 1] and
    keeps its coverage near 0 and 1.
    """
    if n <= 0:
        raise ValueError(f"Wilson interval needs n > 0; got {n}.")
    z = stats.norm.ppf((1.0 + confidence) / 2.0)
    p = successes / n
    denominator = 1.0 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z / denominator * np.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n))
    return float(center - half), float(center + half)


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (false discovery rate control).

    With the ``m`` p-values sorted ascending: ``adj_(i) = min_{j >= i} min(1, m p_(j) / j)``,
    returned in input order; rejecting ``adj_i <= q`` controls the FDR at ``q``. Equals
    ``scipy.stats.false_discovery_control(p, method="bh")``.
    """
    p_values = np.asarray(p_values, dtype=np.float64)
    m = p_values.shape[0]
    if m == 0:
        return p_values.copy()
    order = np.argsort(p_values, kind="stable")
    scaled = p_values[order] * m / np.arange(1, m + 1)
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return adjusted
