"""Provenance records: rounding, hashing and the split into a public and a private part."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import platform
import sys

import numpy as np
import pytest

from evaluation.provenance import (
    LATENCY_FLOOR_SECONDS,
    build_provenance,
    coarse,
    keyed_predictions_hash,
    predictions_hash,
    public_cost,
    significant,
)
from evaluation.provenance_records import PublicCost
from evaluation.sandbox.limits import SandboxReport


def significant_figures(number: float) -> int:
    """How many significant figures the shortest decimal form of ``number`` has (0 has none)."""
    mantissa = repr(abs(float(number))).split("e")[0]
    return len(mantissa.replace(".", "").strip("0"))


def test_the_figure_counter_counts_what_a_person_counts():
    assert [significant_figures(x) for x in (0, 1.2e-6, 0.018, 350_000_000, 1.05, 120.0)] == [0, 2, 2, 2, 3, 2]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0.0),
        (0.0, 0.0),
        (1234.5, 1200.0),
        (0.0012345, 0.0012),
        (1.234e-7, 1.2e-7),
        (5e-324, 5e-324),  # the smallest float keeps its one digit
        (9.96, 10.0),  # rounding up adds a digit to the left
        (0.999, 1.0),
        (123_456_789, 120_000_000.0),
        (2.567e300, 2.6e300),
        (-0.04567, -0.046),
        (7, 7.0),
        (42, 42.0),
    ],
)
def test_it_rounds_to_two_significant_figures(value, expected):
    assert significant(value) == expected


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [
        (0.125, 2, 0.12),  # an exact tie goes to the even digit
        (0.575, 2, 0.58),  # a tie as written, although the float is a little below 0.575
        (0.165, 2, 0.16),  # ... to the even digit, although the float is a little above 0.165
        (125, 2, 120.0),
        (135, 2, 140.0),
        (2.5, 1, 2.0),
        (3.5, 1, 4.0),
        (1_250_000, 2, 1_200_000.0),
        (0.126, 2, 0.13),  # just above a tie rounds up
    ],
)
def test_it_rounds_ties_to_even(value, digits, expected):
    assert significant(value, digits) == expected


def test_it_keeps_as_many_digits_as_asked():
    assert significant(math.pi, 1) == 3.0
    assert significant(math.pi, 4) == 3.142
    assert significant(123_456_789, 5) == 123_460_000.0


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_it_refuses_to_round_what_is_not_a_finite_number(value):
    with pytest.raises(ValueError, match="finite"):
        significant(value)


def test_it_refuses_zero_digits():
    with pytest.raises(ValueError, match="at least one digit"):
        significant(1.5, 0)


def test_a_coarse_figure_below_its_floor_is_published_as_zero():
    assert coarse(3.2e-250, floor=LATENCY_FLOOR_SECONDS) == 0.0
    assert coarse(0.000_001_234, floor=LATENCY_FLOOR_SECONDS) == 1.2e-6


@pytest.mark.parametrize("value", [None, math.nan, math.inf, -1.0, True, "0.5"])
def test_a_coarse_figure_that_is_not_a_sane_number_publishes_nothing(value):
    assert coarse(value, floor=LATENCY_FLOOR_SECONDS) is None


def test_a_coarse_figure_above_its_ceiling_publishes_nothing():
    assert coarse(12.0, floor=LATENCY_FLOOR_SECONDS, ceiling=10.0) is None
    assert coarse(9.87, floor=LATENCY_FLOOR_SECONDS, ceiling=10.0) == 9.9


def session(**overrides) -> SandboxReport:
    fields = {
        "layers": ("bubblewrap", "seccomp", "rlimits", "cgroup-memory"),
        "startup_seconds": 1.234567,
        "batch_seconds": (0.0123456, 0.0234567, 0.0111111, 0.987654),
        "items": 1000,
        "peak_memory_bytes": 345_678_901,
        "parameter_count": 7850,
        "model_format": "torchscript",
        "peak_memory_source": "cgroup",
        "wall_seconds": 5.4321,
    }
    fields.update(overrides)
    return SandboxReport(**fields)


def test_the_public_cost_is_the_median_latency_and_the_cgroup_peak_at_two_figures():
    cost = public_cost(session())
    # The median of the four batches is (0.0123456 + 0.0234567) / 2 = 0.01790115.
    assert cost == PublicCost(median_batch_seconds=0.018, peak_memory_bytes=350_000_000, startup_seconds=1.2)


def test_a_peak_memory_the_child_reported_itself_is_not_published():
    assert public_cost(session(peak_memory_source="child")).peak_memory_bytes is None


def test_a_session_without_batches_has_no_median_latency():
    assert public_cost(session(batch_seconds=())).median_batch_seconds is None


def probabilities(seed: int = 0) -> np.ndarray:
    values = np.random.default_rng(seed).random((50, 10)).astype(np.float32)
    return values / values.sum(axis=1, keepdims=True)


def test_the_keyed_hash_differs_from_the_plain_one_and_from_other_keys():
    predictions = probabilities()
    keyed = keyed_predictions_hash(predictions, b"site key")
    assert keyed != predictions_hash(predictions)
    assert keyed != keyed_predictions_hash(predictions, b"another key")
    # Both hashes computed the documented way, independently of the module.
    data = np.ascontiguousarray(predictions, dtype=np.float32).tobytes()
    assert predictions_hash(predictions) == hashlib.sha256(data).hexdigest()
    assert keyed == hmac.new(b"site key", data, hashlib.sha256).hexdigest()


def test_the_keyed_hash_is_equal_for_equal_predictions_and_differs_for_others():
    assert keyed_predictions_hash(probabilities(), b"k") == keyed_predictions_hash(probabilities().copy(), b"k")
    changed = probabilities()
    changed[7, 3] = np.nextafter(changed[7, 3], np.float32(1))
    assert keyed_predictions_hash(changed, b"k") != keyed_predictions_hash(probabilities(), b"k")


@pytest.mark.parametrize("key", [b"", "text key", None])
def test_the_keyed_hash_refuses_a_missing_or_textual_key(key):
    with pytest.raises(ValueError, match="bytes key"):
        keyed_predictions_hash(probabilities(), key)


def records(predictions_key: bytes | None = b"site key", **overrides):
    return build_provenance(
        model_sha256="a" * 64,
        model_format="torchscript",
        benchmark_slug="digits",
        benchmark_version="1.0.0",
        content_hash="b" * 64,
        file_hashes={"test.npz": "c" * 64},
        split="test",
        seeds={"feedback": 1, "final": 2},
        sandbox=session(**overrides),
        batch_size=256,
        timings={"inference_seconds": 3.21987, "total_seconds": 4.56789},
        probabilities=probabilities(),
        predictions_key=predictions_key,
    )


def test_the_public_record_has_no_per_batch_figure_no_host_detail_and_no_plain_hash():
    public = records().public.to_dict()
    text = json.dumps(public)
    for secret in (
        "0.0123456",
        "0.987654",
        "345678901",
        "1.234567",
        "3.21987",
        "5.4321",
        platform.release(),
        platform.node(),
        sys.executable,
        predictions_hash(probabilities()),
    ):
        assert secret not in text, secret
    assert '"batch_seconds"' not in text and '"predictions_sha256"' not in text
    assert public["predictions_hmac_sha256"] == keyed_predictions_hash(probabilities(), b"site key")
    assert public["platform"] == {"system": platform.system(), "machine": platform.machine()}
    assert public["inference"] == {"items": 1000, "batch_size": 256}
    assert public["artifact"] == {"sha256": "a" * 64, "format": "torchscript", "parameter_count": 7850}
    for value in public["cost"].values():
        assert significant_figures(value) <= 2


def test_the_private_record_keeps_the_exact_figures_and_host_details():
    private = records().private.to_dict()
    assert private["sandbox"]["batch_seconds"] == [0.0123456, 0.0234567, 0.0111111, 0.987654]
    assert private["sandbox"]["peak_memory_bytes"] == 345_678_901
    assert private["sandbox"]["peak_memory_source"] == "cgroup"
    assert private["timings"] == {"inference_seconds": 3.21987, "total_seconds": 4.56789}
    assert private["host"] == {
        "hostname": platform.node(),
        "release": platform.release(),
        "python_executable": sys.executable,
    }
    assert private["predictions_sha256"] == predictions_hash(probabilities())


def test_a_child_reported_memory_figure_stays_private():
    built = records(peak_memory_source="child")
    assert built.public.cost.peak_memory_bytes is None
    assert built.private.sandbox.peak_memory_bytes == 345_678_901


def test_a_stray_nan_cannot_make_the_private_record_unstorable():
    private = records(batch_seconds=(0.5, math.nan), startup_seconds=math.inf).private.to_dict()
    assert private["sandbox"]["batch_seconds"] == [0.5, None]
    assert private["sandbox"]["startup_seconds"] is None
    json.dumps(private, allow_nan=False)


def test_without_a_key_the_plain_hash_is_public_and_says_so():
    public = records(predictions_key=None).public.to_dict()
    assert public["predictions_sha256"] == predictions_hash(probabilities())
    assert "predictions_hmac_sha256" not in public
