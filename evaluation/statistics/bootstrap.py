"""Uncertainty of a score: the joint item bootstrap and its bias-corrected percentile intervals.

One bootstrap weight matrix ``W`` (``[B, n]``, resample ``b`` counts item ``i`` ``W_bi`` times)
serves every entry and every metric of a benchmark version, so that all intervals, rank
intervals and paired differences come from the same resamples. A metric on resample ``b`` is
the metric computed with item weights ``W_b``; for a decomposable metric that is
``(W @ x) / W.sum(axis=1)`` for the per-item outcome ``x``, one matrix product for all
entries at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from evaluation.metrics import METRICS, per_item_outcomes

#: Resamples drawn per call to the generator: counting four rows at a time stays in the core's
#: cache. Kept fixed so that the resamples of a seed can never depend on tuning.
_DRAW_ROWS = 4

#: Weight blocks hold about this many float32 counts (32 MB) but never fewer than
#: ``_MIN_BLOCK_ROWS`` resamples; see ``_block_rows``.
_BLOCK_ELEMENTS = 2**23
_MIN_BLOCK_ROWS = 512


@dataclass(frozen=True)
class Interval:
    """A point value with a confidence interval around it."""

    value: float
    """The point value, computed on the full data (not the bootstrap mean)."""
    ci_low: float
    """Lower end of the confidence interval."""
    ci_high: float
    """Upper end of the confidence interval."""

    def to_dict(self) -> dict[str, float]:
        """The interval as the site stores and serves it: ``{"value", "ci_low", "ci_high"}``."""
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}

    @classmethod
    def from_dict(cls, data: Mapping[str, float]) -> Interval:
        """The interval ``to_dict`` wrote; a missing bound is an error rather than a silent ``None``."""
        return cls(value=float(data["value"]), ci_low=float(data["ci_low"]), ci_high=float(data["ci_high"]))


def bootstrap_weights(
    n_items: int,
    *,
    n_resamples: int = 2000,
    seed: int,
    clusters: np.ndarray | None = None,
) -> np.ndarray:
    """Resample count matrix ``W`` of shape ``[n_resamples, n_items]``, float32.

    Without clusters, row ``b`` counts how often each item is drawn in ``n`` draws with
    replacement: ``W_b ~ Multinomial(n, (1/n, ..., 1/n))``, so every row sums to ``n``.
    With clusters (an array ``[n]`` of cluster labels, ``G`` distinct), ``G`` clusters are drawn
    with replacement and each item gets its cluster's count: ``W_bi = K_b,g(i)`` with
    ``K_b ~ Multinomial(G, (1/G, ..., 1/G))``; rows then sum to the resampled number of items.
    Counts are exact in float32 (they stay far below 2**24) and float32 halves the cost of the
    matrix products that consume ``W``. Equals the concatenation of
    ``bootstrap_weight_blocks`` with the same arguments.
    """
    blocks = bootstrap_weight_blocks(n_items, n_resamples=n_resamples, seed=seed, clusters=clusters)
    return np.concatenate([block.copy() for block in blocks])


def bootstrap_weight_blocks(
    n_items: int,
    *,
    n_resamples: int = 2000,
    seed: int,
    clusters: np.ndarray | None = None,
) -> Iterator[np.ndarray]:
    """The rows of ``bootstrap_weights`` as consecutive blocks of several hundred resamples.

    Consumers that reduce each block right away (a matrix product, a metric) never hold the
    whole ``[B, n]`` matrix, which keeps memory flat for large ``n`` and the data in cache.
    Each yielded block is a view of one reused buffer: copy it to keep it.
    """
    if n_items < 1 or n_resamples < 1:
        raise ValueError(f"Need at least one item and one resample; got {n_items}, {n_resamples}.")
    cluster_of_item: np.ndarray | None = None
    n_units = n_items
    if clusters is not None:
        clusters = np.asarray(clusters)
        if clusters.shape != (n_items,):
            raise ValueError(f"Expected one cluster label per item ({n_items}); got {clusters.shape}.")
        cluster_of_item = np.unique(clusters, return_inverse=True)[1].ravel()
        n_units = int(cluster_of_item.max()) + 1
    # Validation above runs at the call; the blocks are drawn lazily as they are consumed.
    return _weight_blocks(n_items, n_units, n_resamples, seed, cluster_of_item)


def _weight_blocks(
    n_items: int,
    n_units: int,
    n_resamples: int,
    seed: int,
    cluster_of_item: np.ndarray | None,
) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(seed)
    block_rows = _block_rows(n_items, n_resamples)
    buffer = np.empty((min(block_rows, n_resamples), n_items), dtype=np.float32)
    unit_counts = np.empty((_DRAW_ROWS, n_units), dtype=np.float32)
    offsets = (np.arange(_DRAW_ROWS, dtype=np.int64) * n_units)[:, None]
    for block_start in range(0, n_resamples, block_rows):
        block = buffer[: min(block_rows, n_resamples - block_start)]
        for start in range(0, block.shape[0], _DRAW_ROWS):
            rows = min(_DRAW_ROWS, block.shape[0] - start)
            draws = rng.integers(0, n_units, size=(rows, n_units), dtype=np.int64)
            # Offsetting each row lets one bincount count all rows at once.
            draws += offsets[:rows]
            counts = np.bincount(draws.ravel(), minlength=rows * n_units).reshape(rows, n_units)
            if cluster_of_item is None:
                block[start : start + rows] = counts
            else:
                unit_counts[:rows] = counts
                block[start : start + rows] = unit_counts[:rows, cluster_of_item]
        yield block


def percentile_interval(samples: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval along axis 0 of ``samples`` (``[B, ...]``).

    ``(q_{(1-c)/2}, q_{(1+c)/2})`` with ``q`` the linearly interpolated empirical quantile,
    the convention of ``scipy.stats.bootstrap(method="percentile")``.
    """
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(np.asarray(samples, dtype=np.float64), [tail, 1.0 - tail], axis=0)
    return low, high


def bias_corrected_interval(
    samples: np.ndarray, points: np.ndarray | float, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Bias-corrected (BC) percentile interval along axis 0 of ``samples`` ``[B, ...]``.

    Efron's BC interval (Efron 1981; Efron & Tibshirani 1993, §14.3, BCa with acceleration
    ``a = 0``). With ``θ̂`` the point value (``points``, one per column), the bias constant is
    ``z0 = Φ⁻¹(s)`` where ``s = (#{θ*_b < θ̂} + #{θ*_b <= θ̂}) / 2B`` counts ties as half (as
    ``scipy.stats.bootstrap`` does), clipped to ``[1 / 2B, 1 - 1 / 2B]`` so that ``z0`` stays
    finite when no resample lies on one side. The ends are the linearly interpolated
    quantiles of the resamples at ``Φ(2 z0 ∓ z_{(1+c)/2})``.

    The percentile interval assumes the resamples are centred on ``θ̂``; for a statistic whose
    bootstrap distribution sits to one side of it (ECE, whose resamples are biased upward)
    the percentile interval can miss ``θ̂`` entirely. BC moves both ends by the observed
    median bias, which keeps ``θ̂`` inside whenever ``|z0| <= z_{(1+c)/2}``. Beyond that
    (more than 97.5% of the resamples on one side of ``θ̂`` at ``c = 0.95``), BC's own end on
    that side passes ``θ̂``, and the interval is widened to reach ``θ̂``: the point value
    always lies in its interval. Acceleration is left out because it needs a jackknife of
    every non-decomposable metric (``n`` evaluations per entry) and corrects skewness, a
    second-order effect next to the bias that put ECE outside its interval.
    """
    ordered = np.sort(np.asarray(samples, dtype=np.float64), axis=0)
    n_resamples = ordered.shape[0]
    point = np.broadcast_to(np.asarray(points, dtype=np.float64), ordered.shape[1:])
    below = (ordered < point).sum(axis=0)
    at_or_below = (ordered <= point).sum(axis=0)
    share = np.clip((below + at_or_below) / (2.0 * n_resamples), 0.5 / n_resamples, 1.0 - 0.5 / n_resamples)
    z0 = special.ndtri(share)
    z = special.ndtri((1.0 + confidence) / 2.0)
    low = _sorted_quantile(ordered, special.ndtr(2.0 * z0 - z))
    high = _sorted_quantile(ordered, special.ndtr(2.0 * z0 + z))
    return np.minimum(low, point), np.maximum(high, point)


def _sorted_quantile(ordered: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Linearly interpolated quantile of each column of sorted ``ordered`` at its own level.

    ``h = (B - 1) q``; ``x_(floor h) + (h - floor h) (x_(floor h + 1) - x_(floor h))``, the
    default method of ``numpy.quantile``, with a different ``q`` for every column.
    """
    n_resamples = ordered.shape[0]
    position = (n_resamples - 1) * np.asarray(levels, dtype=np.float64)
    below = np.clip(np.floor(position).astype(np.int64), 0, n_resamples - 1)
    above = np.minimum(below + 1, n_resamples - 1)
    fraction = position - below
    lower = np.take_along_axis(ordered, below[None, ...], axis=0)[0]
    upper = np.take_along_axis(ordered, above[None, ...], axis=0)[0]
    return np.asarray(lower + fraction * (upper - lower), dtype=np.float64)


def metric_samples(
    probabilities: Sequence[np.ndarray],
    labels: np.ndarray,
    metric: str,
    weights: np.ndarray,
) -> np.ndarray:
    """Values of one metric for every entry on every resample, ``[B, E]``.

    Column ``e`` is ``METRICS[metric].function(probabilities[e], labels, weights)``. Decomposable
    metrics are computed for all entries with one product ``(W @ X) / W.sum(axis=1)``, where
    column ``e`` of ``X`` is entry ``e``'s per-item outcome.
    """
    return joint_metric_samples(probabilities, labels, [metric], weights)[metric]


def joint_metric_samples(
    probabilities: Sequence[np.ndarray],
    labels: np.ndarray,
    metrics: Sequence[str],
    weights: np.ndarray | Iterable[np.ndarray],
    outcomes: Sequence[dict[str, np.ndarray]] | None = None,
) -> dict[str, np.ndarray]:
    """``{metric: [B, E] samples}`` for several metrics and entries at once.

    ``weights`` is the matrix ``W`` ``[B, n]`` or an iterable of its row blocks (as
    ``bootstrap_weight_blocks`` yields). All decomposable metrics of all entries share one
    product per block: ``S = (W @ [x_{e,m}]) / W.sum(axis=1)``, with ``x_{e,m}`` the per-item
    outcome behind metric ``m`` for entry ``e``; other metrics call their function per entry.
    Identical outcome columns (two entries with the same predictions) are multiplied once and
    copied, so identical entries get bit-identical samples and a paired difference of exactly
    zero, whatever order the matrix library sums in.
    """
    if outcomes is None:
        outcomes = [per_item_outcomes(p, labels) for p in probabilities]
    blocks = [weights] if isinstance(weights, np.ndarray) else weights
    n_entries = len(probabilities)
    item_outcome = {m: key for m in metrics if (key := METRICS[m].item_outcome) is not None}
    decomposable = list(item_outcome)
    others = [m for m in metrics if m not in item_outcome]
    if decomposable and n_entries:
        columns = np.stack(
            [outcomes[e][item_outcome[m]] for m in decomposable for e in range(n_entries)],
            axis=1,
        ).astype(np.float32)
        distinct_columns, column_of = _deduplicated_columns(columns)
    parts: dict[str, list[np.ndarray]] = {m: [] for m in metrics}
    for block in blocks:
        if decomposable and n_entries:
            totals = block.sum(axis=1, dtype=np.float64)[:, None]
            means = np.asarray(block @ distinct_columns, dtype=np.float64)[:, column_of] / totals
            for k, m in enumerate(decomposable):
                parts[m].append(means[:, k * n_entries : (k + 1) * n_entries])
        for m in others:
            function = METRICS[m].function
            values = [np.asarray(function(p, labels, block)) for p in probabilities]
            parts[m].append(np.stack(values, axis=1).reshape(block.shape[0], n_entries))
    return {m: np.concatenate(parts[m]) if parts[m] else np.zeros((0, n_entries)) for m in metrics}


def bootstrap_intervals(
    probabilities: np.ndarray,
    labels: np.ndarray,
    *,
    metrics: Sequence[str],
    seed: int,
    clusters: np.ndarray | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
) -> dict[str, Interval]:
    """Bias-corrected bootstrap interval of each metric for one entry.

    ``value = metric(p, y)``, ``[ci_low, ci_high] = bias_corrected_interval(metric(p, y, W_b),
    value)`` over the resamples ``W = bootstrap_weights(n, seed=seed, clusters=clusters)``.
    This is the bootstrap alone, for every metric; the site reports accuracy with Wilson's
    interval instead (``rank_leaderboard``, ``evaluation.statistics.intervals``).
    """
    blocks = bootstrap_weight_blocks(labels.shape[0], n_resamples=n_resamples, seed=seed, clusters=clusters)
    samples = joint_metric_samples([probabilities], labels, metrics, blocks)
    result = {}
    for m in metrics:
        value = float(METRICS[m].function(probabilities, labels))
        low, high = bias_corrected_interval(samples[m][:, 0], value, confidence)
        result[m] = Interval(value, float(low), float(high))
    return result


def _block_rows(n_items: int, n_resamples: int) -> int:
    """Rows per weight block: about 32 MB of float32, at least 512 rows, blocks of equal size.

    Fewer than about 500 rows per matrix product makes BLAS repack the right-hand matrix so
    often that the blocked product becomes several times slower than one big product.
    """
    target = max(_MIN_BLOCK_ROWS, _BLOCK_ELEMENTS // n_items)
    n_blocks = -(-n_resamples // target)
    rows = -(-n_resamples // n_blocks)
    return -(-rows // _DRAW_ROWS) * _DRAW_ROWS


def _deduplicated_columns(columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct columns of ``columns`` and, for each column, the index of its distinct copy."""
    first_of: dict[bytes, int] = {}
    column_of = np.empty(columns.shape[1], dtype=np.int64)
    for k in range(columns.shape[1]):
        column_of[k] = first_of.setdefault(columns[:, k].tobytes(), len(first_of))
    distinct = np.unique(column_of, return_index=True)[1]
    return np.ascontiguousarray(columns[:, distinct]), column_of
