"""The numbers an open version may show about its feedback part, all on the ``1/n`` grid.

While a version is open, every number it shows is a function of the submissions the Ladder
released (``docs/methods.md``, "What each public number reveals"). A released score is shown
with an interval computed from that submission alone, and a comparison of two released
entries with its difference; every bound is rounded outward to a multiple of ``1/n`` and kept
inside the metric's range, so a shown interval is never narrower than the one computed, never
zero-width, and carries no digits beyond the grid the released values live on.

The accuracy interval is Wilson's, at the effective sample size ``n / deff`` where the split
declares clusters (``evaluation.statistics.intervals``, the same interval a frozen board shows);
the other Ladder metrics (NLL, Brier) get the normal interval of a mean, its variance inflated
by the same design effect where clusters are declared.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

from evaluation.parts import METRIC_RANGES, loss_range, loss_to_metric
from evaluation.statistics import Interval, release_value
from evaluation.statistics.intervals import accuracy_intervals, design_effect, round_outward


def accuracy_interval(
    correct: np.ndarray, clusters: np.ndarray | None = None, *, confidence: float = 0.95
) -> tuple[float, float]:
    """Wilson's interval for accuracy at the effective sample size ``n / deff`` (``accuracy_intervals``)."""
    low, high = accuracy_intervals(np.asarray(correct, dtype=np.float64), clusters, confidence)
    return float(low), float(high)


def mean_interval(
    losses: np.ndarray, clusters: np.ndarray | None = None, *, confidence: float = 0.95
) -> tuple[float, float]:
    """``mean ± z · se`` with ``se² = deff · s² / n`` (ddof = 1; ``deff = design_effect`` with clusters)."""
    losses = np.asarray(losses, dtype=np.float64)
    n_items = losses.shape[0]
    variance = float(np.var(losses, ddof=1)) / n_items if n_items > 1 else 0.0
    if clusters is not None:
        variance *= float(design_effect(losses, clusters))
    z = float(norm.ppf(0.5 + confidence / 2))
    mean = float(losses.mean())
    return mean - z * math.sqrt(variance), mean + z * math.sqrt(variance)


def round_to_grid_outward(low: float, high: float, n_items: int, bounds: tuple[float, float]) -> tuple[float, float]:
    """``[floor(low n) / n, ceil(high n) / n]`` clipped to ``bounds``, at least one step wide.

    ``round_outward`` on the ``1/n`` grid, so it never makes an interval narrower than the one
    computed; an interval that is a single grid point is widened by one step on each side the
    bounds allow.
    """
    step = 1 / n_items
    rounded = round_outward(Interval(low, low, high), step, bounds=bounds)
    rounded_low, rounded_high = rounded.ci_low, rounded.ci_high
    if rounded_low >= rounded_high:
        rounded_low = max(rounded_low - step, bounds[0])
        rounded_high = min(rounded_high + step, bounds[1])
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
    low, high = round_to_grid_outward(min(low, value), max(high, value), n_items, METRIC_RANGES[metric])
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
    low, high = round_to_grid_outward(min(low, value), max(high, value), n_items, (-span, span))
    return Interval(value, low, high)
