"""Provenance records: the JSON they write, reading it back, and refusing records they did not write."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest

from evaluation.provenance import build_provenance
from evaluation.provenance_records import (
    Artifact,
    BenchmarkData,
    Evaluator,
    ExactSandboxFigures,
    Host,
    Inference,
    Platform,
    PrivateProvenance,
    PublicCost,
    PublicProvenance,
)
from evaluation.record_fields import RecordError
from evaluation.sandbox.limits import SandboxReport

# The JSON of a public and a private record as the site stores them, written out by hand.
PUBLIC_JSON = {
    "artifact": {"sha256": "a" * 64, "format": "torchscript", "parameter_count": 7850},
    "benchmark": {
        "slug": "digits",
        "version": "1.0.0",
        "content_hash": "b" * 64,
        "file_hashes": {"benchmark.toml": "c" * 64, "test.npz": "d" * 64},
        "split": "test",
    },
    "evaluator": {"version": "0.1.0", "revision": "e" * 40},
    "packages": {"python": "3.11.7", "numpy": "2.4.6", "scipy": "1.17.1", "torch": "2.13.0+cpu"},
    "platform": {"system": "Linux", "machine": "x86_64"},
    "seeds": {"feedback": 12, "final": 34},
    "sandbox": {"layers": ["bubblewrap", "seccomp", "rlimits", "cgroup-memory"]},
    "inference": {"items": 1000, "batch_size": 256},
    "cost": {"median_batch_seconds": 0.018, "peak_memory_bytes": None, "startup_seconds": 1.2},
    "predictions_hmac_sha256": "f" * 64,
}
PRIVATE_JSON = {
    "timings": {"inference_seconds": 3.2199, "total_seconds": 4.5679},
    "sandbox": {
        "startup_seconds": 1.234567,
        "wall_seconds": 5.4321,
        "batch_seconds": [0.0123456, None, 0.987654],
        "peak_memory_bytes": 345_678_901,
        "peak_memory_source": "cgroup",
        "parameter_count": None,
        "model_format": "torchscript",
    },
    "host": {"hostname": "worker-3", "release": "6.1.0-18-amd64", "python_executable": "/usr/bin/python3"},
    "predictions_sha256": "0" * 64,
}


def public_record() -> PublicProvenance:
    return PublicProvenance(
        artifact=Artifact(sha256="a" * 64, format="torchscript", parameter_count=7850),
        benchmark=BenchmarkData(
            slug="digits",
            version="1.0.0",
            content_hash="b" * 64,
            file_hashes={"benchmark.toml": "c" * 64, "test.npz": "d" * 64},
            split="test",
        ),
        evaluator=Evaluator(version="0.1.0", revision="e" * 40),
        packages={"python": "3.11.7", "numpy": "2.4.6", "scipy": "1.17.1", "torch": "2.13.0+cpu"},
        platform=Platform(system="Linux", machine="x86_64"),
        seeds={"feedback": 12, "final": 34},
        sandbox_layers=("bubblewrap", "seccomp", "rlimits", "cgroup-memory"),
        inference=Inference(items=1000, batch_size=256),
        cost=PublicCost(median_batch_seconds=0.018, peak_memory_bytes=None, startup_seconds=1.2),
        predictions_hmac_sha256="f" * 64,
    )


def private_record() -> PrivateProvenance:
    return PrivateProvenance(
        timings={"inference_seconds": 3.2199, "total_seconds": 4.5679},
        sandbox=ExactSandboxFigures(
            startup_seconds=1.234567,
            wall_seconds=5.4321,
            batch_seconds=(0.0123456, None, 0.987654),
            peak_memory_bytes=345_678_901,
            peak_memory_source="cgroup",
            parameter_count=None,
            model_format="torchscript",
        ),
        host=Host(hostname="worker-3", release="6.1.0-18-amd64", python_executable="/usr/bin/python3"),
        predictions_sha256="0" * 64,
    )


def through_storage(record: dict) -> dict:
    """The record as a JSON column gives it back."""
    return json.loads(json.dumps(record, allow_nan=False))


def test_the_public_record_writes_the_json_the_site_stores_key_for_key():
    written = public_record().to_dict()
    assert written == PUBLIC_JSON
    # Key order too: SQLite keeps it, and the API shows the sections in this order.
    assert json.dumps(written) == json.dumps(PUBLIC_JSON)


def test_the_private_record_writes_the_json_the_site_stores_key_for_key():
    written = private_record().to_dict()
    assert written == PRIVATE_JSON
    assert json.dumps(written) == json.dumps(PRIVATE_JSON)


def test_a_local_record_writes_the_plain_predictions_hash_in_place_of_the_keyed_one():
    local = dataclasses.replace(public_record(), predictions_hmac_sha256=None, predictions_sha256="0" * 64)
    written = local.to_dict()
    assert list(written)[-1] == "predictions_sha256" and written["predictions_sha256"] == "0" * 64
    assert "predictions_hmac_sha256" not in written
    assert PublicProvenance.from_dict(through_storage(written)) == local


def test_stored_records_read_back_to_equal_records_that_write_the_same_json():
    public = PublicProvenance.from_dict(through_storage(PUBLIC_JSON))
    private = PrivateProvenance.from_dict(through_storage(PRIVATE_JSON))
    assert public == public_record()
    assert private == private_record()
    assert json.dumps(public.to_dict()) == json.dumps(PUBLIC_JSON)
    assert json.dumps(private.to_dict()) == json.dumps(PRIVATE_JSON)


@pytest.mark.parametrize("predictions_key", [b"site key", None])
def test_the_records_of_a_run_round_trip_through_json(predictions_key):
    sandbox = SandboxReport(
        layers=("bubblewrap", "seccomp"),
        startup_seconds=0.75,
        batch_seconds=(0.01, 0.02),
        items=300,
        peak_memory_bytes=200_000_000,
        parameter_count=650,
        model_format="torchscript",
        peak_memory_source="cgroup",
        wall_seconds=2.5,
    )
    built = build_provenance(
        model_sha256="a" * 64,
        model_format="torchscript",
        benchmark_slug="digits",
        benchmark_version="1.0.0",
        content_hash="b" * 64,
        file_hashes={"test.npz": "c" * 64},
        split="test",
        seeds={"all": 7},
        sandbox=sandbox,
        batch_size=256,
        timings={"inference_seconds": 1.5, "total_seconds": 2.0},
        probabilities=np.full((300, 2), 0.5, dtype=np.float32),
        predictions_key=predictions_key,
        n_resamples=500,
    )
    assert built.public.to_dict()["bootstrap"] == {"resamples": 500}
    assert PublicProvenance.from_dict(through_storage(built.public.to_dict())) == built.public
    assert PrivateProvenance.from_dict(through_storage(built.private.to_dict())) == built.private


def test_the_bootstrap_resamples_are_written_after_the_seeds_and_read_back():
    record = dataclasses.replace(public_record(), bootstrap_resamples=2000)
    written = record.to_dict()
    assert list(written)[5:8] == ["seeds", "bootstrap", "sandbox"] and written["bootstrap"] == {"resamples": 2000}
    assert PublicProvenance.from_dict(through_storage(written)) == record


def test_a_record_kept_before_the_resamples_were_recorded_reads_back_without_them():
    # PUBLIC_JSON has no "bootstrap" section, as the site stored every record at first.
    assert PublicProvenance.from_dict(through_storage(PUBLIC_JSON)).bootstrap_resamples is None
    assert "bootstrap" not in public_record().to_dict()


REMOVED = object()


def damaged(record: dict, path: str, value: object) -> dict:
    """A deep copy of ``record`` with the field at the dotted ``path`` set to ``value`` (or removed)."""
    copied = copy.deepcopy(record)
    *parents, last = path.split(".")
    target = copied
    for key in parents:
        target = target[key]
    if value is REMOVED:
        del target[last]
    else:
        target[last] = value
    return copied


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("artifact.sha256", 12, "public provenance record: artifact.sha256 must be a string, got 12"),
        (
            "cost.peak_memory_bytes",
            -5,
            "public provenance record: cost.peak_memory_bytes must be a whole number, 0 or more, or null, got -5",
        ),
        (
            "inference.items",
            True,
            "public provenance record: inference.items must be a whole number, 0 or more, got true",
        ),
        ("cost.startup_seconds", "fast", 'cost.startup_seconds must be a finite number or null, got "fast"'),
        ("benchmark.split", REMOVED, "public provenance record: benchmark lacks the field 'split'"),
        ("platform.release", "6.1.0", "public provenance record: platform has the unexpected field 'release'"),
        ("timings", {"total_seconds": 4.2}, "public provenance record has the unexpected field 'timings'"),
        ("seeds", {"all": 1.5}, 'seeds must be an object of whole numbers, 0 or more, got {"all": 1.5}'),
        ("sandbox.layers", "bubblewrap", 'sandbox.layers must be a list of strings, got "bubblewrap"'),
        ("evaluator", "0.1.0", 'public provenance record: evaluator must be a JSON object, got "0.1.0"'),
        ("predictions_sha256", "0" * 64, "needs exactly one of predictions_hmac_sha256"),
        ("bootstrap", {"resamples": 2.5}, "public provenance record: bootstrap.resamples must be a whole number"),
        ("bootstrap", {"B": 2000}, "public provenance record: bootstrap has the unexpected field 'B'"),
        ("predictions_hmac_sha256", REMOVED, "needs exactly one of predictions_hmac_sha256"),
    ],
)
def test_a_damaged_public_record_is_refused_naming_the_field(path, value, message):
    with pytest.raises(RecordError) as refused:
        PublicProvenance.from_dict(damaged(PUBLIC_JSON, path, value))
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            "sandbox.batch_seconds",
            [0.1, "slow"],
            'private provenance record: sandbox.batch_seconds must be a list of finite numbers or nulls, got [0.1, "slow"]',
        ),
        ("timings", {"total_seconds": None}, "private provenance record: timings must be an object of finite numbers"),
        # As the migration that split the records left the host of older runs: no hostname.
        ("host.hostname", REMOVED, "private provenance record: host lacks the field 'hostname'"),
        ("predictions_sha256", None, "private provenance record: predictions_sha256 must be a string, got null"),
    ],
)
def test_a_damaged_private_record_is_refused_naming_the_field(path, value, message):
    with pytest.raises(RecordError) as refused:
        PrivateProvenance.from_dict(damaged(PRIVATE_JSON, path, value))
    assert message in str(refused.value)


@pytest.mark.parametrize("data", [[], "record", None])
def test_a_record_that_is_not_a_json_object_is_refused(data):
    with pytest.raises(RecordError, match="public provenance record must be a JSON object"):
        PublicProvenance.from_dict(data)


@pytest.mark.parametrize(("keyed", "plain"), [("f" * 64, "0" * 64), (None, None)])
def test_a_public_record_carries_exactly_one_predictions_hash(keyed, plain):
    fields = {**vars(public_record()), "predictions_hmac_sha256": keyed, "predictions_sha256": plain}
    with pytest.raises(ValueError, match="exactly one predictions hash"):
        PublicProvenance(**fields)
