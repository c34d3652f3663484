"""Classification metrics as pure functions of predicted probabilities and labels.

Every metric has the signature ``metric(probabilities, labels, weights=None)``:

- ``probabilities``: float array ``[n, C]``, each row a distribution over the C classes;
- ``labels``: int array ``[n]`` with values in ``0..C-1``;
- ``weights``: ``None`` (each item counts once), an array ``[n]`` of item weights or counts
  (an item with weight ``k`` counts as ``k`` copies of itself), or an array ``[B, n]`` holding
  ``B`` bootstrap resamples as count vectors, in which case the metric returns an array ``[B]``
  with one value per resample. Resamples are evaluated together with matrix products, never a
  Python loop over ``B``.

With weights, every metric equals the plain metric computed on the data set in which item ``i``
is repeated ``w_i`` times; that is what makes one weight matrix serve as a bootstrap for every
metric. Predictions are ``argmax_c p_ic`` (the first class on ties) and the confidence is
``max_c p_ic``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

#: Probabilities are clipped at this floor before taking logarithms, so a confident wrong
#: answer costs at most ``-log(1e-12) ≈ 27.6`` nats instead of infinity.
PROBABILITY_FLOOR = 1e-12

#: Number of bins of both calibration errors.
CALIBRATION_BINS = 15

#: Resamples per block in ``ece_equal_mass``.
_BLOCK = 32


def softmax(logits: np.ndarray) -> np.ndarray:
    """Turn logits ``[n, C]`` into probabilities, in float64.

    ``softmax(z)_ic = exp(z_ic - max_k z_ik) / sum_j exp(z_ij - max_k z_ik)``; subtracting the
    row maximum keeps ``exp`` from overflowing without changing the result.
    """
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exponentials = np.exp(shifted)
    probabilities: np.ndarray = exponentials / exponentials.sum(axis=-1, keepdims=True)
    return probabilities


def per_item_outcomes(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Per-item outcomes from which the decomposable metrics are means.

    For item ``i`` with true class ``y_i``:

    - ``prediction_i = argmax_c p_ic`` (int64),
    - ``confidence_i = max_c p_ic`` (float64),
    - ``correct_i = [prediction_i == y_i]`` (bool),
    - ``nll_i = -log(max(p_{i,y_i}, 1e-12))`` (float64),
    - ``brier_i = sum_c (p_ic - [c == y_i])^2`` (float64).
    """
    # float32 input stays float32 for the row scans (half the memory traffic); every value
    # returned is computed or widened to float64.
    probabilities, labels = _validated(probabilities, labels, keep_float32=True)
    rows = np.arange(labels.shape[0])
    prediction = probabilities.argmax(axis=1).astype(np.int64)
    true_class_probability = probabilities[rows, labels].astype(np.float64)
    squared = np.einsum("ij,ij->i", probabilities, probabilities, dtype=np.float64)
    # sum_c (p_c - onehot_c)^2 = sum_c p_c^2 - 2 p_y + 1, which avoids building the one-hot matrix.
    brier = squared - 2.0 * true_class_probability + 1.0
    return {
        "prediction": prediction,
        "confidence": probabilities[rows, prediction].astype(np.float64),
        "correct": prediction == labels,
        "nll": -np.log(np.clip(true_class_probability, PROBABILITY_FLOOR, None)),
        "brier": brier,
    }


def accuracy(probabilities: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float | np.ndarray:
    """Share of items whose predicted class is the true one (higher is better).

    ``accuracy = sum_i w_i [argmax_c p_ic == y_i] / sum_i w_i``.
    """
    return _weighted_mean(per_item_outcomes(probabilities, labels)["correct"], weights)


def nll(probabilities: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float | np.ndarray:
    """Mean negative log-likelihood of the true class, in nats (lower is better).

    ``nll = sum_i w_i * -log(max(p_{i,y_i}, 1e-12)) / sum_i w_i``.
    """
    return _weighted_mean(per_item_outcomes(probabilities, labels)["nll"], weights)


def brier(probabilities: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float | np.ndarray:
    """Multi-class Brier score (lower is better), between 0 and 2.

    ``brier = sum_i w_i * sum_c (p_ic - [c == y_i])^2 / sum_i w_i``.
    """
    return _weighted_mean(per_item_outcomes(probabilities, labels)["brier"], weights)


def macro_f1(probabilities: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float | np.ndarray:
    """Unweighted mean over classes of the per-class F1 score (higher is better).

    With ``TP_c = sum_i w_i [ŷ_i = c][y_i = c]``, ``P_c = sum_i w_i [ŷ_i = c]`` (predicted)
    and ``T_c = sum_i w_i [y_i = c]`` (true),
    ``F1_c = 2 TP_c / (P_c + T_c)`` and ``macro_f1 = mean of F1_c over {c : P_c + T_c > 0}``.

    Classes that appear neither among the labels nor among the predictions (of the resample)
    are left out of the mean; a class that appears on one side only has ``F1_c = 0``. This is
    ``sklearn.metrics.f1_score(average="macro", zero_division=0)`` with its default label set
    (the union of labels and predictions).
    """
    probabilities, labels = _validated(probabilities, labels)
    n_classes = probabilities.shape[1]
    prediction = probabilities.argmax(axis=1)
    true_onehot = _onehot(labels, n_classes)
    predicted_onehot = _onehot(prediction, n_classes)
    hits = true_onehot * predicted_onehot
    true_positives = _weighted_sum(hits, weights)
    denominators = _weighted_sum(predicted_onehot, weights) + _weighted_sum(true_onehot, weights)
    present = denominators > 0
    scores = np.divide(2.0 * true_positives, denominators, out=np.zeros_like(denominators), where=present)
    return _as_result(scores.sum(axis=-1) / np.maximum(present.sum(axis=-1), 1))


def ece(probabilities: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float | np.ndarray:
    """Expected calibration error over 15 equal-width confidence bins (lower is better).

    Bin ``b`` (``b = 0..14``) holds the items with confidence in ``(b/15, (b+1)/15]`` (a
    confidence of exactly 0 falls in bin 0). With ``N = sum_i w_i``,
    ``ece = sum_b |sum_{i in b} w_i (correct_i - confidence_i)| / N``,
    which is the usual ``sum_b (N_b / N) |acc_b - conf_b|``. Empty bins contribute 0.
    """
    outcomes = per_item_outcomes(probabilities, labels)
    confidence = outcomes["confidence"]
    bins = np.clip(np.ceil(confidence * CALIBRATION_BINS).astype(np.int64) - 1, 0, None)
    bins = np.minimum(bins, CALIBRATION_BINS - 1)
    gaps = outcomes["correct"] - confidence
    binned_gaps = _onehot(bins, CALIBRATION_BINS) * gaps[:, None]
    total = _weighted_sum(np.ones_like(gaps), weights)
    return _as_result(np.abs(_weighted_sum(binned_gaps, weights)).sum(axis=-1) / total)


def ece_equal_mass(
    probabilities: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None
) -> float | np.ndarray:
    """Expected calibration error over 15 equal-mass confidence bins (lower is better).

    Items are sorted by confidence (ties keep their input order) and laid out on positions
    ``k = 0..N-1``, item ``i`` taking ``w_i`` consecutive positions (``N = sum_i w_i``).
    Position ``k`` belongs to bin ``floor(15 k / N)``, so bins differ in size by at most one
    item and copies of one item may straddle two bins.
    ``ece_equal_mass = sum_b |sum_{k in b} (correct_k - confidence_k)| / N``.
    Fractional weights are handled by the same layout with each item occupying an interval of
    length ``w_i``; bin ``b`` then covers ``[ceil(b N / 15), ceil((b + 1) N / 15))``.
    """
    outcomes = per_item_outcomes(probabilities, labels)
    order = np.argsort(outcomes["confidence"], kind="stable")
    gaps = (outcomes["correct"] - outcomes["confidence"])[order]
    rows = np.ones((1, gaps.shape[0])) if weights is None else np.atleast_2d(weights)
    # Resamples are processed in blocks small enough for the cumulative sums to stay in cache,
    # which is several times faster than one pass over the whole [B, n] matrix.
    result = np.concatenate(
        [
            _equal_mass_block(np.asarray(rows[start : start + _BLOCK][:, order], np.float64), gaps)
            for start in range(0, rows.shape[0], _BLOCK)
        ]
    )
    return _as_result(result if weights is not None and np.ndim(weights) == 2 else result[0])


@dataclass(frozen=True)
class Metric:
    """A registered metric and how to present and aggregate it."""

    name: str
    """Registry key, also the key in stored results and the API."""
    title: str
    """Human-readable name for pages and charts."""
    higher_is_better: bool
    """Whether a larger value is a better model; ranks sort on this."""
    function: Callable[..., float | np.ndarray]
    """The pure function ``function(probabilities, labels, weights=None)``."""
    item_outcome: str | None = None
    """For decomposable metrics, the ``per_item_outcomes`` key whose weighted mean it is."""

    @property
    def decomposable(self) -> bool:
        """Whether the metric is a (weighted) mean of one per-item outcome."""
        return self.item_outcome is not None


METRICS: dict[str, Metric] = {
    "accuracy": Metric("accuracy", "Accuracy", True, accuracy, "correct"),
    "macro_f1": Metric("macro_f1", "Macro-F1", True, macro_f1),
    "nll": Metric("nll", "Negative log-likelihood", False, nll, "nll"),
    "brier": Metric("brier", "Brier score", False, brier, "brier"),
    "ece": Metric("ece", "Expected calibration error", False, ece),
    "ece_equal_mass": Metric("ece_equal_mass", "Expected calibration error (equal mass)", False, ece_equal_mass),
}


def compute_metrics(probabilities: np.ndarray, labels: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """Point values of the named metrics: ``{name: METRICS[name].function(p, y)}``.

    Raises ``KeyError`` naming the unknown metric and the known ones.
    """
    result: dict[str, float] = {}
    for name in names:
        if name not in METRICS:
            raise KeyError(f"Unknown metric {name!r}; known metrics are {', '.join(METRICS)}.")
        result[name] = float(METRICS[name].function(probabilities, labels))
    return result


def _validated(
    probabilities: np.ndarray, labels: np.ndarray, keep_float32: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    probabilities = np.asarray(probabilities)
    if not (keep_float32 and probabilities.dtype == np.float32):
        probabilities = probabilities.astype(np.float64, copy=False)
    labels = np.asarray(labels)
    if probabilities.ndim != 2 or labels.ndim != 1 or probabilities.shape[0] != labels.shape[0]:
        raise ValueError(f"Expected probabilities [n, C] and labels [n]; got {probabilities.shape} and {labels.shape}.")
    return probabilities, labels.astype(np.int64, copy=False)


def _onehot(indices: np.ndarray, n_columns: int) -> np.ndarray:
    onehot = np.zeros((indices.shape[0], n_columns))
    onehot[np.arange(indices.shape[0]), indices] = 1.0
    return onehot


def _weighted_sum(values: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """``sum_i w_i v_i`` over the item axis for ``values`` of shape [n] or [n, K].

    Always an array: a sum over one vector is a 0-d array rather than a numpy scalar.
    """
    if weights is None:
        return np.asarray(values.sum(axis=0))
    weights = np.asarray(weights)
    # A float32 weight matrix (the bootstrap's) stays float32 for speed; counts are exact in it.
    dtype = np.float32 if weights.dtype == np.float32 else np.float64
    return np.asarray(weights.astype(dtype, copy=False) @ values.astype(dtype, copy=False))


def _weighted_mean(values: np.ndarray, weights: np.ndarray | None) -> float | np.ndarray:
    values = values.astype(np.float64)
    if weights is None:
        return float(values.mean())
    weights = np.asarray(weights)
    return _as_result(
        np.asarray(_weighted_sum(values, weights), dtype=np.float64)
        / np.asarray(weights.sum(axis=-1), dtype=np.float64)
    )


def _as_result(values: np.ndarray) -> float | np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return float(values) if values.ndim == 0 else values


def _equal_mass_block(item_weights: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """Equal-mass ECE for a block of weight rows whose items are sorted by confidence."""
    # Cumulative mass and cumulative weighted gap at the end of each item, per row.
    mass_end = np.cumsum(item_weights, axis=1)
    gap_end = np.cumsum(item_weights * gaps, axis=1)
    total = mass_end[:, -1]
    boundaries = np.ceil(np.arange(CALIBRATION_BINS + 1)[None, :] * total[:, None] / CALIBRATION_BINS)
    positions = np.minimum(boundaries, total[:, None])
    gap_at_boundary = _cumulative_at(mass_end, gap_end, gaps, positions)
    errors: np.ndarray = np.abs(np.diff(gap_at_boundary, axis=1)).sum(axis=1) / total
    return errors


def _cumulative_at(mass_end: np.ndarray, gap_end: np.ndarray, gaps: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Sum of the gaps over the first ``positions[b, k]`` units of mass of resample ``b``.

    ``full`` counts the items whose whole mass lies before the position; the next item
    contributes the part of its mass that does. Offsetting each row by more than any row's
    total mass makes the flattened cumulative masses one sorted array, so a single
    ``searchsorted`` serves every resample and boundary.
    """
    n_rows, n_items = mass_end.shape
    offsets = np.arange(n_rows) * (float(mass_end[:, -1].max()) + 1.0)
    flat = (mass_end + offsets[:, None]).ravel()
    found = np.searchsorted(flat, (positions + offsets[:, None]).ravel(), side="right")
    full = found.reshape(positions.shape) - (np.arange(n_rows) * n_items)[:, None]
    rows = np.arange(n_rows)[:, None]
    last = np.maximum(full - 1, 0)
    before = np.where(full > 0, gap_end[rows, last], 0.0)
    mass_before = np.where(full > 0, mass_end[rows, last], 0.0)
    partial_gap = gaps[np.minimum(full, n_items - 1)]
    partial = np.where(full < n_items, (positions - mass_before) * partial_gap, 0.0)
    return before + partial
