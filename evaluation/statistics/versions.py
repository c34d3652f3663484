"""Rank agreement between two versions of a benchmark: Kendall's τ_b with bootstrap intervals.

When a new version of a benchmark is published, the entries of the old version are scored
again on the new one. These functions say how much the order of the entries moved: each
entry's rank on both versions, the rank correlation τ_b of the two score vectors with an
interval that holds jointly with the list of pairs whose order flipped beyond the noise of
both versions (both read off simultaneous pairwise intervals on each version), and the
bias-corrected bootstrap interval of τ_b alone. The two versions have different items, so the
items of each version are resampled on their own. See ``docs/methods.md``, "Rank agreement between versions".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evaluation.seeds import derive_seed
from evaluation.statistics.bootstrap import (
    Interval,
    bias_corrected_interval,
    bootstrap_weight_blocks,
    percentile_interval,
)
from evaluation.statistics.ranks import competition_ranks
from evaluation.statistics.simultaneous import PairwiseInference, max_t_pairwise

#: Pairs of entries per block when τ_b is computed on every resample: the block's
#: ``[B, pairs]`` signs stay near 16 MB.
_BLOCK_ELEMENTS = 2**24


@dataclass(frozen=True)
class FlippedPair:
    """Two entries whose order on the new version is, beyond doubt, the reverse of their old order."""

    ahead_before: int
    """Index of the entry declared better on the old version (and worse on the new one)."""
    ahead_after: int
    """Index of the entry declared better on the new version."""
    old_difference: Interval
    """``score(ahead_before) - score(ahead_after)`` on the old version, with its simultaneous interval."""
    new_difference: Interval
    """``score(ahead_before) - score(ahead_after)`` on the new version, with its simultaneous interval."""


@dataclass(frozen=True)
class VersionAgreement:
    """How the order of the same entries agrees between two versions of a benchmark."""

    old_scores: np.ndarray
    """``[E]``: each entry's score on the old version, the mean of its per-item outcomes."""
    new_scores: np.ndarray
    """``[E]``: each entry's score on the new version."""
    old_ranks: np.ndarray
    """``[E]``: competition ranks on the old version (1 = best, ties share the smallest rank)."""
    new_ranks: np.ndarray
    """``[E]``: competition ranks on the new version."""
    tau: Interval
    """Kendall's τ_b of the two score vectors, with the interval that holds jointly with ``flipped``."""
    tau_marginal: Interval
    """The same τ_b with the bias-corrected bootstrap interval of τ_b alone (it undercovers near ties)."""
    concordant: int
    """Pairs declared in the same order on both versions."""
    undetermined: int
    """Pairs whose order is not settled on at least one version."""
    flipped: tuple[FlippedPair, ...]
    """Pairs declared in opposite orders on the two versions."""
    n_resamples: int
    """Bootstrap resamples of each version's items."""
    confidence: float
    """Confidence of ``tau``, ``tau_marginal`` and of all flipped pairs at once."""


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's τ_b of two score vectors, ties handled; ``nan`` if either is constant.

    Over the ``n0 = n (n - 1) / 2`` pairs ``i < j``, with ``s_x = sign(x_i - x_j)`` and
    ``s_y = sign(y_i - y_j)``: ``n_c - n_d = Σ s_x s_y`` (concordant minus discordant pairs;
    a pair tied on either side counts in neither), ``n0 - n1 = Σ |s_x|`` and
    ``n0 - n2 = Σ |s_y|`` (pairs not tied in ``x``, in ``y``), and

    ``τ_b = (n_c - n_d) / sqrt(n0 - n1) / sqrt(n0 - n2)``,

    clipped to ``[-1, 1]``. The counts are exact integers and the last two steps are the ones
    ``scipy.stats.kendalltau(x, y, variant="b")`` takes, so the two agree to the last bit.
    """
    first = np.asarray(x, dtype=np.float64)
    second = np.asarray(y, dtype=np.float64)
    if first.ndim != 1 or first.shape != second.shape:
        raise ValueError(f"Expected two score vectors of the same length; got shapes {first.shape} and {second.shape}.")
    if not (np.isfinite(first).all() and np.isfinite(second).all()):
        raise ValueError("Scores must be finite numbers; remove the entries without a score first.")
    return float(_tau_b_rows(first[None, :], second[None, :])[0])


def version_agreement(
    old_scores: np.ndarray,
    new_scores: np.ndarray,
    *,
    seed: int,
    n_resamples: int = 2000,
    higher_is_better: bool = True,
    confidence: float = 0.95,
    old_clusters: np.ndarray | None = None,
    new_clusters: np.ndarray | None = None,
) -> VersionAgreement:
    """Ranks on both versions, τ_b with its intervals, and the pairs whose order flipped.

    ``old_scores`` ``[E, n_old]`` and ``new_scores`` ``[E, n_new]`` are the per-item outcomes
    (correctness, or any decomposable outcome such as a per-item loss) of the same ``E``
    entries, in the same order, on each version's items; an entry's score is the mean of its
    outcomes, ``s_e = Σ_i x_ei / n``. The items of each version are resampled on their own
    (``bootstrap_weights(n_old, seed=derive_seed(str(seed), "old-version"))``, and
    ``"new-version"`` for the new one, whole clusters when given), giving resampled scores
    ``S*_b = W_b x / Σ_i W_bi`` on each version.

    *Pairs.* On each version, ``max_t_pairwise`` gives simultaneous intervals for every
    pairwise difference at confidence ``γ = sqrt(confidence)``; the two versions' items and
    resamples are independent, so all intervals of both versions hold together with
    probability ``γ² = confidence``. A pair is *concordant* when it is declared in the same
    order on both versions, *flipped* when it is declared in opposite orders, and
    *undetermined* otherwise (``C``, ``D`` and ``U`` pairs, ``C + D + U = n0 = E (E - 1) / 2``).

    *τ.* The value is ``τ̂ = kendall_tau_b(s_old, s_new)``. When all intervals hold, every
    undetermined pair may be concordant or discordant in truth and the others are what they
    were declared, so for true scores without exact ties
    ``τ ∈ [(C - D - U) / n0, (C - D + U) / n0]``: that is ``tau``, widened to reach ``τ̂`` if
    rounding ever put it outside, and it holds jointly with every flipped pair.
    ``tau_marginal`` is Efron's bias-corrected interval (``bias_corrected_interval``) of
    ``τ*_b = τ_b(S*_old,b, S*_new,b)`` over the resamples (those where either version's scores
    all tie are left out). Noise in the scores pulls ``τ̂`` towards 0, and the resamples,
    noisier still, further; near ties the correction does not make up for it, and the
    marginal interval can miss a true τ of 1 on most boards.
    """
    old = _outcome_matrix(old_scores, "old_scores")
    new = _outcome_matrix(new_scores, "new_scores")
    n_entries = old.shape[0]
    if new.shape[0] != n_entries:
        raise ValueError(
            f"Both versions need the same entries in the same order; got {n_entries} rows of old "
            f"scores and {new.shape[0]} of new ones."
        )
    if n_entries < 2:
        raise ValueError(f"A rank correlation needs at least two entries; got {n_entries}.")
    old_points, new_points = old.mean(axis=1), new.mean(axis=1)
    old_samples = _resampled_scores(old, n_resamples, derive_seed(str(seed), "old-version"), old_clusters)
    new_samples = _resampled_scores(new, n_resamples, derive_seed(str(seed), "new-version"), new_clusters)

    per_version = math.sqrt(confidence)
    old_pairs = max_t_pairwise(
        old_samples,
        old_points,
        higher_is_better=higher_is_better,
        confidence=per_version,
        n_units=_independent_units(old.shape[1], old_clusters),
    )
    new_pairs = max_t_pairwise(
        new_samples,
        new_points,
        higher_is_better=higher_is_better,
        confidence=per_version,
        n_units=_independent_units(new.shape[1], new_clusters),
    )
    first, second = np.triu_indices(n_entries, k=1)
    agreement = _declared_order(old_pairs, first, second) * _declared_order(new_pairs, first, second)
    concordant, discordant = int((agreement > 0).sum()), int((agreement < 0).sum())
    undetermined = first.size - concordant - discordant

    tau_point = kendall_tau_b(old_points, new_points)
    low = (concordant - discordant - undetermined) / first.size
    high = (concordant - discordant + undetermined) / first.size
    if not math.isnan(tau_point):
        low, high = min(low, tau_point), max(high, tau_point)

    tau_samples = _tau_b_rows(old_samples, new_samples)
    defined = tau_samples[np.isfinite(tau_samples)]
    if math.isnan(tau_point) or defined.size == 0:
        tau_marginal = Interval(tau_point, math.nan, math.nan)
    else:
        marginal_low, marginal_high = bias_corrected_interval(defined, tau_point, confidence)
        tau_marginal = Interval(tau_point, float(marginal_low), float(marginal_high))

    flipped = []
    for k in np.flatnonzero(agreement < 0):
        e, f = int(first[k]), int(second[k])
        ahead, behind = (e, f) if old_pairs.better[e, f] else (f, e)
        flipped.append(
            FlippedPair(
                ahead_before=ahead,
                ahead_after=behind,
                old_difference=_pair_interval(old_pairs, ahead, behind),
                new_difference=_pair_interval(new_pairs, ahead, behind),
            )
        )
    return VersionAgreement(
        old_scores=old_points,
        new_scores=new_points,
        old_ranks=competition_ranks(old_points, higher_is_better=higher_is_better),
        new_ranks=competition_ranks(new_points, higher_is_better=higher_is_better),
        tau=Interval(tau_point, float(low), float(high)),
        tau_marginal=tau_marginal,
        concordant=concordant,
        undetermined=undetermined,
        flipped=tuple(flipped),
        n_resamples=n_resamples,
        confidence=confidence,
    )


def paired_change(
    old: np.ndarray,
    new: np.ndarray,
    *,
    seed: int,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    clusters: np.ndarray | None = None,
) -> Interval:
    """The mean change of per-item outcomes measured twice on the same items, with its interval.

    ``old`` and ``new`` ``[n]`` are one model's outcomes (for instance correctness) on the same
    items, computed by two evaluators. With ``d_i = new_i - old_i`` the value is
    ``d̄ = Σ_i d_i / n`` and the interval is the percentile bootstrap interval of
    ``d̄*_b = Σ_i W_bi d_i / Σ_i W_bi`` over ``bootstrap_weights(n, seed=seed)`` (whole clusters
    when given). Pairing cancels what both runs share, so only the items whose outcome changed
    move it: identical outcomes give exactly ``[0, 0]``, and a change confined to a few items
    gives an interval that still reaches 0.
    """
    before = np.asarray(old, dtype=np.float64)
    after = np.asarray(new, dtype=np.float64)
    if before.ndim != 1 or before.shape != after.shape or before.size == 0:
        raise ValueError(
            f"Expected two outcome vectors of the same items; got shapes {before.shape} and {after.shape}."
        )
    if not (np.isfinite(before).all() and np.isfinite(after).all()):
        raise ValueError("Outcomes must be finite numbers on every item.")
    changes = after - before
    value = float(changes.mean())
    if not changes.any():
        return Interval(0.0, 0.0, 0.0)
    samples = []
    for block in bootstrap_weight_blocks(changes.size, n_resamples=n_resamples, seed=seed, clusters=clusters):
        weights = block.astype(np.float64)
        samples.append((weights @ changes) / weights.sum(axis=1))
    low, high = percentile_interval(np.concatenate(samples), confidence)
    return Interval(value, min(float(low), value), max(float(high), value))


def _outcome_matrix(scores: np.ndarray, name: str) -> np.ndarray:
    matrix = np.asarray(scores, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] < 1:
        raise ValueError(f"{name} must be a matrix [entries, items] with at least one item; got shape {matrix.shape}.")
    if not np.isfinite(matrix).all():
        raise ValueError(f"{name} holds a missing or infinite outcome; every entry needs an outcome on every item.")
    return matrix


def _resampled_scores(outcomes: np.ndarray, n_resamples: int, seed: int, clusters: np.ndarray | None) -> np.ndarray:
    """Every entry's mean outcome on every resample of the items, ``[B, E]``.

    Entries with identical outcomes are multiplied once and copied, so that they tie exactly on
    every resample whatever order the matrix library sums in.
    """
    distinct, entry_of = np.unique(outcomes, axis=0, return_inverse=True)
    blocks = bootstrap_weight_blocks(outcomes.shape[1], n_resamples=n_resamples, seed=seed, clusters=clusters)
    columns = distinct.T
    parts = []
    for block in blocks:
        weights = block.astype(np.float64)
        parts.append((weights @ columns) / weights.sum(axis=1, keepdims=True))
    return np.concatenate(parts)[:, entry_of.ravel()]


def _tau_b_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """τ_b of ``x[b]`` and ``y[b]`` for every row ``b`` of two ``[B, E]`` arrays; ``nan`` where undefined."""
    n_rows, n_entries = x.shape
    first, second = np.triu_indices(n_entries, k=1)
    agreement = np.zeros(n_rows, dtype=np.int64)
    untied_x = np.zeros(n_rows, dtype=np.int64)
    untied_y = np.zeros(n_rows, dtype=np.int64)
    step = max(1, _BLOCK_ELEMENTS // max(1, n_rows))
    for start in range(0, first.size, step):
        i, j = first[start : start + step], second[start : start + step]
        sign_x = np.sign(x[:, i] - x[:, j]).astype(np.int8)
        sign_y = np.sign(y[:, i] - y[:, j]).astype(np.int8)
        agreement += (sign_x * sign_y).sum(axis=1, dtype=np.int64)
        untied_x += np.abs(sign_x).sum(axis=1, dtype=np.int64)
        untied_y += np.abs(sign_y).sum(axis=1, dtype=np.int64)
    tau = np.full(n_rows, math.nan)
    ordered = (untied_x > 0) & (untied_y > 0)
    # The same operations, in the same order, as scipy.stats.kendalltau, so the values agree bit for bit.
    tau[ordered] = agreement[ordered] / np.sqrt(untied_x[ordered]) / np.sqrt(untied_y[ordered])
    return np.asarray(np.clip(tau, -1.0, 1.0), dtype=np.float64)


def _independent_units(n_items: int, clusters: np.ndarray | None) -> float:
    """``n`` without clusters; with clusters Kish's effective number ``n² / Σ_g n_g²``."""
    if clusters is None:
        return float(n_items)
    sizes = np.unique(np.asarray(clusters), return_counts=True)[1].astype(np.float64)
    return float(n_items) ** 2 / float(np.sum(sizes * sizes))


def _declared_order(pairs: PairwiseInference, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``+1`` where ``first`` is declared better than ``second``, ``-1`` where worse, ``0`` otherwise."""
    return np.asarray(pairs.better[first, second], dtype=np.int64) - np.asarray(
        pairs.better[second, first], dtype=np.int64
    )


def _pair_interval(pairs: PairwiseInference, e: int, f: int) -> Interval:
    """``s_e - s_f`` with its simultaneous interval ``d_ef ± c · se_ef``."""
    value = float(pairs.differences[e, f])
    half = pairs.critical_value * float(pairs.standard_errors[e, f])
    return Interval(value, value - half, value + half)
