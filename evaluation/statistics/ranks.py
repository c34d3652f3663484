"""Point ranks and marginal bootstrap rank intervals.

Rank sets that hold jointly, and tiers, come from simultaneous pairwise intervals
(``evaluation.statistics.simultaneous``).
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def competition_ranks(scores: np.ndarray, *, higher_is_better: bool) -> np.ndarray:
    """Ranks along the last axis, 1 = best, ties sharing the smallest rank ("1, 2, 2, 4").

    ``rank_e = 1 + #{f : score_f strictly better than score_e}``. Works on one leaderboard
    ``[E]`` or on every bootstrap resample at once ``[B, E]``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    oriented = -scores if higher_is_better else scores
    return np.asarray(stats.rankdata(oriented, method="min", axis=-1), dtype=np.int64)


def rank_intervals(rank_samples: np.ndarray, *, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Marginal bootstrap rank interval of each entry from its ranks on the resamples ``[B, E]``.

    ``[floor(q_{α/2}), ceil(q_{1-α/2})]`` of each entry's bootstrap ranks, with
    ``α = 1 - confidence`` and ``q`` the linearly interpolated quantile; rounding outwards keeps
    the ends integer without narrowing the interval. Each interval describes one entry on its
    own: it says nothing about all entries at once, and under exact ties it covers the tied
    entries' ranks less often than nominal (``rank_sets`` is the joint statement).
    """
    rank_samples = np.asarray(rank_samples, dtype=np.float64)
    alpha = 1.0 - confidence
    low, high = np.quantile(rank_samples, [alpha / 2.0, 1.0 - alpha / 2.0], axis=0)
    # The small tolerance absorbs interpolation noise such as 2.0000000000000004.
    return np.floor(low + 1e-9).astype(np.int64), np.ceil(high - 1e-9).astype(np.int64)
