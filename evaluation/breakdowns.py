"""How an entry breaks: per class, per slice, per era, and how well its confidence is calibrated.

Pure functions of the per-item probabilities of one entry on one part of the hidden split, its
labels and the split's metadata columns. Every proportion carries Wilson's interval, taken at
the effective sample size ``n / deff`` when the split declares clusters
(``evaluation.statistics.intervals``). The result is plain JSON (``breakdowns``), which is
what the site serves. See ``docs/methods.md``, "Breakdowns".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, cast

import numpy as np
from scipy import stats

from evaluation.calibration import calibration_breakdown
from evaluation.corruptions import CORRUPTIONS, canonical_name
from evaluation.cost import cost_breakdown
from evaluation.metrics import CALIBRATION_BINS, per_item_outcomes
from evaluation.robustness import (
    ConditionPredictions,
    adversarial_breakdown,
    corruption_breakdown,
    proportion,
    stability_breakdown,
)
from evaluation.seeds import derive_seed
from evaluation.spec import BenchmarkSpec, Split
from evaluation.statistics import design_effect
from evaluation.suite import RunFacts, SuiteRecord

#: Slices with fewer items than this are flagged ``small`` (shown greyed): their intervals are wide.
SMALL_SLICE = 30

#: False discovery rate of the slices called significantly below the rest.
FALSE_DISCOVERY_RATE = 0.05


def benjamini_hochberg(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (the step-up procedure as adjusted values).

    With the ``m`` p-values sorted as ``p_(1) <= ... <= p_(m)``:
    ``q_(k) = min_{j >= k} min(1, m p_(j) / j)``, returned in the input order. Rejecting every
    hypothesis with ``q <= α`` is the Benjamini–Hochberg procedure at false discovery rate
    ``α`` for independent or positively dependent tests. Equals
    ``scipy.stats.false_discovery_control(p, method="bh")``.
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.shape[0]
    if m == 0:
        return p.copy()
    if np.any((p < 0) | (p > 1) | ~np.isfinite(p)):
        raise ValueError(f"p-values must lie in [0, 1]; got {p}.")
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    # The running minimum from the largest p-value down makes the adjusted values monotone.
    adjusted_sorted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return adjusted


def two_proportion_p_value(
    inside: np.ndarray, outside: np.ndarray, *, deff_inside: float = 1.0, deff_outside: float = 1.0
) -> float:
    """Two-sided p-value of the pooled two-proportion z-test of ``mean(inside) = mean(outside)``.

    ``z = (p_a - p_b) / sqrt(p̄ (1 - p̄) (deff_a / n_a + deff_b / n_b))`` with ``p̄`` the pooled
    share of 1s, ``p = 2 (1 - Φ(|z|))``. Without design effects ``z²`` is Pearson's chi-square
    of the 2×2 table without continuity correction (``scipy.stats.chi2_contingency(...,
    correction=False)``). Under clusters each group counts as ``n / deff`` independent items.
    When both groups are all 1s or all 0s the test has nothing to see and ``p = 1``.
    """
    a, b = np.asarray(inside, dtype=np.float64), np.asarray(outside, dtype=np.float64)
    if a.size == 0 or b.size == 0:
        raise ValueError("Both groups of a two-proportion test need at least one item.")
    pooled = (a.sum() + b.sum()) / (a.size + b.size)
    variance = pooled * (1.0 - pooled) * (deff_inside / a.size + deff_outside / b.size)
    if variance <= 0:
        return 1.0
    z = (a.mean() - b.mean()) / math.sqrt(variance)
    return float(2.0 * stats.norm.sf(abs(z)))


def _deff(correct: np.ndarray, clusters: np.ndarray | None) -> float:
    return 1.0 if clusters is None else float(design_effect(correct, clusters))


def per_class(
    prediction: np.ndarray, labels: np.ndarray, classes: Sequence[str], clusters: np.ndarray | None = None
) -> dict[str, object]:
    """Confusion matrix and each class's recall with its Wilson interval.

    ``confusion[t][p]`` counts the items of true class ``t`` predicted as ``p``; the recall of
    class ``c`` is ``confusion[c][c] / Σ_p confusion[c][p]``, the accuracy on its items, with
    Wilson's interval on them (cluster-adjusted when clusters are given). A class absent from
    the items has recall ``None``. The diagonal sums to the number of items right.
    """
    n_classes = len(classes)
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (labels, prediction), 1)
    rows = []
    for index, name in enumerate(classes):
        members = labels == index
        row: dict[str, object] = {"class": name, "n": int(members.sum()), "value": None, "low": None, "high": None}
        if members.any():
            row.update(proportion(prediction[members] == index, None if clusters is None else clusters[members]))
        rows.append(row)
    return {"classes": list(classes), "confusion": confusion.tolist(), "recall": rows}


def per_slice(correct: np.ndarray, column: np.ndarray, clusters: np.ndarray | None = None) -> dict[str, object]:
    """Accuracy per value of one metadata column, the worst slice and those significantly below.

    Each slice ``s`` gets its accuracy with Wilson's interval and a two-sided pooled
    two-proportion z-test of its accuracy against that of every other item
    (``two_proportion_p_value``, each group at its own design effect under clusters). The
    p-values of the column's slices are adjusted with Benjamini–Hochberg; a slice is
    ``significantly_below`` when its adjusted p-value is at most 0.05 and its accuracy is
    below the rest's. Slices under 30 items are ``small``. The ``worst`` slice is the one with
    the lowest accuracy among those that are not small (among all if every slice is small).
    """
    values = column.astype(str)
    names = sorted(set(values.tolist()))
    rows: list[dict[str, object]] = []
    p_values: list[float] = []
    tested: list[int] = []
    for name in names:
        members = values == name
        inside = correct[members]
        row: dict[str, object] = {"slice": name, **proportion(inside, None if clusters is None else clusters[members])}
        row["small"] = inside.size < SMALL_SLICE
        row["p_value"] = None
        row["rest"] = None
        row["significantly_below"] = False
        if (~members).any():
            outside = correct[~members]
            row["rest"] = float(outside.mean())
            deff_in = _deff(inside, None if clusters is None else clusters[members])
            deff_out = _deff(outside, None if clusters is None else clusters[~members])
            p_values.append(two_proportion_p_value(inside, outside, deff_inside=deff_in, deff_outside=deff_out))
            tested.append(len(rows))
        rows.append(row)
    for index, adjusted in zip(tested, benjamini_hochberg(p_values), strict=True):
        row = rows[index]
        row["p_value"] = float(adjusted)
        row["significantly_below"] = bool(adjusted <= FALSE_DISCOVERY_RATE and row["value"] < row["rest"])  # type: ignore[operator]
    candidates = [row for row in rows if not row["small"]] or rows
    worst = min(candidates, key=lambda row: (row["value"], row["slice"]))
    return {"slices": rows, "worst": worst["slice"]}


def drift(
    correct: np.ndarray, eras: np.ndarray, order: Sequence[str], clusters: np.ndarray | None = None
) -> dict[str, object]:
    """Accuracy per era (oldest first) and the least-squares decay slope across eras.

    Each era gets its accuracy with Wilson's interval (``None`` when the part holds none of its
    items). The slope ``b`` is the ordinary least-squares fit of the per-item outcome on the
    era's index ``t_i`` (0 for the oldest): ``b = Σ (t_i - t̄)(x_i - x̄) / Σ (t_i - t̄)²``, accuracy
    change per era, so eras weigh by their items. Its interval is ``b ± z_{0.975} · se`` with
    the analytic heteroskedasticity-robust (sandwich) standard error
    ``se² = G/(G-1) · Σ_g (Σ_{i in g} (t_i - t̄) e_i)² / (Σ_i (t_i - t̄)²)²``,
    ``e_i = x_i - a - b t_i``, summed over clusters ``g`` (each item its own cluster without
    them). With fewer than two eras present, the slope is ``None``.
    """
    labels = eras.astype(str)
    rows: list[dict[str, object]] = []
    for name in order:
        members = labels == name
        row: dict[str, object] = {"era": name, "n": int(members.sum()), "value": None, "low": None, "high": None}
        if members.any():
            row.update(proportion(correct[members], None if clusters is None else clusters[members]))
        rows.append(row)
    index = {name: position for position, name in enumerate(order)}
    t = np.array([index[name] for name in labels.tolist()], dtype=np.float64)
    x = correct.astype(np.float64)
    result: dict[str, object] = {"eras": rows, "slope": None, "slope_low": None, "slope_high": None}
    centred = t - t.mean()
    spread = float(np.square(centred).sum())
    if np.unique(t).size < 2 or spread == 0:
        return result
    slope = float((centred * (x - x.mean())).sum() / spread)
    residuals = x - x.mean() - slope * centred
    scores = centred * residuals
    groups = np.arange(x.size) if clusters is None else np.unique(clusters, return_inverse=True)[1].ravel()
    totals = np.bincount(groups, weights=scores)
    n_groups = totals.size
    factor = n_groups / (n_groups - 1) if n_groups > 1 else 1.0
    se = math.sqrt(factor * float(np.square(totals).sum())) / spread
    z = float(stats.norm.ppf(0.975))
    result.update({"slope": slope, "slope_low": slope - z * se, "slope_high": slope + z * se})
    return result


def reliability(confidence: np.ndarray, correct: np.ndarray) -> list[dict[str, object]]:
    """The reliability diagram: 15 equal-width confidence bins, as ``metrics.ece`` bins them.

    Bin ``b`` holds confidences in ``(b/15, (b+1)/15]`` (exactly 0 in the first, exactly 1.0
    in the last); for each: its edges, item count, mean confidence and accuracy (``None`` when
    empty). ``Σ_b (count_b / n) |accuracy_b - confidence_b|`` is the ECE.
    """
    bins = np.clip(np.ceil(confidence * CALIBRATION_BINS).astype(np.int64) - 1, 0, CALIBRATION_BINS - 1)
    rows: list[dict[str, object]] = []
    for b in range(CALIBRATION_BINS):
        members = bins == b
        count = int(members.sum())
        rows.append(
            {
                "low": b / CALIBRATION_BINS,
                "high": (b + 1) / CALIBRATION_BINS,
                "count": count,
                "confidence": float(confidence[members].mean()) if count else None,
                "accuracy": float(correct[members].mean()) if count else None,
            }
        )
    return rows


def breakdowns(
    probabilities: np.ndarray,
    labels: np.ndarray,
    *,
    classes: Sequence[str],
    metadata: Mapping[str, np.ndarray],
    slice_columns: Sequence[str],
    era_column: str | None,
    era_order: Sequence[str],
    clusters: np.ndarray | None = None,
    seed: int = 0,
    facts: RunFacts | None = None,
    suite: SuiteRecord | None = None,
    reference: tuple[str, ConditionPredictions] | None = None,
) -> dict[str, object]:
    """Every breakdown of one entry on one set of items, as plain JSON.

    ``{"n_items", "accuracy", "per_class", "slices": {column: per_slice}, "drift": drift or
    None, "reliability", "calibration", "corruptions", "adversarial", "stability", "cost"}``;
    ``metadata`` columns, ``labels``, ``clusters`` and the ``suite`` record (already restricted
    to these items) are aligned with the rows of ``probabilities``. ``reference`` is the name
    and the predictions of the model corruption errors are relative to; ``seed`` drives the
    item bootstrap of the calibration figures and of mCE (``evaluation.robustness``). Without a
    suite record the robustness keys are ``None``; without ``facts``, ``cost`` is.
    """
    outcomes = per_item_outcomes(probabilities, labels)
    correct = outcomes["correct"]
    if correct.size == 0:
        raise ValueError("Breakdowns need at least one item.")
    labels = np.asarray(labels, dtype=np.int64)
    calibration, band = calibration_breakdown(
        probabilities,
        labels,
        outputs_are_probabilities=facts.outputs_are_probabilities if facts is not None else False,
        seed=derive_seed(str(seed), "calibration"),
        clusters=clusters,
    )
    rows = reliability(outcomes["confidence"], correct)
    for row, (low, high) in zip(rows, band, strict=True):
        row["band_low"], row["band_high"] = low, high
        row.update(rounded({key: row[key] for key in ("confidence", "band_low", "band_high")}))
    result: dict[str, object] = {
        "n_items": int(correct.size),
        "accuracy": float(correct.mean()),
        "per_class": per_class(outcomes["prediction"], labels, classes, clusters),
        "slices": {column: per_slice(correct, metadata[column], clusters) for column in slice_columns},
        "drift": None if era_column is None else drift(correct, metadata[era_column], era_order, clusters),
        "reliability": rows,
        "calibration": rounded(calibration),
        "corruptions": None,
        "adversarial": None,
        "stability": None,
        "cost": None if facts is None else _cost(facts),
    }
    if suite is not None:
        result.update(_suite_breakdowns(outcomes["prediction"], labels, suite, reference, seed, clusters))
    return result


#: Decimals of every published figure that is not a function of counts of items alone (mean
#: confidences, calibration figures, bootstrap intervals, corruption errors): the model steers
#: these continuously, and rounding bounds the bits each can carry (see docs/methods.md).
FIGURE_DECIMALS = 3

Figures = TypeVar("Figures")


def rounded(value: Figures) -> Figures:
    """``value`` with every float (in nested dicts and lists) rounded to ``FIGURE_DECIMALS``."""
    found: Any = value
    if isinstance(value, float):
        found = round(value, FIGURE_DECIMALS)
    elif isinstance(value, dict):
        found = {key: rounded(item) for key, item in value.items()}
    elif isinstance(value, list):
        found = [rounded(item) for item in value]
    return cast(Figures, found)


def part_breakdowns(
    probabilities: np.ndarray,
    data: Split,
    spec: BenchmarkSpec,
    *,
    content_hash: str,
    part: str,
    mask: np.ndarray,
    facts: RunFacts | None = None,
    suite: SuiteRecord | None = None,
    reference: tuple[str, ConditionPredictions] | None = None,
) -> dict[str, object]:
    """``breakdowns`` of one run on the items of ``mask`` (a part of ``data``), as the site serves them.

    The one entry point of the site and of ``python -m evaluation evaluate``: given the same
    predictions, items and reference, both return the same JSON, bit for bit. ``probabilities``
    and ``suite`` cover every item of ``data``; ``reference``'s predictions only the part's.
    """
    clusters = data.metadata.get("cluster")
    result = breakdowns(
        probabilities[mask],
        data.labels[mask],
        classes=spec.classes,
        metadata={name: column[mask] for name, column in data.metadata.items()},
        slice_columns=spec.slice_columns,
        era_column=spec.era_column,
        era_order=spec.era_order,
        clusters=None if clusters is None else clusters[mask],
        seed=derive_seed(content_hash, "breakdowns", part),
        facts=facts,
        suite=None if suite is None else suite.select(mask),
        reference=reference,
    )
    return {"part": part, **result}


def _cost(facts: RunFacts) -> dict[str, object]:
    return cost_breakdown(
        facts.batch_seconds,
        facts.batch_items,
        parameter_count=facts.parameter_count,
        file_size_bytes=facts.file_size_bytes,
        peak_memory_bytes=facts.peak_memory_bytes,
    )


def _suite_breakdowns(
    prediction: np.ndarray,
    labels: np.ndarray,
    suite: SuiteRecord,
    reference: tuple[str, ConditionPredictions] | None,
    seed: int,
    clusters: np.ndarray | None,
) -> dict[str, object]:
    found: dict[str, object] = {}
    conditions = suite.conditions
    if conditions:
        if reference is not None and reference[1].corrupted.shape != suite.corrupted.shape:
            reference = None
        descriptions = {
            name: (CORRUPTIONS[canonical_name(name)].kind, CORRUPTIONS[canonical_name(name)].description)
            for name, _ in conditions
        }
        corruptions = corruption_breakdown(
            labels,
            ConditionPredictions(clean=prediction, corrupted=suite.corrupted),
            conditions,
            descriptions=descriptions,
            baseline=None if reference is None else reference[1],
            baseline_name=None if reference is None else reference[0],
            seed=derive_seed(str(seed), "corruptions"),
            clusters=clusters,
        )
        for key in ("mean_accuracy", "mce", "relative_mce", "flip_rate"):
            corruptions[key] = rounded(corruptions[key])
        for item in corruptions["items"]:  # type: ignore[attr-defined]
            item.update(rounded({"ce": item["ce"], "relative_ce": item["relative_ce"]}))
        found["corruptions"] = corruptions
    if suite.attack_keys:
        found["adversarial"] = adversarial_breakdown(
            labels,
            prediction,
            suite.attacks,
            suite.adversarial if suite.attackable else None,
            attackable=suite.attackable,
            reason=suite.attack_reason,
            clusters=clusters,
        )
    if suite.stability_keys and suite.stability_reason is None:
        found["stability"] = stability_breakdown(suite.stability_keys, suite.stability, clusters)
    return found
