"""How well an entry's confidence matches its accuracy, and whether its outputs were logits.

ECE (equal-width and equal-mass), Brier and NLL with BC intervals from one item bootstrap, the
reliability diagram's band, and the flag for a model that already returned probabilities. See
``docs/methods.md``, "Robustness, calibration and cost".
"""

from __future__ import annotations

import numpy as np

from evaluation.metrics import CALIBRATION_BINS, METRICS, per_item_outcomes
from evaluation.robustness import N_RESAMPLES, bootstrap_interval
from evaluation.statistics import bootstrap_weights

CALIBRATION_METRICS = ("ece", "ece_equal_mass", "brier", "nll")


def calibration_breakdown(
    probabilities: np.ndarray,
    labels: np.ndarray,
    *,
    outputs_are_probabilities: bool,
    seed: int,
    clusters: np.ndarray | None = None,
) -> tuple[dict[str, object], list[tuple[float | None, float | None]]]:
    """ECE (equal-width and equal-mass), Brier and NLL with BC intervals, and the reliability band.

    The figures are ``evaluation.metrics``'s; their intervals and the 95% percentile band of
    each reliability bin's accuracy come from one item bootstrap (``seed``). A model whose raw
    outputs were already probabilities (non-negative, rows summing to 1) is flagged: its
    scores are of a softmax taken twice.
    """
    labels = np.asarray(labels, dtype=np.int64)
    result: dict[str, object] = {}
    weights = bootstrap_weights(labels.size, n_resamples=N_RESAMPLES, seed=seed, clusters=clusters)
    for name in CALIBRATION_METRICS:
        function = METRICS[name].function
        value = float(function(probabilities, labels))
        samples = np.asarray(function(probabilities, labels, weights), dtype=np.float64)
        result[name] = bootstrap_interval(samples, value)
    result["outputs_are_probabilities"] = bool(outputs_are_probabilities)
    outcomes = per_item_outcomes(probabilities, labels)
    bins = np.clip(np.ceil(outcomes["confidence"] * CALIBRATION_BINS).astype(np.int64) - 1, 0, CALIBRATION_BINS - 1)
    onehot = np.zeros((labels.size, CALIBRATION_BINS))
    onehot[np.arange(labels.size), bins] = 1.0
    counts = weights.astype(np.float64) @ onehot
    hits = weights.astype(np.float64) @ (onehot * outcomes["correct"][:, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = np.where(counts > 0, hits / np.where(counts > 0, counts, 1.0), np.nan)
    band: list[tuple[float | None, float | None]] = []
    for b in range(CALIBRATION_BINS):
        column = accuracy[:, b]
        column = column[np.isfinite(column)]
        if not onehot[:, b].any() or column.size == 0:
            band.append((None, None))
        else:
            low, high = np.quantile(column, [0.025, 0.975])
            band.append((float(low), float(high)))
    return result, band


def outputs_are_probabilities(logits: np.ndarray, tolerance: float = 1e-4) -> bool:
    """Whether every row of the raw outputs is non-negative and sums to 1 within ``tolerance``."""
    raw = np.asarray(logits, dtype=np.float64)
    return bool(raw.size and np.all(raw >= 0) and np.all(np.abs(raw.sum(axis=1) - 1.0) <= tolerance))
