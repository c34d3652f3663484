"""Ranks and ties: point ranks, bootstrap rank intervals and tiers."""

from __future__ import annotations

from collections.abc import Callable

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


def rank_intervals(
    rank_samples: np.ndarray, *, confidence: float = 0.95, simultaneous: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap rank interval of each entry from its ranks on the resamples ``[B, E]``.

    Marginal: ``[floor(q_{α/2}), ceil(q_{1-α/2})]`` of each entry's bootstrap ranks, with
    ``α = 1 - confidence`` and ``q`` the linearly interpolated quantile; rounding outwards keeps
    the ends integer without narrowing the interval. Simultaneous: the same with ``α / E``
    (Bonferroni over the ``E`` entries), so that all ``E`` intervals hold together with
    probability at least ``confidence``. With ``B = 2000`` and more than 50 entries each
    simultaneous tail holds less than one resample, and the interval becomes the full
    bootstrap range of ranks.
    """
    rank_samples = np.asarray(rank_samples, dtype=np.float64)
    alpha = 1.0 - confidence
    if simultaneous:
        alpha /= rank_samples.shape[1]
    low, high = np.quantile(rank_samples, [alpha / 2.0, 1.0 - alpha / 2.0], axis=0)
    # The small tolerance absorbs interpolation noise such as 2.0000000000000004.
    return np.floor(low + 1e-9).astype(np.int64), np.ceil(high - 1e-9).astype(np.int64)


def assign_tiers(
    values: np.ndarray,
    *,
    higher_is_better: bool,
    adjusted_p_values: Callable[[int, np.ndarray, int], np.ndarray],
    alpha: float = 0.05,
) -> np.ndarray:
    """Tiers of entries that cannot be told apart from the best of the rest.

    Round ``t`` (starting at 1) takes the remaining entries, picks their best by point value
    (the earliest on ties) as the round's leader, and asks
    ``adjusted_p_values(leader, others, t)`` for multiplicity-corrected p-values of each other
    remaining entry against the leader. The leader and every entry not significantly worse
    (adjusted ``p >= alpha``, or a point value equal to the leader's) form tier ``t``; the rest
    go to the next round. Returns the tier of each entry (1 = top), in input order.
    """
    values = np.asarray(values, dtype=np.float64)
    tiers = np.zeros(values.shape[0], dtype=np.int64)
    remaining = np.arange(values.shape[0])
    tier = 0
    while remaining.size:
        tier += 1
        oriented = -values[remaining] if higher_is_better else values[remaining]
        leader = int(remaining[np.argmin(oriented)])
        others = remaining[remaining != leader]
        p_values = np.asarray(adjusted_p_values(leader, others, tier), dtype=np.float64)
        tied = (p_values >= alpha) | (values[others] == values[leader])
        tiers[leader] = tier
        tiers[others[tied]] = tier
        remaining = others[~tied]
    return tiers
