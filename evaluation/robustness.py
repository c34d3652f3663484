"""How an entry holds up: corruptions, attacks and explanation stability.

Pure functions of what one run stored for one set of items (the clean predictions, the
predictions on each stored corrupted copy and on each attack, the per-item saliency
correlations) and the hidden labels, which never left the evaluating
process. The results are plain JSON, merged into ``evaluation.breakdowns.breakdowns``. See
``docs/methods.md``, "Robustness, calibration and cost"; calibration and cost are in
``evaluation.calibration`` and ``evaluation.cost``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from evaluation.statistics import (
    accuracy_intervals,
    bias_corrected_interval,
    bootstrap_weight_blocks,
    design_effect,
)

#: Resamples of the item bootstrap behind mCE, the suite means and the calibration figures.
#: Fewer than the leaderboard's 2,000: these are descriptive intervals, computed on request.
N_RESAMPLES = 1000

#: Severities up to this one count towards the worst case per item.
WORST_CASE_MAX_SEVERITY = 3

#: Decimals of every published saliency correlation: the model chooses its gradients freely,
#: so the figure is rounded like the other figures a model can steer (see SECURITY.md).
STABILITY_DECIMALS = 2

Proportion = dict[str, float | int | None]


@dataclass(frozen=True)
class ConditionPredictions:
    """One model's predicted classes on the clean items and on each corrupted copy."""

    clean: np.ndarray
    """int ``[n]``: the predicted class of each item, clean."""
    corrupted: np.ndarray
    """int ``[C, n]``: the predicted class under each condition, in the order of ``conditions``."""


def proportion(values: np.ndarray, clusters: np.ndarray | None = None) -> Proportion:
    """Share of true values with Wilson's interval (cluster-adjusted), as ``{n, value, low, high}``."""
    x = np.asarray(values, dtype=np.float64)
    low, high = accuracy_intervals(x, clusters)
    return {"n": int(x.size), "value": float(x.mean()), "low": float(low), "high": float(high)}


def _point(value: float | None, low: float | None = None, high: float | None = None) -> Proportion:
    return {"value": value, "low": low, "high": high}


def _bootstrap_means(
    columns: np.ndarray, *, seed: int, clusters: np.ndarray | None, n_resamples: int = N_RESAMPLES
) -> np.ndarray:
    """``[B, k]``: the weighted mean of each column of ``columns`` (``[n, k]``) on each resample."""
    n = columns.shape[0]
    parts = []
    for block in bootstrap_weight_blocks(n, n_resamples=n_resamples, seed=seed, clusters=clusters):
        totals = block.sum(axis=1, dtype=np.float64)[:, None]
        parts.append((block.astype(np.float64) @ columns) / totals)
    return np.concatenate(parts)


def bootstrap_interval(samples: np.ndarray, value: float) -> Proportion:
    """``value`` with the BC interval of its finite resamples (none when no resample is finite)."""
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return _point(value)
    low, high = bias_corrected_interval(finite, value)
    return _point(value, float(low), float(high))


def corruption_errors(
    correct: np.ndarray, clean_correct: np.ndarray, groups: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per corruption, ``Σ_s E_s`` and ``Σ_s (E_s - E_clean)`` from mean correctness.

    ``correct`` is ``[..., C]`` (accuracy under each condition), ``clean_correct`` ``[...]``,
    ``groups`` maps each condition to its corruption.
    """
    errors = 1.0 - correct
    clean_errors = 1.0 - clean_correct
    total = np.zeros((*errors.shape[:-1], n_groups))
    relative = np.zeros_like(total)
    for condition, group in enumerate(groups):
        total[..., group] += errors[..., condition]
        relative[..., group] += errors[..., condition] - clean_errors
    return total, relative


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)


def corruption_breakdown(
    labels: np.ndarray,
    model: ConditionPredictions,
    conditions: Sequence[tuple[str, int]],
    *,
    descriptions: Mapping[str, tuple[str, str]],
    baseline: ConditionPredictions | None,
    baseline_name: str | None,
    seed: int,
    clusters: np.ndarray | None = None,
) -> dict[str, object]:
    """Accuracy, flip rate and corruption error per corruption and severity, and the suite's means.

    For corruption ``c`` at severity ``s``, ``E_{s,c}`` is the error rate (1 − accuracy) and
    ``CE_c = Σ_s E_{s,c} / Σ_s E^base_{s,c}`` against the reference model; ``relative CE_c =
    Σ_s (E_{s,c} − E_clean) / Σ_s (E^base_{s,c} − E^base_clean)`` (Hendrycks & Dietterich, 2019);
    mCE and relative mCE are their means over corruptions (``None`` without a reference, or
    when a reference denominator is not positive). The flip rate is the share of items whose
    predicted class differs from the clean one (label-free, as ImageNet-P); the worst case is
    the share of items right clean and under every condition of severity ≤ 3. Proportions get
    Wilson's interval; mCE, relative mCE and the means over the suite get BC intervals from one
    item bootstrap (``seed``) that resamples the model's and the reference's items together.
    """
    labels = np.asarray(labels, dtype=np.int64)
    names = list(dict.fromkeys(name for name, _ in conditions))
    groups = np.array([names.index(name) for name, _ in conditions], dtype=np.int64)
    correct = (model.corrupted == labels[None, :]).T.astype(np.float64)  # [n, C]
    clean_correct = (model.clean == labels).astype(np.float64)
    flips = (model.corrupted != model.clean[None, :]).T.astype(np.float64)
    columns = [correct, flips, clean_correct[:, None]]
    if baseline is not None:
        columns += [(baseline.corrupted == labels[None, :]).T.astype(np.float64), (baseline.clean == labels)[:, None]]
    stacked = np.concatenate(columns, axis=1)
    n_conditions = len(conditions)
    samples = _bootstrap_means(stacked, seed=seed, clusters=clusters)
    point = stacked.mean(axis=0)

    def split(values: np.ndarray) -> dict[str, np.ndarray]:
        parts = {
            "correct": values[..., :n_conditions],
            "flips": values[..., n_conditions : 2 * n_conditions],
            "clean": values[..., 2 * n_conditions],
        }
        if baseline is not None:
            parts["base"] = values[..., 2 * n_conditions + 1 : 3 * n_conditions + 1]
            parts["base_clean"] = values[..., 3 * n_conditions + 1]
        return parts

    full, resampled = split(point), split(samples)
    ce = relative_ce = None
    ce_samples = relative_samples = None
    if baseline is not None:
        model_total, model_relative = corruption_errors(full["correct"], full["clean"], groups, len(names))
        base_total, base_relative = corruption_errors(full["base"], full["base_clean"], groups, len(names))
        ce, relative_ce = _ratio(model_total, base_total), _ratio(model_relative, base_relative)
        model_total_b, model_relative_b = corruption_errors(
            resampled["correct"], resampled["clean"], groups, len(names)
        )
        base_total_b, base_relative_b = corruption_errors(
            resampled["base"], resampled["base_clean"], groups, len(names)
        )
        ce_samples = _ratio(model_total_b, base_total_b).mean(axis=1)
        relative_samples = _ratio(model_relative_b, base_relative_b).mean(axis=1)

    items = []
    for group, name in enumerate(names):
        kind, description = descriptions.get(name, ("", ""))
        severities = []
        for condition in np.flatnonzero(groups == group):
            row: dict[str, object] = {"severity": int(conditions[int(condition)][1])}
            row.update(proportion(correct[:, condition], clusters))
            row["baseline"] = None if baseline is None else float(full["base"][condition])
            row["flip_rate"] = proportion(flips[:, condition], clusters)
            severities.append(row)
        items.append(
            {
                "name": name,
                "kind": kind,
                "description": description,
                "ce": _finite_or_none(None if ce is None else ce[group]),
                "relative_ce": _finite_or_none(None if relative_ce is None else relative_ce[group]),
                "severities": severities,
            }
        )
    mild = np.array([severity <= WORST_CASE_MAX_SEVERITY for _, severity in conditions])
    worst_case = clean_correct.astype(bool) & correct[:, mild].astype(bool).all(axis=1)
    return {
        "baseline": baseline_name if baseline is not None else None,
        "items": items,
        "mean_accuracy": bootstrap_interval(resampled["correct"].mean(axis=1), float(full["correct"].mean())),
        "mce": _mean_interval(ce, ce_samples),
        "relative_mce": _mean_interval(relative_ce, relative_samples),
        "flip_rate": bootstrap_interval(resampled["flips"].mean(axis=1), float(full["flips"].mean())),
        "worst_case": proportion(worst_case, clusters),
    }


def _finite_or_none(value: float | np.floating | None) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)


def _mean_interval(values: np.ndarray | None, samples: np.ndarray | None) -> Proportion | None:
    if values is None or samples is None or not np.all(np.isfinite(values)):
        return None
    return bootstrap_interval(samples, float(values.mean()))


def main_attack(attacks: Sequence[tuple[str, float]]) -> tuple[str, float] | None:
    """The attack the leaderboard shows: PGD if declared (else FGSM) at its smallest eps."""
    for name in ("pgd", "fgsm"):
        budgets = sorted(eps for attack, eps in attacks if attack == name)
        if budgets:
            return name, budgets[0]
    return None


def adversarial_breakdown(
    labels: np.ndarray,
    clean_prediction: np.ndarray,
    attacks: Sequence[tuple[str, float]],
    predictions: np.ndarray | None,
    *,
    attackable: bool,
    reason: str | None,
    clusters: np.ndarray | None = None,
) -> dict[str, object]:
    """Robust accuracy and flip rate under each attack, or why the model could not be attacked.

    ``predictions`` (``[A, n]``) are the model's classes on the adversarial inputs, which the
    sandbox built from the model's own clean predictions. Robust accuracy is the share of items
    still right; the flip rate the share whose class changed.
    """
    main = main_attack(attacks)
    result: dict[str, object] = {
        "attackable": bool(attackable and predictions is not None),
        "reason": reason,
        "main": None if main is None else {"name": main[0], "eps": main[1]},
        "attacks": [],
    }
    if not result["attackable"] or predictions is None:
        return result
    rows = []
    for index, (name, eps) in enumerate(attacks):
        row: dict[str, object] = {"name": name, "eps": float(eps)}
        row.update(proportion(predictions[index] == labels, clusters))
        row["flip_rate"] = proportion(predictions[index] != clean_prediction, clusters)
        rows.append(row)
    result["attacks"] = rows
    return result


def centred_ranks(rows: np.ndarray) -> np.ndarray:
    """Each row's average ranks (ties share their mean rank) minus the row's mean rank, float64.

    Ranked in the rows' own dtype: ranking float32 maps as float64 gives the same ranks in
    twice the time.
    """
    ranks: np.ndarray = stats.rankdata(np.asarray(rows), axis=1)
    ranks -= ranks.mean(axis=1, keepdims=True)
    return ranks


def rank_correlation(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Pearson's correlation of each row of two ``centred_ranks`` arrays; ``NaN`` for a constant row."""
    denominator = np.sqrt(np.square(first).sum(axis=1) * np.square(second).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            denominator > 0, (first * second).sum(axis=1) / np.where(denominator > 0, denominator, 1.0), np.nan
        )


def spearman_rows(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Spearman's correlation of each row of ``first`` with the same row of ``second``.

    Pearson's correlation of the rows' average ranks (ties share their mean rank), as
    ``scipy.stats.spearmanr`` computes it; ``NaN`` where a row is constant.
    """
    return rank_correlation(centred_ranks(first), centred_ranks(second))


def mean_with_interval(values: np.ndarray, clusters: np.ndarray | None = None) -> Proportion:
    """Mean of the finite ``values`` with a normal 95% interval, cluster-robust when clusters are given.

    ``mean ± z_{0.975} · sqrt(deff · s² / m)`` over the ``m`` finite values, ``deff`` from
    ``design_effect``; the figures are rounded to two decimals (``None`` without values).
    """
    x = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(x)
    m = int(keep.sum())
    if m == 0:
        return {"n": 0, "value": None, "low": None, "high": None}
    kept = x[keep]
    mean = float(kept.mean())
    if m < 2:
        return {"n": m, "value": round(mean, STABILITY_DECIMALS), "low": None, "high": None}
    deff = 1.0 if clusters is None else float(design_effect(kept, np.asarray(clusters)[keep]))
    half = float(stats.norm.ppf(0.975)) * math.sqrt(deff * float(kept.var(ddof=1)) / m)
    return {
        "n": m,
        "value": round(mean, STABILITY_DECIMALS),
        "low": round(mean - half, STABILITY_DECIMALS),
        "high": round(mean + half, STABILITY_DECIMALS),
    }


def stability_breakdown(
    names: Sequence[str], correlations: np.ndarray, clusters: np.ndarray | None = None
) -> dict[str, object]:
    """Mean Spearman correlation of clean and corrupted saliency, per corruption and overall.

    ``correlations`` is ``[S, n]`` (``NaN`` where a map was constant); the overall figure is the
    per-item mean over the corruptions an item has values for.
    """
    rows = [{"name": name, **mean_with_interval(correlations[index], clusters)} for index, name in enumerate(names)]
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(correlations)
        per_item = np.where(
            finite.any(axis=0),
            np.nansum(correlations, axis=0) / np.maximum(finite.sum(axis=0), 1),
            np.nan,
        )
    return {"overall": mean_with_interval(per_item, clusters), "corruptions": rows}
