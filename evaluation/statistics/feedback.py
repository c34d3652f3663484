"""The deterministic division of a hidden split into a feedback part and a final part."""

from __future__ import annotations

import numpy as np

from evaluation.seeds import derive_seed


def feedback_mask(item_ids: np.ndarray, fraction: float, seed: int, clusters: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask ``[n]``, True for the items of the feedback part.

    Without clusters each item gets the key ``k_i = derive_seed(str(seed), item_id_i)`` (a
    sha256 of the seed and the id), and the ``round(fraction * n)`` items with the smallest
    keys form the feedback part: the share is exact.

    With a ``cluster`` column each cluster ``g`` gets the key ``derive_seed(str(seed),
    "cluster", g)`` and goes whole to one part: clusters are taken in key order until the
    feedback part holds at least ``round(fraction * n)`` items (none for ``fraction = 0``, all
    for ``fraction = 1``), so the share exceeds the target by less than one cluster. Items of
    one cluster are not independent; splitting a cluster would let the final part share what
    the feedback part revealed.

    Either way the result depends only on the set of (id, cluster) pairs and the seed, not on
    their order.
    """
    ids = [str(item_id) for item_id in np.asarray(item_ids).ravel()]
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"The feedback fraction must lie in [0, 1]; got {fraction}.")
    if len(set(ids)) != len(ids):
        raise ValueError("Item ids must be unique to split the hidden set deterministically.")
    n_feedback = int(np.floor(fraction * len(ids) + 0.5))
    if clusters is not None:
        return _cluster_mask(np.asarray(clusters).ravel(), n_feedback, seed, len(ids))
    keys = np.array([derive_seed(str(seed), item_id) for item_id in ids], dtype=np.uint64)
    # Sorting by (key, id) makes even a 63-bit key collision independent of input order.
    order = np.lexsort((np.array(ids), keys))
    mask = np.zeros(len(ids), dtype=bool)
    mask[order[:n_feedback]] = True
    return mask


def _cluster_mask(clusters: np.ndarray, n_feedback: int, seed: int, n_items: int) -> np.ndarray:
    if clusters.shape[0] != n_items:
        raise ValueError(f"The cluster column has {clusters.shape[0]} values for {n_items} items.")
    names, inverse, sizes = np.unique(clusters.astype(str), return_inverse=True, return_counts=True)
    keys = np.array([derive_seed(str(seed), "cluster", name) for name in names.tolist()], dtype=np.uint64)
    order = np.lexsort((names, keys))
    # The shortest prefix of clusters, in key order, that holds at least n_feedback items.
    reached = np.cumsum(sizes[order]) >= n_feedback
    taken = 0 if n_feedback == 0 else int(np.argmax(reached)) + 1
    chosen = np.zeros(names.shape[0], dtype=bool)
    chosen[order[:taken]] = True
    return chosen[inverse.ravel()]
