"""Comparing a run with its reproduction: exact, bit for bit, and saying what differs."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from evaluation.reproduction import (
    Check,
    Reproduction,
    compare_metrics,
    compare_probabilities,
    compare_suites,
    compare_values,
    environment_changes,
)
from evaluation.suite import SuiteRecord


def probabilities(seed: int = 0, n: int = 40) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(size=(n, 5))
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def test_identical_probabilities_match_bit_for_bit():
    check = compare_probabilities(probabilities(), probabilities().copy())
    assert check.matches and "all 40 × 5 float32 probabilities are identical bit for bit" == check.detail


def test_one_probability_one_ulp_away_is_a_difference_naming_its_item():
    stored = probabilities()
    changed = stored.copy()
    changed[17, 3] = np.nextafter(changed[17, 3], np.float32(1))
    check = compare_probabilities(stored, changed)
    assert not check.matches
    assert check.detail.startswith("1 of 40 items differ (rows 17)")
    # The difference is one unit in the last place: far below any tolerance a value test would use.
    assert abs(float(changed[17, 3]) - float(stored[17, 3])) < 1e-7


def test_negative_zero_is_not_the_same_bits_as_zero():
    stored = np.zeros((3, 2), dtype=np.float32)
    reproduced = stored.copy()
    reproduced[0, 0] = -0.0
    assert stored[0, 0] == reproduced[0, 0]
    assert not compare_probabilities(stored, reproduced).matches


@pytest.mark.parametrize(
    ("reproduced", "words"),
    [
        (probabilities(n=39), "shape (40, 5), the reproduction (39, 5)"),
        (probabilities().astype(np.float64), "found float32 stored and float64 now"),
    ],
)
def test_probabilities_of_another_shape_or_type_differ(reproduced, words):
    check = compare_probabilities(probabilities(), reproduced)
    assert not check.matches and words in check.detail


def test_many_differing_items_are_counted_and_the_first_five_named():
    stored = probabilities()
    check = compare_probabilities(stored, probabilities(seed=1))
    assert not check.matches and check.detail.startswith("40 of 40 items differ (rows 0, 1, 2, 3, 4, …)")


def test_a_recorded_value_is_compared_exactly_and_long_hashes_are_shortened():
    assert compare_values("seeds", {"final": 3}, {"final": 3}).matches
    check = compare_values("public predictions hash", "a" * 64, "b" * 64, what="HMAC-SHA256")
    assert not check.matches
    assert check.detail == f"recorded HMAC-SHA256 {'a' * 16}…, reproduced {'b' * 16}…"


def test_recorded_mappings_are_compared_key_by_key_naming_what_differs():
    same = compare_values("bootstrap seeds", {"feedback": 1, "final": 2}, {"feedback": 1, "final": 2})
    assert same.matches and same.detail == "the same for all 2: feedback, final"
    recorded = {"benchmark.toml": "a" * 64, "test.npz": "b" * 64}
    check = compare_values("version files", recorded, {"benchmark.toml": "a" * 64, "test.npz": "c" * 64, "x": "d"},
                           what="file hashes")  # fmt: skip
    assert not check.matches and check.detail == "different file hashes for test.npz, x"


INTERVAL = {"value": 0.9, "ci_low": 0.85, "ci_high": 0.95}


def test_equal_metrics_match_one_check_per_part_and_metric():
    stored = {"feedback": {"accuracy": INTERVAL, "nll": INTERVAL}, "final": {"accuracy": INTERVAL}}
    checks = compare_metrics(stored, json.loads(json.dumps(stored)))
    assert [check.name for check in checks] == ["feedback accuracy", "feedback nll", "final accuracy"]
    assert all(check.matches for check in checks)


def test_an_interval_bound_one_ulp_away_is_a_difference():
    moved = dict(INTERVAL, ci_low=float(np.nextafter(0.85, 1.0)))
    (check,) = compare_metrics({"final": {"accuracy": INTERVAL}}, {"final": {"accuracy": moved}})
    assert not check.matches and check.name == "final accuracy" and check.detail.startswith("stored 0.9 [0.85, 0.95]")


def test_a_metric_missing_on_either_side_is_a_difference():
    checks = compare_metrics({"final": {"accuracy": INTERVAL}}, {"final": {"ece": INTERVAL}})
    assert [(check.name, check.matches) for check in checks] == [("final accuracy", False), ("final ece", False)]
    assert "not reproduced" in checks[0].detail and "never stored" in checks[1].detail


def suite(corrupted: np.ndarray | None = None, stability: np.ndarray | None = None) -> SuiteRecord:
    n = 6
    return SuiteRecord(
        condition_keys=("noise-1", "noise-2"),
        corrupted=np.arange(2 * n, dtype=np.int16).reshape(2, n) % 3 if corrupted is None else corrupted,
        attack_keys=("fgsm@0.1",),
        adversarial=np.ones((1, n), dtype=np.int16),
        attackable=True,
        attack_reason=None,
        stability_keys=("noise",),
        stability=np.array([[0.5, np.nan, 0.25, 1.0, 0.0, -0.5]], dtype=np.float32) if stability is None else stability,
    )


def test_equal_suites_match_with_undefined_correlations_on_both_sides():
    checks = compare_suites(suite(), suite())
    assert [check.name for check in checks] == ["suite conditions", "suite attacks", "suite saliency"]
    assert all(check.matches for check in checks)


def test_a_class_predicted_differently_under_one_condition_is_named_with_its_count():
    changed = suite().corrupted.copy()
    changed[1, 4] += 1
    checks = {check.name: check for check in compare_suites(suite(), suite(corrupted=changed))}
    assert not checks["suite conditions"].matches
    assert checks["suite conditions"].detail == "predicted classes differ under noise-2 (1 items)"
    assert checks["suite attacks"].matches and checks["suite saliency"].matches


def test_a_saliency_correlation_defined_on_one_side_only_is_a_difference():
    stability = suite().stability.copy()
    stability[0, 1] = 0.0
    checks = {check.name: check for check in compare_suites(suite(), suite(stability=stability))}
    assert not checks["suite saliency"].matches and "1 items'" in checks["suite saliency"].detail


def test_attacks_refused_on_one_side_only_are_a_difference():
    refused = dataclasses.replace(
        suite(), attackable=False, attack_reason="no gradient", adversarial=np.empty((0, 6), np.int16)
    )
    checks = {check.name: check for check in compare_suites(suite(), refused)}
    assert not checks["suite attacks"].matches and "no gradient" in checks["suite attacks"].detail


def test_a_suite_on_one_side_only_is_a_difference_and_none_on_both_is_no_check():
    assert compare_suites(None, None) == []
    (check,) = compare_suites(suite(), None)
    assert not check.matches and check.detail == "the run has a robustness suite and the reproduction has none"


RECORDED = {
    "evaluator": {"version": "0.1.0", "revision": "a" * 40},
    "packages": {"python": "3.11.7", "numpy": "2.4.6", "torch": "2.13.0+cpu"},
    "platform": {"system": "Linux", "machine": "x86_64"},
}


def test_an_unchanged_environment_has_no_changes():
    assert environment_changes(RECORDED, RECORDED, recorded_resamples=2000, resamples=2000) == []


def test_changes_of_evaluator_packages_and_platform_are_said_in_sentences():
    current = {
        "evaluator": {"version": "0.2.0", "revision": "b" * 40},
        "packages": {"python": "3.11.7", "numpy": "2.5.0", "torch": "2.13.0+cpu", "scipy": "1.17.1"},
        "platform": {"system": "Linux", "machine": "aarch64"},
    }
    changes = environment_changes(RECORDED, current, recorded_resamples=None, resamples=2000)
    assert changes == [
        "evaluator version changed since the run: 0.1.0 → 0.2.0",
        f"evaluator revision changed since the run: {'a' * 40} → {'b' * 40}",
        "numpy changed since the run: 2.4.6 → 2.5.0",
        "scipy changed since the run: not recorded → 1.17.1",
        "the platform differs: the run used Linux x86_64, the reproduction Linux aarch64",
        "the run's record does not say how many bootstrap resamples its intervals used; "
        "the reproduction used the site's current setting, 2000",
    ]


def test_a_reproduction_matches_only_when_every_check_does_and_one_was_made():
    matching = Reproduction({"run": 1}, (Check("predictions", True, "same"), Check("final accuracy", True, "same")))
    assert matching.matches and matching.differences == []
    differing = Reproduction({"run": 1}, (Check("predictions", True, "same"), Check("final ece", False, "moved")))
    assert not differing.matches and [check.name for check in differing.differences] == ["final ece"]
    assert not Reproduction({"run": 1}, ()).matches
    report = json.loads(json.dumps(differing.to_dict()))
    assert report["matches"] is False and report["checks"][1] == {
        "name": "final ece",
        "matches": False,
        "detail": "moved",
    }
