"""The parts of each split: the dev split's validation and training parts, the hidden split's
feedback and final parts, and the per-item losses the Ladder runs on.

While a version is open, researchers see only Ladder-released scores on the feedback part
(``docs/methods.md``, "Live feedback: the Ladder"); the final part is scored
in secret and revealed when the version is frozen.

The public dev split is the only labelled data a researcher has, so it is also what they train
on. Its validation part is fixed per version, from public facts alone, so that everyone holds out
the same items: the baselines train on the rest, and local evaluation scores the validation part.
"""

from __future__ import annotations

import math

import numpy as np

from evaluation.metrics import per_item_outcomes
from evaluation.seeds import derive_seed
from evaluation.statistics import feedback_mask

PARTS = ("feedback", "final")
DEV_PARTS = ("validation", "train")

# Per-item losses whose mean is the metric (or one minus it): the Ladder needs such a loss.
# A primary metric without one (macro-F1, ECE) is laddered on accuracy.
LADDER_OUTCOMES = {"accuracy": "correct", "nll": "nll", "brier": "brier"}

# The range of each Ladder metric in its own units: released values and interval ends stay
# inside it.
METRIC_RANGES = {"accuracy": (0.0, 1.0), "nll": (0.0, math.inf), "brier": (0.0, 2.0)}


def hidden_parts(
    item_ids: np.ndarray, *, content_hash: str, fraction: float, clusters: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Boolean masks of the feedback and final parts of a hidden split.

    The division depends only on the item ids, the declared clusters (the split's ``cluster``
    column, or None), the version's content hash and the fraction, so every worker and every
    recomputation agree on it. Each declared cluster lies whole in one part (``feedback_mask``).
    ``clusters`` has no default: a caller that forgot it would split clusters across parts.
    """
    seed = derive_seed(content_hash, "feedback-split")
    feedback = feedback_mask(np.asarray(item_ids), fraction, seed=seed, clusters=clusters)
    return {"feedback": feedback, "final": ~feedback}


def dev_parts(
    item_ids: np.ndarray, *, content_hash: str, fraction: float, clusters: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Boolean masks of the validation and training parts of a version's public dev split.

    The same rule as ``hidden_parts`` under another step name: with ``seed =
    derive_seed(content_hash, "validation-split")``, the ``round(fraction * n)`` items with the
    smallest keys ``derive_seed(str(seed), item_id)`` form the validation part (or, with a
    ``cluster`` column, whole clusters in key order until it holds at least that many). Item ids,
    clusters, the content hash (in ``version.json``) and ``[dev] validation_fraction`` are all
    public, so anyone can recompute it; a new version (a new content hash) draws a new part.
    """
    seed = derive_seed(content_hash, "validation-split")
    validation = feedback_mask(np.asarray(item_ids), fraction, seed=seed, clusters=clusters)
    return {"validation": validation, "train": ~validation}


def ladder_metric(primary: str) -> str:
    """The metric the Ladder releases for a version whose primary metric is ``primary``."""
    return primary if primary in LADDER_OUTCOMES else "accuracy"


def ladder_losses(probabilities: np.ndarray, labels: np.ndarray, metric: str) -> np.ndarray:
    """Per-item losses (lower is better) whose mean gives ``metric``: ``1 - correct`` for accuracy."""
    outcome = per_item_outcomes(probabilities, labels)[LADDER_OUTCOMES[metric]]
    return 1.0 - outcome.astype(np.float64) if metric == "accuracy" else outcome.astype(np.float64)


def loss_to_metric(metric: str, loss: float) -> float:
    """Turn a mean Ladder loss into the metric's own scale (and back: the map is its own inverse)."""
    return 1.0 - loss if metric == "accuracy" else loss


def loss_range(metric: str) -> tuple[float, float]:
    """The range of the Ladder loss of ``metric``: ``[0, 1]`` for accuracy's 0/1 loss."""
    low, high = METRIC_RANGES[metric]
    if metric == "accuracy":
        return 1.0 - high, 1.0 - low
    return low, high
