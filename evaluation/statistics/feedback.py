"""The deterministic division of a hidden split into a feedback part and a final part."""

from __future__ import annotations

import numpy as np

from evaluation.seeds import derive_seed


def feedback_mask(item_ids: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask ``[n]``, True for the items of the feedback part.

    Each item gets the key ``k_i = derive_seed(str(seed), item_id_i)`` (a sha256 of the seed
    and the id), and the ``round(fraction * n)`` items with the smallest keys form the
    feedback part. The result depends only on the set of ids and the seed, not on their order,
    and the share is exact rather than approximately ``fraction``.
    """
    ids = [str(item_id) for item_id in np.asarray(item_ids).ravel()]
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"The feedback fraction must lie in [0, 1]; got {fraction}.")
    if len(set(ids)) != len(ids):
        raise ValueError("Item ids must be unique to split the hidden set deterministically.")
    keys = np.array([derive_seed(str(seed), item_id) for item_id in ids], dtype=np.uint64)
    n_feedback = int(np.floor(fraction * len(ids) + 0.5))
    # Sorting by (key, id) makes even a 63-bit key collision independent of input order.
    order = np.lexsort((np.array(ids), keys))
    mask = np.zeros(len(ids), dtype=bool)
    mask[order[:n_feedback]] = True
    return mask
