"""The parent's side of attacks and saliency (``evaluation/sandbox/gradients.py``), no sandbox."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.errors import MalformedOutputError
from evaluation.sandbox.gradients import (
    NOT_FINITE,
    ZERO_GRADIENTS,
    attack_settings,
    checked_targets,
    chunk_seed,
    no_gradient_reason,
    saliency_result,
)
from evaluation.sandbox.replies import NoGradient

GOOD = {"method": "pgd", "eps": 0.1, "low": 0.0, "high": 1.0, "seed": 3, "steps": 10}


def test_it_passes_on_good_attack_settings_as_plain_numbers():
    settings = attack_settings(**{**GOOD, "eps": np.float32(0.25), "steps": np.int64(4)})

    assert settings == {"method": "pgd", "eps": 0.25, "low": 0.0, "high": 1.0, "steps": 4}
    assert type(settings["eps"]) is float and type(settings["steps"]) is int


@pytest.mark.parametrize(
    "change",
    [
        {"method": "cw"},
        {"eps": -0.1},
        {"eps": float("nan")},
        {"eps": float("inf")},
        {"low": 1.0, "high": 1.0},
        {"high": float("inf")},
        {"seed": -1},
        {"seed": 2**63},
        {"seed": 1.5},
        {"seed": True},
        {"steps": 0},
        {"steps": 1001},
        {"steps": 2.0},
    ],
)
def test_it_refuses_attack_settings_out_of_range_naming_them(change):
    with pytest.raises(ValueError) as caught:
        attack_settings(**{**GOOD, **change})

    assert next(iter(change)) in str(caught.value) or "range" in str(caught.value)


def test_every_chunk_gets_its_own_reproducible_seed_and_the_first_keeps_the_given_one():
    seeds = [chunk_seed(42, index) for index in range(4)]

    assert seeds[0] == 42
    assert len(set(seeds)) == 4
    assert seeds == [chunk_seed(42, index) for index in range(4)]
    assert all(0 <= seed < 2**63 for seed in seeds)


def test_it_checks_saliency_targets_against_the_inputs_and_classes():
    assert checked_targets(np.array([0, 9], dtype=np.int32), items=2, n_classes=10).dtype == np.int64
    with pytest.raises(TypeError):
        checked_targets(np.array([0.0, 1.0]), items=2, n_classes=10)
    with pytest.raises(ValueError):
        checked_targets(np.array([0, 1, 2]), items=2, n_classes=10)
    for bad in ([0, 10], [-1, 0]):
        with pytest.raises(ValueError):
            checked_targets(np.array(bad), items=2, n_classes=10)


def test_on_hidden_inputs_a_reason_names_only_a_listed_exception_type_and_none_of_the_models_text():
    leaking = NoGradient(reason="raised", exception="RuntimeError", lines=("RuntimeError: pixel 0.734",))
    named = NoGradient(reason="raised", exception="Leak_0_734", lines=())

    assert no_gradient_reason(leaking, hidden=True) == (
        "the model raised RuntimeError while its input gradients were computed"
    )
    assert no_gradient_reason(named, hidden=True) == (
        "the model raised an exception while its input gradients were computed"
    )
    # On public inputs the model's last line and its own type name are shown.
    assert "pixel 0.734" in no_gradient_reason(leaking, hidden=False)
    assert "Leak_0_734" in no_gradient_reason(named, hidden=False)
    assert no_gradient_reason(NoGradient("nonfinite", "", ()), hidden=True) == NOT_FINITE


def test_saliency_maps_are_usable_only_when_finite_and_not_all_zero():
    maps = np.array([[0.0, 0.5], [1.0, 0.0]], dtype=np.float32)

    assert saliency_result(maps).usable
    assert saliency_result(np.zeros((2, 2), dtype=np.float32)).reason == ZERO_GRADIENTS
    for bad in (np.nan, np.inf):
        spoiled = maps.copy()
        spoiled[1, 1] = bad
        result = saliency_result(spoiled)
        assert not result.usable and result.maps is None and result.reason == NOT_FINITE


def test_a_negative_saliency_value_is_a_malformed_output():
    # An absolute value cannot be negative: only a model that wrote the output file itself
    # produces one.
    with pytest.raises(MalformedOutputError):
        saliency_result(np.array([[0.5, -0.25]], dtype=np.float32))
