"""Corruption errors, flip rates, the worst case, attacks, stability, calibration and cost."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from evaluation.calibration import calibration_breakdown, outputs_are_probabilities
from evaluation.cost import cost_breakdown
from evaluation.metrics import softmax
from evaluation.robustness import (
    ConditionPredictions,
    adversarial_breakdown,
    corruption_breakdown,
    main_attack,
    mean_with_interval,
    spearman_rows,
    stability_breakdown,
)

CONDITIONS = [("noise", 1), ("noise", 2), ("blur", 1), ("blur", 4)]
DESCRIPTIONS = {"noise": ("image", "Noise."), "blur": ("image", "Blur.")}


def _hand_case() -> tuple[np.ndarray, ConditionPredictions, ConditionPredictions]:
    labels = np.zeros(10, dtype=np.int64)
    # The model is right on 9 clean items, on 8, 6, 7 and 5 under the four conditions.
    model = ConditionPredictions(
        clean=np.array([0] * 9 + [1]),
        corrupted=np.array([[0] * 8 + [1] * 2, [0] * 6 + [1] * 4, [0] * 7 + [1] * 3, [0] * 5 + [1] * 5]),
    )
    # The reference: 8 clean, then 6, 4, 6 and 2.
    baseline = ConditionPredictions(
        clean=np.array([0] * 8 + [1] * 2),
        corrupted=np.array([[0] * 6 + [1] * 4, [0] * 4 + [1] * 6, [0] * 6 + [1] * 4, [0] * 2 + [1] * 8]),
    )
    return labels, model, baseline


def test_corruption_errors_follow_the_hand_computed_ratios() -> None:
    labels, model, baseline = _hand_case()
    result = corruption_breakdown(
        labels, model, CONDITIONS, descriptions=DESCRIPTIONS, baseline=baseline, baseline_name="Ref", seed=1
    )
    noise, blur = result["items"]
    # CE_noise = (0.2 + 0.4) / (0.4 + 0.6); CE_blur = (0.3 + 0.5) / (0.4 + 0.8).
    assert noise["ce"] == pytest.approx(0.6)
    assert blur["ce"] == pytest.approx(0.8 / 1.2)
    # Relative: model clean error 0.1, reference 0.2.
    assert noise["relative_ce"] == pytest.approx((0.1 + 0.3) / (0.2 + 0.4))
    assert blur["relative_ce"] == pytest.approx((0.2 + 0.4) / (0.2 + 0.6))
    assert result["mce"]["value"] == pytest.approx((0.6 + 0.8 / 1.2) / 2)
    assert result["relative_mce"]["value"] == pytest.approx(((0.4 / 0.6) + (0.6 / 0.8)) / 2)
    assert result["mce"]["low"] <= result["mce"]["value"] <= result["mce"]["high"]
    assert result["mean_accuracy"]["value"] == pytest.approx((0.8 + 0.6 + 0.7 + 0.5) / 4)
    assert [row["value"] for row in noise["severities"]] == pytest.approx([0.8, 0.6])
    assert [row["baseline"] for row in blur["severities"]] == pytest.approx([0.6, 0.2])
    assert result["baseline"] == "Ref"


def test_flip_rate_counts_changed_predictions_without_labels() -> None:
    labels, model, _ = _hand_case()
    # Item 9 is wrong clean (predicted 1); under "noise 1" items 8 and 9 predict 1: one flip.
    result = corruption_breakdown(labels, model, CONDITIONS, descriptions=DESCRIPTIONS, baseline=None,
                                  baseline_name=None, seed=1)  # fmt: skip
    flips = [row["flip_rate"]["value"] for item in result["items"] for row in item["severities"]]
    assert flips == pytest.approx([0.1, 0.3, 0.2, 0.4])
    assert result["mce"] is None and result["items"][0]["ce"] is None
    # Relabelling every item leaves the flip rates alone: they never read the labels.
    other = corruption_breakdown(1 - labels, model, CONDITIONS, descriptions=DESCRIPTIONS, baseline=None,
                                 baseline_name=None, seed=1)  # fmt: skip
    assert [row["flip_rate"]["value"] for item in other["items"] for row in item["severities"]] == flips


def test_worst_case_needs_every_mild_condition_right() -> None:
    labels, model, _ = _hand_case()
    result = corruption_breakdown(labels, model, CONDITIONS, descriptions=DESCRIPTIONS, baseline=None,
                                  baseline_name=None, seed=1)  # fmt: skip
    # Severity 4 does not count; items 0-5 are right clean and under noise 1, noise 2 and blur 1.
    assert result["worst_case"]["value"] == pytest.approx(0.6)
    assert result["worst_case"]["n"] == 10


def test_a_reference_that_never_degrades_gives_no_relative_ce() -> None:
    labels, model, _ = _hand_case()
    flat = ConditionPredictions(clean=np.zeros(10, dtype=np.int64), corrupted=np.zeros((4, 10), dtype=np.int64))
    result = corruption_breakdown(labels, model, CONDITIONS, descriptions=DESCRIPTIONS, baseline=flat,
                                  baseline_name="Flat", seed=1)  # fmt: skip
    assert result["items"][0]["ce"] is None and result["mce"] is None


def test_attacks_report_robust_accuracy_or_say_why_not() -> None:
    labels = np.array([0, 1, 0, 1])
    clean = np.array([0, 1, 0, 0])
    attacks = [("fgsm", 0.1), ("pgd", 0.1)]
    adversarial = np.array([[0, 0, 0, 0], [1, 0, 1, 0]])
    result = adversarial_breakdown(labels, clean, attacks, adversarial, attackable=True, reason=None)
    assert [row["value"] for row in result["attacks"]] == [0.5, 0.0]
    assert [row["flip_rate"]["value"] for row in result["attacks"]] == [0.25, 0.75]
    assert result["main"] == {"name": "pgd", "eps": 0.1}
    refused = adversarial_breakdown(labels, clean, attacks, None, attackable=False, reason="zero gradients")
    assert refused["attackable"] is False and refused["attacks"] == [] and refused["reason"] == "zero gradients"


def test_the_main_attack_is_the_strongest_at_its_smallest_budget() -> None:
    assert main_attack([("fgsm", 0.03), ("pgd", 0.1), ("pgd", 0.03)]) == ("pgd", 0.03)
    assert main_attack([("fgsm", 0.3), ("fgsm", 0.1)]) == ("fgsm", 0.1)
    assert main_attack([]) is None


def test_spearman_rows_match_scipy_row_by_row() -> None:
    rng = np.random.default_rng(3)
    first = rng.normal(size=(20, 30))
    second = first + rng.normal(scale=0.7, size=(20, 30))
    second[3, :10] = second[3, 0]  # ties
    expected = [stats.spearmanr(a, b).statistic for a, b in zip(first, second, strict=True)]
    assert spearman_rows(first, second) == pytest.approx(expected)
    constant = spearman_rows(np.ones((1, 5)), np.arange(5.0)[None, :])
    assert math.isnan(constant[0])


def test_stability_means_are_rounded_and_skip_constant_maps() -> None:
    correlations = np.array([[0.9, 0.8, np.nan, 0.7], [0.5, np.nan, np.nan, 0.3]])
    result = stability_breakdown(["noise", "blur"], correlations)
    assert result["corruptions"][0]["n"] == 3 and result["corruptions"][0]["value"] == 0.8
    assert result["overall"]["n"] == 3  # item 2 has no value at all
    assert result["overall"]["value"] == round(np.mean([0.7, 0.8, 0.5]), 2)


def test_mean_interval_is_the_normal_interval_by_hand() -> None:
    values = np.array([0.2, 0.4, 0.6, 0.8, 1.0])
    result = mean_with_interval(values)
    half = 1.959964 * np.std(values, ddof=1) / math.sqrt(5)
    assert result["low"] == round(0.6 - half, 2) and result["high"] == round(0.6 + half, 2)


def _independent_ece(confidence: np.ndarray, correct: np.ndarray) -> float:
    total = 0.0
    for b in range(15):
        low, high = b / 15, (b + 1) / 15
        members = [
            i for i, c in enumerate(confidence) if (low < c <= high) or (b == 0 and c == 0) or (b == 14 and c >= 1)
        ]
        if members:
            gap = sum(correct[i] for i in members) / len(members) - sum(confidence[i] for i in members) / len(members)
            total += len(members) / len(confidence) * abs(gap)
    return total


def test_calibration_matches_an_independent_implementation_and_has_a_band() -> None:
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(400, 3)) * 2
    probabilities = softmax(logits)
    labels = rng.integers(0, 3, size=400)
    # One item exactly certain: it must fall in the last bin.
    probabilities[0] = [1.0, 0.0, 0.0]
    labels[0] = 0
    result, band = calibration_breakdown(probabilities, labels, outputs_are_probabilities=False, seed=2)
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == labels).astype(float)
    assert result["ece"]["value"] == pytest.approx(_independent_ece(confidence, correct))
    onehot = np.eye(3)[labels]
    assert result["brier"]["value"] == pytest.approx(np.mean(np.sum((probabilities - onehot) ** 2, axis=1)))
    chosen = np.clip(probabilities[np.arange(400), labels], 1e-12, None)
    assert result["nll"]["value"] == pytest.approx(-np.mean(np.log(chosen)), rel=1e-6)
    for name in ("ece", "ece_equal_mass", "brier", "nll"):
        assert result[name]["low"] <= result[name]["value"] <= result[name]["high"]
    assert len(band) == 15
    assert band[14][0] is not None  # the certain item's bin
    filled = [(low, high) for low, high in band if low is not None]
    assert all(0.0 <= low <= high <= 1.0 for low, high in filled)


def test_raw_outputs_that_already_sum_to_one_are_flagged() -> None:
    assert outputs_are_probabilities(softmax(np.array([[1.0, 2.0], [0.0, 0.0]])))
    assert not outputs_are_probabilities(np.array([[1.0, 2.0], [0.0, 0.0]]))
    assert not outputs_are_probabilities(np.array([[1.5, -0.5]]))


def test_cost_is_coarse_and_its_median_interval_covers_the_median() -> None:
    rng = np.random.default_rng(0)
    seconds = rng.gamma(4.0, 0.002, size=40) * 64
    items = np.full(40, 64)
    result = cost_breakdown(seconds, items, parameter_count=123_456, file_size_bytes=987_654, peak_memory_bytes=3 << 30)
    latency = result["latency_ms"]
    median = float(np.median(seconds / items * 1000))
    assert latency["low"] <= latency["value"] <= latency["high"]
    assert latency["value"] == pytest.approx(median, rel=0.05)
    assert result["parameters"] == 120_000 and result["file_size_bytes"] == 990_000
    assert result["throughput_per_second"] == pytest.approx(64 * 40 / seconds.sum(), rel=0.05)
    few = cost_breakdown(seconds[:5], items[:5], parameter_count=None, file_size_bytes=None, peak_memory_bytes=None)
    assert few["latency_ms"]["low"] is None and few["parameters"] is None


def test_the_order_statistic_interval_covers_the_median_at_least_95_percent() -> None:
    rng = np.random.default_rng(11)
    covered = 0
    trials = 400
    for _ in range(trials):
        seconds = rng.exponential(1.0, size=30)
        result = cost_breakdown(seconds, np.ones(30), parameter_count=None, file_size_bytes=None,
                                peak_memory_bytes=None)  # fmt: skip
        # Exponential(1) has median ln 2 (seconds) = 693 ms; coarse rounding is to two figures.
        covered += result["latency_ms"]["low"] <= 693.1 <= result["latency_ms"]["high"]
    assert covered / trials >= 0.93
