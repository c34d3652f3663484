"""Per-class, per-slice, per-era and reliability breakdowns of one entry."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from evaluation.breakdowns import (
    benjamini_hochberg,
    breakdowns,
    drift,
    per_class,
    per_slice,
    reliability,
    two_proportion_p_value,
)
from evaluation.metrics import ece


def _onehot_probabilities(prediction: np.ndarray, n_classes: int, confidence: float = 0.9) -> np.ndarray:
    rest = (1.0 - confidence) / (n_classes - 1)
    probabilities = np.full((prediction.size, n_classes), rest)
    probabilities[np.arange(prediction.size), prediction] = confidence
    return probabilities


def test_benjamini_hochberg_matches_a_hand_computed_case():
    # m = 4; sorted p: .01 .02 .03 .5 -> m p / k = .04 .04 .04 .5 -> running min from the top.
    adjusted = benjamini_hochberg([0.03, 0.5, 0.01, 0.02])
    assert adjusted == pytest.approx([0.04, 0.5, 0.04, 0.04])


def test_benjamini_hochberg_matches_scipy_false_discovery_control():
    p = np.random.default_rng(3).uniform(size=40) ** 3
    assert benjamini_hochberg(p) == pytest.approx(stats.false_discovery_control(p, method="bh"), abs=1e-12)


def test_two_proportion_p_value_matches_pearsons_chi_square_without_correction():
    inside = np.r_[np.ones(12), np.zeros(18)]
    outside = np.r_[np.ones(70), np.zeros(30)]
    table = [[12, 18], [70, 30]]
    expected = stats.chi2_contingency(table, correction=False).pvalue
    assert two_proportion_p_value(inside, outside) == pytest.approx(expected, rel=1e-10)


def test_a_design_effect_weakens_the_slice_test():
    inside = np.r_[np.ones(12), np.zeros(18)]
    outside = np.r_[np.ones(70), np.zeros(30)]
    assert two_proportion_p_value(inside, outside, deff_inside=4.0, deff_outside=4.0) > two_proportion_p_value(
        inside, outside
    )


def test_per_class_counts_add_up_to_the_items_right_and_recall_is_the_class_accuracy():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    prediction = np.array([0, 1, 0, 1, 1, 2, 0, 2, 2])
    result = per_class(prediction, labels, ["a", "b", "c", "d"])
    confusion = np.array(result["confusion"])
    assert confusion.tolist() == [[2, 1, 0, 0], [0, 2, 0, 0], [1, 0, 3, 0], [0, 0, 0, 0]]
    assert np.trace(confusion) == int((prediction == labels).sum())
    recall = result["recall"]
    assert [row["value"] for row in recall[:3]] == pytest.approx([2 / 3, 1.0, 3 / 4])
    expected = stats.binomtest(3, 4).proportion_ci(0.95, method="wilson")
    assert (recall[2]["low"], recall[2]["high"]) == pytest.approx((expected.low, expected.high), abs=1e-12)
    assert recall[3] == {"class": "d", "n": 0, "value": None, "low": None, "high": None}


def test_a_slice_far_below_the_rest_is_flagged_and_is_the_worst():
    column = np.array(["dark"] * 100 + ["light"] * 100 + ["mid"] * 100 + ["rare"] * 10)
    correct = np.r_[np.r_[np.ones(50), np.zeros(50)], np.ones(95), np.zeros(5), np.ones(90), np.zeros(10), np.zeros(10)]
    result = per_slice(correct.astype(bool), column)
    rows = {row["slice"]: row for row in result["slices"]}
    assert rows["dark"]["significantly_below"]
    assert not rows["light"]["significantly_below"]
    assert not rows["mid"]["significantly_below"]
    # The rare slice is all wrong but small: greyed, and not the worst, which is among the others.
    assert rows["rare"]["small"] and not rows["dark"]["small"]
    assert result["worst"] == "dark"
    low, high = stats.binomtest(50, 100).proportion_ci(0.95, method="wilson")
    assert (rows["dark"]["low"], rows["dark"]["high"]) == pytest.approx((low, high), abs=1e-12)


def test_slice_p_values_are_adjusted_with_benjamini_hochberg():
    column = np.array(["a"] * 60 + ["b"] * 60 + ["c"] * 60)
    correct = np.r_[np.ones(40), np.zeros(20), np.ones(50), np.zeros(10), np.ones(45), np.zeros(15)].astype(bool)
    raw = [two_proportion_p_value(correct[column == s], correct[column != s]) for s in "abc"]
    result = per_slice(correct, column)
    assert [row["p_value"] for row in result["slices"]] == pytest.approx(benjamini_hochberg(raw))


def test_a_slice_above_the_rest_is_never_called_below():
    column = np.array(["good"] * 200 + ["bad"] * 200)
    correct = np.r_[np.ones(200), np.ones(100), np.zeros(100)].astype(bool)
    rows = {row["slice"]: row for row in per_slice(correct, column)["slices"]}
    assert rows["good"]["p_value"] < 0.05 and not rows["good"]["significantly_below"]
    assert rows["bad"]["significantly_below"]


def test_drift_slope_is_the_least_squares_fit_on_the_era_index():
    order = ["2012", "2013", "2014"]
    eras = np.array(["2012"] * 100 + ["2013"] * 100 + ["2014"] * 100)
    correct = np.r_[np.ones(90), np.zeros(10), np.ones(80), np.zeros(20), np.ones(70), np.zeros(30)].astype(bool)
    result = drift(correct, eras, order)
    assert [row["value"] for row in result["eras"]] == pytest.approx([0.9, 0.8, 0.7])
    fit = stats.linregress(np.repeat([0.0, 1.0, 2.0], 100), correct.astype(float))
    assert result["slope"] == pytest.approx(fit.slope)
    # The sandwich standard error, by hand: residuals are x - era mean, since the fit is exact here.
    t = np.repeat([-1.0, 0.0, 1.0], 100)
    residuals = correct - np.repeat([0.9, 0.8, 0.7], 100)
    se = math.sqrt(300 / 299 * np.sum((t * residuals) ** 2)) / np.sum(t**2)
    assert result["slope_low"] == pytest.approx(-0.1 - 1.959963984540054 * se)
    assert result["slope_high"] == pytest.approx(-0.1 + 1.959963984540054 * se)
    assert result["slope_high"] < 0


def test_drift_slope_interval_covers_a_flat_truth_about_95_percent_of_the_time():
    rng = np.random.default_rng(11)
    eras = np.repeat(np.array(["a", "b", "c", "d"]), 150)
    covered = 0
    for _ in range(400):
        result = drift(rng.uniform(size=600) < 0.8, eras, ["a", "b", "c", "d"])
        covered += result["slope_low"] <= 0.0 <= result["slope_high"]
    assert 0.92 <= covered / 400 <= 0.98


def test_drift_with_clusters_is_wider_and_an_absent_era_has_no_value():
    rng = np.random.default_rng(5)
    eras = np.repeat(np.array(["a", "b"]), 200)
    clusters = np.repeat(np.arange(40), 10)
    # Whole clusters right or wrong: the items are worth about one observation per cluster.
    correct = np.repeat(rng.uniform(size=40) < 0.7, 10)
    plain, clustered = drift(correct, eras, ["a", "b", "c"]), drift(correct, eras, ["a", "b", "c"], clusters)
    assert clustered["slope_high"] - clustered["slope_low"] > 2 * (plain["slope_high"] - plain["slope_low"])
    assert clustered["eras"][2] == {"era": "c", "n": 0, "value": None, "low": None, "high": None}


def test_reliability_bins_put_a_confidence_of_one_in_the_last_bin_and_give_the_ece():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, size=500)
    logits = rng.normal(size=(500, 3)) * 3
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    probabilities[0] = [1.0, 0.0, 0.0]
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    bins = reliability(confidence, correct)
    assert len(bins) == 15 and sum(b["count"] for b in bins) == 500
    assert bins[-1]["count"] >= 1 and bins[-1]["high"] == 1.0
    gap = sum(b["count"] / 500 * abs(b["accuracy"] - b["confidence"]) for b in bins if b["count"])
    assert gap == pytest.approx(ece(probabilities, labels), abs=1e-12)


def test_exactly_one_third_falls_in_the_fifth_bin():
    bins = reliability(np.array([1 / 3, 1.0]), np.array([True, False]))
    assert bins[4]["count"] == 1 and bins[14]["count"] == 1


def test_breakdowns_gathers_every_part_on_the_given_items():
    labels = np.array([0, 1, 1, 0, 1, 0] * 10)
    prediction = np.array([0, 1, 0, 0, 1, 1] * 10)
    probabilities = _onehot_probabilities(prediction, 2)
    metadata = {"ink": np.array(["thin", "thick"] * 30), "era": np.array(["x"] * 30 + ["y"] * 30)}
    result = breakdowns(
        probabilities,
        labels,
        classes=["no", "yes"],
        metadata=metadata,
        slice_columns=["ink"],
        era_column="era",
        era_order=["x", "y"],
    )
    assert result["n_items"] == 60 and result["accuracy"] == pytest.approx(4 / 6)
    assert set(result["slices"]) == {"ink"}
    assert result["drift"]["slope"] == pytest.approx(0.0)
    assert result["reliability"][13]["count"] == 60
